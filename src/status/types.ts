import { readFileSync } from 'node:fs';

export const STATUS_EVENT_SCHEMA = readFileSync(
  new URL('../../schemas/status-event.avsc', import.meta.url),
  'utf8',
);

export type StatusType =
  | 'RUN_STARTED'
  | 'RUN_COMPLETED'
  | 'REQUEST_ACCEPTED'
  | 'REQUEST_REJECTED'
  | 'REQUEST_RETRIED'
  | 'ITEM_REJECTED'
  | 'ITEMS_SKIPPED'
  | 'DELETIONS_DERIVED'
  | 'DELETIONS_HELD'
  | 'DELETIONS_RELEASED'
  | 'INDEXING_APPLIED'
  | 'DEAD_LETTER'
  | 'SCHEMA_CHANGED'
  /** The sync's state in Redis is not whole (restarted empty, flushed, rolled back): nothing is derived from it. */
  | 'STATE_LOST'
  /** The sync's state was rebuilt from the membership changelog; the message says what it cost. */
  | 'STATE_RESTORED';

/** A run's counts, as the sync state keeps them and RUN_COMPLETED reports them. */
export interface RunCounts {
  upserted: number;
  removed: number;
  rejected: number;
  skipped: number;
  /** Deletions the guardrail held (kept after a release, for the record). */
  held: number;
}

export interface StatusInput {
  syncId: string;
  runId?: string | null;
  type: StatusType;
  /** `batch:<catalog>` or `yotpo:contacts`; never a key or token. */
  destination?: string | null;
  itemIds?: string[];
  indexingToken?: string | null;
  attempt?: number | null;
  errorCode?: string | null;
  message?: string | null;
  counts?: RunCounts | null;
}

/** A status event read back from the topic. `UNKNOWN` is a type added by a newer writer. */
export interface StatusEventDecoded {
  syncId: string;
  runId: string | null;
  type: StatusType | 'UNKNOWN';
  at: number;
  instance: string;
  destination: string | null;
  itemIds: string[];
  indexingToken: string | null;
  attempt: number | null;
  errorCode: string | null;
  message: string | null;
  counts: RunCounts | null;
  partition: number;
  offset: string;
}

/** The Avro record of `schemas/status-event.avsc`. */
export interface StatusEventRecord {
  sync_id: string;
  run_id: string | null;
  type: StatusType | 'UNKNOWN';
  at: number;
  instance: string;
  destination: string | null;
  item_ids: string[];
  indexing_token: string | null;
  attempt: number | null;
  error_code: string | null;
  message: string | null;
  counts: RunCounts | null;
}
