import type { StatusInput } from '../../status/types.js';
import type { BatchEvent } from './types.js';

/** A Batch destination event as the status topic carries it. */
export function batchStatusEvent(syncId: string, e: BatchEvent): StatusInput {
  const base = { syncId, destination: `batch:${e.catalog}` };
  switch (e.type) {
    case 'request_accepted':
      return {
        ...base,
        type: 'REQUEST_ACCEPTED',
        itemIds: e.itemIds,
        indexingToken: e.indexingToken,
        attempt: e.attempt,
      };
    case 'request_retried':
      return {
        ...base,
        type: 'REQUEST_RETRIED',
        itemIds: e.itemIds,
        attempt: e.attempt,
        errorCode: e.code,
        message: `${e.status ? `HTTP ${e.status}, ` : ''}retrying in ${e.delayMs} ms`,
      };
    case 'request_rejected':
      return { ...base, type: 'REQUEST_REJECTED', itemIds: e.itemIds, errorCode: e.code, message: e.message };
    case 'item_rejected':
      return { ...base, type: 'ITEM_REJECTED', itemIds: [e.id], errorCode: e.code, message: e.reason };
    case 'indexing_applied':
      return { ...base, type: 'INDEXING_APPLIED', itemIds: e.itemIds, indexingToken: e.indexingToken };
  }
}
