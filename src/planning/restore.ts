/**
 * Rebuilds one sync's state in Redis from a changelog scan (changelog.ts) after a loss. Membership comes
 * back whole; fingerprints are cleared (every item is sent again once); the runs that were in progress
 * are gone (their distinct ids cannot be counted any more) and any row of a run up to the highest run
 * seq the changelog knows is settled under an abandoned run (stateSettle-7.lua), so the next full run
 * derives the deletions. Other instances are refused meanwhile: meta (and its epoch) is deleted first
 * and written last.
 */
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { ChangelogScan } from './changelog.js';

/** Fields per HSET while writing the membership back: bounds each command. */
const CHUNK = 1000;

export interface RebuildResult {
  members: number;
  lsn: number;
}

function b36(n: number): string {
  return n.toString(36);
}

/** Deletes what is left of the sync's state (a rolled-back copy): meta first, so the epoch goes first. */
export async function clearSyncState(redis: Redis, keys: Keys, syncId: string): Promise<number> {
  const k = (part: string) => keys.sync(syncId, part);
  const meta = await redis.hget(k('meta'), 'lsn');
  await redis.del(k('meta'));
  const runs = await redis.zrange(k('runs'), '0', '-1');
  const runKeys = runs.flatMap((r) => ['run', 'seen', 'ids', 'lease', 'cand'].map((p) => k(`${p}:${r}`)));
  for (let i = 0; i < runKeys.length; i += 100) await redis.unlink(...runKeys.slice(i, i + 100));
  await redis.unlink(k('items'), k('runs'));
  return Number(meta ?? 0);
}

/**
 * Writes the scanned membership and a new meta: lsn above anything seen, mirror floor and restoredRun
 * from the changelog, the changelog offset read up to, and the epoch last (scripts run again from then).
 */
export async function rebuildSyncState(
  redis: Redis,
  keys: Keys,
  syncId: string,
  scan: ChangelogScan,
  opts: { epoch: string; minLsn: number },
): Promise<RebuildResult> {
  const k = (part: string) => keys.sync(syncId, part);
  const members = scan.members ?? new Map<string, number>();
  // Every restored entry counts as upserted by the latest run the changelog knows: no run in progress
  // at the loss (its bitmap is gone) can derive a deletion of it; the next full run can.
  const seq36 = b36(scan.maxRun);
  let idx = 0;
  let fields: string[] = [];
  const flush = () => {
    if (fields.length === 0) return Promise.resolve(0);
    const batch = fields;
    fields = [];
    return redis.hset(k('items'), ...batch);
  };
  const pending: Promise<unknown>[] = [];
  for (const id of members.keys()) {
    fields.push(id, `${b36(idx++)}|${seq36}||`);
    if (fields.length >= CHUNK * 2) {
      pending.push(flush());
      // A few commands in flight keep the pipe full without buffering the whole membership.
      if (pending.length >= 16) await Promise.all(pending.splice(0));
    }
  }
  pending.push(flush());
  await Promise.all(pending);
  const lsn = Math.max(scan.maxLsn, opts.minLsn) + 1;
  const now = Date.now();
  await redis.hset(k('meta'), {
    nextIdx: idx,
    lsn,
    floor: scan.floor,
    restoredRun: scan.maxRun,
    clOffset: scan.end,
    restoredAt: now,
  });
  await redis.hset(k('meta'), 'epoch', opts.epoch);
  return { members: idx, lsn };
}

/**
 * State that predates the changelog (an upgrade): the membership in Redis is written to the changelog
 * instead of replaced by it. Yields the ids in chunks.
 */
export async function* membersInRedis(redis: Redis, keys: Keys, syncId: string): AsyncIterable<string[]> {
  let cursor = '0';
  do {
    const [next, entries] = await redis.hscan(keys.sync(syncId, 'items'), cursor, 'COUNT', 2000);
    cursor = next;
    const ids: string[] = [];
    entries.forEach((v, i) => {
      if (i % 2 === 0) ids.push(v);
    });
    if (ids.length > 0) yield ids;
  } while (cursor !== '0');
}
