import type { StatusInput } from '../../status/types.js';
import { destinationStatusEvent } from '../status.js';
import type { BatchEvent } from './types.js';

/** A Batch destination event as the status topic carries it. */
export function batchStatusEvent(syncId: string, e: BatchEvent): StatusInput {
  return destinationStatusEvent(syncId, `batch:${e.catalog}`, e);
}
