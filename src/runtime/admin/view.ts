/**
 * What the admin API and the status page show of a sync, read from Redis only: every instance writes
 * the same keys, so any instance answers for the whole group. The base is `inspect`'s view.
 */
import type { Config } from '../../config/config.js';
import type { Redis } from '../../redis/connection.js';
import type { Keys } from '../../redis/keys.js';
import type { JournalEntry, StatusJournal } from '../../status/journal.js';
import { inspectSync, type SyncInspection } from '../inspect.js';

export interface SyncView extends SyncInspection {
  mode: string;
  operation: string;
  /**
   * Entries of the items hash, each holding the fingerprint of the item's last accepted values, and
   * the fingerprint epoch: `resync` bumps it, which invalidates every stored fingerprint at once.
   */
  fingerprints: { count: number; epoch: number };
  /** The latest finished or held runs, newest first (the run history route has more). */
  lastRuns: JournalEntry[];
}

export interface ViewDeps {
  config: Config;
  redis: Redis;
  keys: Keys;
  journal: StatusJournal;
}

export async function syncView(deps: ViewDeps, syncId: string): Promise<SyncView> {
  const sync = deps.config.syncs.find((s) => s.id === syncId);
  const [inspection, epoch, lastRuns] = await Promise.all([
    inspectSync(deps.config, deps.redis, syncId),
    deps.redis.hget(deps.keys.sync(syncId, 'meta'), 'fpEpoch'),
    deps.journal.history(syncId, 5),
  ]);
  return {
    ...inspection,
    mode: sync?.mode ?? '',
    operation: sync?.operation ?? '',
    fingerprints: { count: inspection.members, epoch: Number(epoch ?? 0) },
    lastRuns,
  };
}

export async function allSyncViews(deps: ViewDeps): Promise<SyncView[]> {
  return Promise.all(deps.config.syncs.map((s) => syncView(deps, s.id)));
}
