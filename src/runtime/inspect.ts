/**
 * `inspect <sync>`: what the shared state in Redis says about one sync, read-only. Every instance
 * writes the same keys, so any of them (or an operator's laptop) sees the whole group's view.
 */

import type { Config, SyncConfig } from '../config/config.js';
import { destinationPlugin, sectionOf } from '../destinations/registry.js';
import { ConfigError } from '../errors.js';
import { type PauseInfo, SyncPause } from '../planning/pause.js';
import { type RunInfo, SyncState } from '../planning/state.js';
import { readStateHealth, type StateHealth } from '../planning/state-guard.js';
import { SharedRateLimiter } from '../ratelimit/index.js';
import type { Redis } from '../redis/connection.js';
import { createKeys, type Keys } from '../redis/keys.js';

export interface SyncInspection {
  syncId: string;
  destination: string;
  /** Items the destination may hold, as this sync knows them. */
  members: number;
  runs: Pick<
    RunInfo,
    | 'runId'
    | 'kind'
    | 'seq'
    | 'state'
    | 'expected'
    | 'settled'
    | 'upserted'
    | 'removed'
    | 'rejected'
    | 'skipped'
    | 'held'
    | 'waitingFor'
  >[];
  /** An operator's pause (admin API): nothing of this sync is sent while it is set. */
  paused: PauseInfo | null;
  /** Loss detection: whether the state has its epoch, and the last restore from the changelog. */
  state: StateHealth;
  /** Deletions held by the guardrail, per held run. */
  heldDeletions: { runId: string; count: number }[];
  /**
   * The destination account's bucket; `account: null` when the secret that names the account (the
   * Batch project key, the Yotpo store id) is not available to this command.
   */
  rateLimit:
    | (Awaited<ReturnType<SharedRateLimiter['inspect']>> & { account: string })
    | { account: null; unavailable: string };
}

export async function inspectSync(config: Config, redis: Redis, syncId: string): Promise<SyncInspection> {
  const sync = config.syncs.find((s) => s.id === syncId);
  if (!sync) throw new ConfigError(`no sync "${syncId}" in the configuration`, 'syncs');
  const keys = createKeys(config.redis.keyPrefix);
  const state = new SyncState(redis, keys, syncId);
  const { destination, account, limiter } = rateAccount(config, sync, redis, keys);
  const [members, inProgress, health, rateLimit, paused] = await Promise.all([
    state.memberCount(),
    state.runsInProgress(),
    readStateHealth(redis, keys, syncId),
    account.ok
      ? limiter.inspect(account.name).then((bucket) => ({ account: account.name, ...bucket }))
      : { account: null, unavailable: account.why },
    new SyncPause(redis, keys, syncId).get(),
  ]);
  return {
    syncId,
    destination,
    members,
    runs: inProgress.map(({ at: _at, released: _released, ...run }) => run),
    paused,
    state: health,
    heldDeletions: inProgress
      .filter((r) => r.state === 'held')
      .map((r) => ({ runId: r.runId, count: r.held })),
    rateLimit,
  };
}

/**
 * A rate-limit account is named by a hash of the project key (Batch) or store id (Yotpo), the one
 * secret inspect may read; the REST API key and the token are never read. Without it, only the bucket
 * is left out: members, runs and held deletions need no secret.
 */
function accountName(name: () => string): { ok: true; name: string } | { ok: false; why: string } {
  try {
    return { ok: true, name: name() };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { ok: false, why: `rate bucket not shown: ${err.message}` };
  }
}

/** The destination's rate-limit account and a limiter with the limits the service runs it at. */
function rateAccount(config: Config, sync: SyncConfig, redis: Redis, keys: Keys) {
  const plugin = destinationPlugin(sync.destination.type);
  const section = sectionOf(config.destinations, sync.destination.type);
  if (section === undefined)
    throw new ConfigError(`sync ${sync.id}: no ${sync.destination.type} section in the configuration`);
  const { name, limits } = plugin.account(section, sync.destination);
  return {
    destination: plugin.label(sync.destination),
    account: accountName(name),
    limiter: new SharedRateLimiter(redis, keys, limits),
  };
}

export function formatInspection(i: SyncInspection): string {
  const lines = [`sync         ${i.syncId} -> ${i.destination}`, `members      ${i.members}`];
  if (i.paused)
    lines.push(
      `paused       by ${i.paused.by} at ${new Date(i.paused.at).toISOString()}${i.paused.reason ? `: ${i.paused.reason}` : ''}`,
    );
  const r = i.state.lastRestore;
  lines.push(
    `state        ${i.state.whole ? 'whole' : 'NOT WHOLE (no epoch: lost, or not initialised yet): no deletion is derived'} lsn=${i.state.lsn}` +
      (r
        ? ` last-restore=${new Date(r.at).toISOString()} members=${r.members} in ${r.ms} ms (${r.reason})`
        : ''),
  );
  if (i.runs.length === 0) lines.push('runs         none in progress');
  for (const r of i.runs) {
    lines.push(
      `run          ${r.runId} ${r.kind} seq=${r.seq} state=${r.state} expected=${r.expected ?? '?'} settled=${r.settled} ` +
        `upserted=${r.upserted} removed=${r.removed} rejected=${r.rejected} skipped=${r.skipped} held=${r.held}` +
        (r.waitingFor ? ` waiting-for=${r.waitingFor}` : ''),
    );
  }
  const held = i.heldDeletions.reduce((n, h) => n + h.count, 0);
  lines.push(
    `held         ${held} deletion(s)${i.heldDeletions.map((h) => ` ${h.runId}=${h.count}`).join('')}`,
  );
  const b = i.rateLimit;
  if (b.account === null) lines.push(`rate bucket  ${b.unavailable}`);
  else
    lines.push(
      `rate bucket  ${b.account}: requests ${b.requests.toFixed(2)}/${b.requestCapacity}, items ${Math.floor(b.items)}/${b.itemCapacity}`,
      `pause        ${b.pauseMs > 0 ? `${b.pauseMs} ms left (after a 429)` : 'none'}`,
    );
  return `${lines.join('\n')}\n`;
}
