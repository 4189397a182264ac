import type { ItemChange, ItemOutcome } from './batch/types.js';

export type { ItemChange, ItemOutcome };

/** A change as the pipeline hands it to a destination: `previousFp` is what was last accepted. */
export interface DestinationChange extends ItemChange {
  previousFp?: string | null;
  /** Fingerprint the pipeline stores when the change is accepted. */
  fp?: string;
}

/** What a sync writes to (a Batch catalog, a Yotpo store's contacts), as the pipeline sees it. */
export interface SyncDestination {
  /** For status events and logs: `batch:<catalog>`; never a key. */
  readonly label: string;
  readonly maxItemsPerRequest: number;
  /** Creates or checks the remote object before the first send. */
  ensure(): Promise<void>;
  /** One outcome per change, in order; an accepted one may carry the fingerprint to store instead. */
  send(changes: DestinationChange[]): Promise<(ItemOutcome & { fp?: string })[]>;
  close(): Promise<void>;
}
