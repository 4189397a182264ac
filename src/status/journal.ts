/**
 * A short record in Redis of the status events an operator looks back at: finished and held runs (the
 * run history) and rejections with their reasons. Every instance writes it as it emits, so the admin
 * API and the status page of any instance show the whole group's. Two capped lists per sync, newest
 * first, under the sync's hash tag; they expire a week after their last write.
 */
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { RunCounts, StatusInput, StatusType } from './types.js';

/** Entries kept per list and sync. */
export const JOURNAL_CAP = 200;
const TTL_SEC = 7 * 24 * 3600;

const HISTORY: ReadonlySet<StatusType> = new Set([
  'RUN_COMPLETED',
  'DELETIONS_HELD',
  'DELETIONS_RELEASED',
  'DELETIONS_DERIVED',
]);
const REJECTIONS: ReadonlySet<StatusType> = new Set(['ITEM_REJECTED', 'REQUEST_REJECTED', 'DEAD_LETTER']);

export interface JournalEntry {
  type: StatusType;
  runId: string | null;
  at: number;
  instance: string;
  itemIds: string[];
  errorCode: string | null;
  message: string | null;
  counts: RunCounts | null;
}

/** Item ids kept per rejection entry (a rejected request can carry 200). */
const IDS_KEPT = 20;

export class StatusJournal {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly instanceId: string,
  ) {}

  /** Records the event if it is one the journal keeps; never throws (the journal is best effort). */
  record(e: StatusInput, onError?: (err: unknown) => void): void {
    const list = HISTORY.has(e.type) ? 'history' : REJECTIONS.has(e.type) ? 'rejections' : null;
    if (!list) return;
    const entry: JournalEntry = {
      type: e.type,
      runId: e.runId ?? null,
      at: Date.now(),
      instance: this.instanceId,
      itemIds: (e.itemIds ?? []).slice(0, IDS_KEPT),
      errorCode: e.errorCode ?? null,
      message: e.message ?? null,
      counts: e.counts ?? null,
    };
    const key = this.keys.sync(e.syncId, list);
    this.redis
      .pipeline()
      .lpush(key, JSON.stringify(entry))
      .ltrim(key, 0, JOURNAL_CAP - 1)
      .expire(key, TTL_SEC)
      .exec()
      .catch((err: unknown) => onError?.(err));
  }

  /** Finished, held and released runs, newest first. */
  history(syncId: string, limit = 50): Promise<JournalEntry[]> {
    return this.read(this.keys.sync(syncId, 'history'), limit);
  }

  /** Rejected items and requests and dead letters, newest first. */
  rejections(syncId: string, limit = 50): Promise<JournalEntry[]> {
    return this.read(this.keys.sync(syncId, 'rejections'), limit);
  }

  private async read(key: string, limit: number): Promise<JournalEntry[]> {
    const n = Math.max(1, Math.min(JOURNAL_CAP, Math.floor(limit)));
    const raw = await this.redis.lrange(key, 0, n - 1);
    return raw.flatMap((r) => {
      try {
        return [JSON.parse(r) as JournalEntry];
      } catch {
        return [];
      }
    });
  }
}
