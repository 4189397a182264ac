export type { RetryOptions } from '../retry.js';
export { CATALOG_LIMITS } from './catalogs.js';
export { BatchClient, type CatalogView, DEFAULT_BASE_URL } from './client.js';
export {
  accountOf,
  BATCH_LIMITS,
  BatchDestination,
  type BatchDestinationOptions,
  batchLimits,
  MAX_ITEMS_PER_REQUEST,
} from './destination.js';
export * from './errors.js';
export type { IndexingOptions } from './indexing.js';
export { encodeItem, ITEM_RULES } from './items.js';
export type * from './types.js';
