import type { ItemChange, ItemOutcome } from './batch/types.js';

export type { ItemChange, ItemOutcome };

/** A change as the pipeline hands it to a destination: `previousFp` is what was last accepted. */
export interface DestinationChange extends ItemChange {
  previousFp?: string | null;
  /** Fingerprint the pipeline stores when the change is accepted. */
  fp?: string;
}

/** A change the destination chose not to send (e.g. a Yotpo contact that does not exist, insert mode off). */
export type SkippedOutcome = { id: string; status: 'skipped'; code: string; reason: string };

export type DestinationOutcome = (ItemOutcome & { fp?: string }) | SkippedOutcome;

/**
 * Asked by a destination after its rate-limit wait, right before a request leaves: which ids to leave
 * out, and a release to call once the request is answered (it keeps the partitions' order across owners).
 */
export interface SendGate {
  pass(ids: readonly string[]): Promise<GatePass>;
}

export interface GatePass {
  readonly drop: ReadonlySet<string>;
  release(): Promise<void>;
}

/** What a sync writes to (a Batch catalog, a Yotpo store's contacts), as the pipeline sees it. */
export interface SyncDestination {
  /** For status events and logs: `batch:<catalog>`; never a key. */
  readonly label: string;
  readonly maxItemsPerRequest: number;
  /** Creates or checks the remote object before the first send. */
  ensure(): Promise<void>;
  /**
   * Fingerprint of a change's values, stored once accepted and compared on the next change: equal means
   * unchanged, no request. Defaults to a hash of all values; a destination that sends only changed
   * attributes packs one short hash per attribute and diffs against `previousFp`.
   */
  fingerprint?(values: Record<string, unknown>): string;
  /** One outcome per change, in order; an accepted one may carry the fingerprint to store instead. */
  send(changes: DestinationChange[], gate?: SendGate): Promise<DestinationOutcome[]>;
  close(): Promise<void>;
}
