import type { StatusInput } from '../../status/types.js';
import { destinationStatusEvent } from '../status.js';
import type { YotpoEvent } from './types.js';

export const YOTPO_LABEL = 'yotpo:contacts';

/** The status event of a destination event (never the store id or token: events carry neither). */
export function yotpoStatusEvent(syncId: string, e: YotpoEvent): StatusInput {
  return destinationStatusEvent(syncId, YOTPO_LABEL, e);
}
