export { DEFAULT_BASE_URL } from './client.js';
export { CUSTOMER_FIELDS } from './contact.js';
export { PROPERTY_NAME, PROPERTY_NAME_RULE } from './custom-properties.js';
export {
  accountOf,
  MAX_CHANGES_PER_SEND,
  YotpoDestination,
  type YotpoDestinationOptions,
  type YotpoLimits,
  yotpoLimits,
} from './destination.js';
export * from './errors.js';
export { YOTPO_LABEL } from './status.js';
export { IDENTITY_FIELD, type MatchKey, type YotpoEvent, type YotpoStore } from './types.js';
