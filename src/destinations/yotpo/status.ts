import type { StatusInput } from '../../status/types.js';
import type { YotpoEvent } from './types.js';

export const YOTPO_LABEL = 'yotpo:contacts';

/** The status event of a destination event (never the store id or token: events carry neither). */
export function yotpoStatusEvent(syncId: string, e: YotpoEvent): StatusInput {
  const base = { syncId, destination: YOTPO_LABEL };
  switch (e.type) {
    case 'request_accepted':
      return {
        ...base,
        type: 'REQUEST_ACCEPTED',
        itemIds: e.itemIds,
        attempt: e.attempt,
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
  }
}
