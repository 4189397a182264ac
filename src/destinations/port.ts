/**
 * One item change. `values` is keyed by attribute name and holds raw typed values
 * (Date | number | string | boolean | string[] | null); null removes the attribute, a missing key leaves
 * it alone. Encoding adds the `date()` / `url()` key wrappers from the field's type.
 */
export interface ItemChange {
  id: string;
  action: 'add' | 'remove';
  values?: Record<string, unknown>;
}

/**
 * What became of one change, in the order of the changes sent.
 * - accepted: the destination took the request holding it (Batch: 202).
 * - rejected: permanent, the item itself is at fault (local validation, or a 400 isolated by bisection).
 * - failed: not applied for a reason that is not the item's: retries ran out on a retriable error, or a
 *   permanent project-level error (auth, catalog limits). Never silently dropped.
 */
export type ItemOutcome =
  | { id: string; status: 'accepted'; indexingToken: string }
  | { id: string; status: 'rejected'; code: string; reason: string }
  | { id: string; status: 'failed'; code: string; reason: string }
  /** Left out right before sending: its partition moved to another owner, which replays it (see SendGate). */
  | { id: string; status: 'abandoned' };

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
 * The consumer's gate around one request, in two steps so that its rate-limit tokens are taken after
 * every wait: `pass` waits while the request may not leave (a rebalance runs, an earlier owner of one of
 * its partitions still has a request on the wire); then, tokens in hand, `enter` decides which ids to
 * leave out and registers the request as on the wire until `release`.
 */
export interface SendGate {
  pass(ids: readonly string[]): Promise<GatePass>;
}

export interface GatePass {
  /** Ids already left out (their partition moved to another owner, which replays them). */
  readonly drop: ReadonlySet<string>;
  /** Right before the request leaves; undefined when a rebalance began since `pass`: pass again. */
  enter(): Promise<GateEntry | undefined>;
}

export interface GateEntry {
  /** Ids to leave out now, `pass`'s included. */
  readonly drop: ReadonlySet<string>;
  /** Once the request is answered (or was not sent). */
  release(): Promise<void>;
}

export interface SendOptions {
  /** The account's next request is this one's, ahead of others waiting (a quiet buffer's due request). */
  priority?: boolean;
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
  /**
   * Optional: 0 when a part-full request of `items` may leave now, its account's request budget having
   * room that nobody else waits for; else ms before asking again (batching/buffer.ts). Without it a
   * part-full request leaves on its flush wait.
   */
  admit?(items: number): Promise<number>;
  /** One outcome per change, in order; an accepted one may carry the fingerprint to store instead. */
  send(changes: DestinationChange[], gate?: SendGate, options?: SendOptions): Promise<DestinationOutcome[]>;
  close(): Promise<void>;
}
