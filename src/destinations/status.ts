import type { StatusInput } from '../status/types.js';

/** What any destination reports about its requests, in the shape both Batch and Yotpo events share. */
export type DestinationEvent =
  | {
      type: 'request_accepted';
      itemIds: string[];
      attempt: number;
      indexingToken?: string;
      omitted?: string[];
    }
  | {
      type: 'request_retried';
      itemIds: string[];
      attempt: number;
      status?: number;
      code: string;
      delayMs: number;
    }
  | { type: 'request_rejected'; itemIds: string[]; code: string; message: string }
  | { type: 'item_rejected'; id: string; code: string; reason: string }
  | { type: 'indexing_applied'; indexingToken: string; itemIds: string[] };

/** A destination event as the status topic carries it; `destination` is a label, never a key or token. */
export function destinationStatusEvent(
  syncId: string,
  destination: string,
  e: DestinationEvent,
): StatusInput {
  const base = { syncId, destination };
  switch (e.type) {
    case 'request_accepted':
      return {
        ...base,
        type: 'REQUEST_ACCEPTED',
        itemIds: e.itemIds,
        attempt: e.attempt,
        ...(e.indexingToken ? { indexingToken: e.indexingToken } : {}),
        ...(e.omitted
          ? { message: `null values not sent (Yotpo cannot store null): ${e.omitted.join(', ')}` }
          : {}),
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
