/**
 * Detects that a sync's state in Redis is not whole any more (Redis restarted empty, flushed, or rolled
 * back to an older snapshot) before a decision is taken from it, and restores it from the membership
 * changelog (changelog.ts, restore.ts).
 *
 * - Every state script that decides or writes takes the epoch this instance validated and the highest
 *   lsn it has seen (meta `epoch`, `lsn`): a missing or other epoch, or an lsn gone back, makes the
 *   script refuse (-9) before touching anything.
 * - At start-up, before every mirror derivation and after a refusal, the Redis state is compared with
 *   the changelog: meta epoch present, and no changelog record of the sync after meta `clOffset` with
 *   an lsn above meta `lsn` (every record is written after its Redis change, so a higher one means
 *   Redis lost writes).
 * - A loss is reported (STATE_LOST status event, `catalog_sync_state_lost` gauge, readiness reason,
 *   `inspect`), the state is rebuilt from the changelog by one instance (a Redis lock), and the sync
 *   goes on (STATE_RESTORED). Until then every script of the sync refuses: no mirror deletion is
 *   derived, no send is decided.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Kafka, Producer } from '../kafka/client.js';
import { ensureTopics, type TopicDurability } from '../kafka/topics.js';
import type { Logger } from '../logger.js';
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { StatusPublisher } from '../status/publisher.js';
import {
  type ChangelogScan,
  ChangelogWriter,
  changelogTopicConfig,
  type MembershipChange,
  scanChangelog,
} from './changelog.js';
import { clearSyncState, membersInRedis, rebuildSyncState } from './restore.js';
import { SyncStateError } from './state-types.js';

/** What SyncState needs of the guard; absent, scripts run unguarded (tests, inspect). */
export interface StateGuardPort {
  /** The validated epoch and the lowest lsn to accept; waits while the state is checked or restored. */
  token(): Promise<{ epoch: string; minLsn: number }>;
  /** A script answered with this lsn for a run of this seq. */
  observe(lsn: number, runSeq: number): void;
  /** A script refused (-9). Starts the check (and restore); returns the error the caller throws. */
  lost(reason: string): SyncStateError;
  /** Membership changes a script made: in the changelog before the caller goes on. */
  record(changes: MembershipChange[], runSeq: number, lsn: number): Promise<void>;
  /** Compares Redis with the changelog now (before a mirror derivation); throws STATE_LOST if not whole. */
  verify(): Promise<void>;
}

export interface StateDurabilityDeps {
  redis: Redis;
  keys: Keys;
  kafka: Kafka;
  producer: Producer;
  topic: string;
  /** Replication of the changelog topic when this creates it (kafka.replicationFactor, minInsyncReplicas). */
  durability?: TopicDurability;
  /** Consumer groups of changelog scans are `<groupPrefix>.<uuid>` (they commit nothing). */
  groupPrefix: string;
  status: Pick<StatusPublisher, 'emit'>;
  logger: Logger;
  /** Metrics registry for catalog_sync_state_lost / _restores_total / _restore_seconds. */
  registry?: Registry;
  /** The destination label of a sync, for status events. */
  label?: (syncId: string) => string;
  /** Longest read of the changelog (a restore reads the sync's whole partition). @default 300000 */
  scanTimeoutMs?: number;
  /** Restore lock TTL, renewed while restoring. @default 60000 */
  lockMs?: number;
}

type Check = { whole: true; epoch: string; lsn: number; end: string } | { whole: false; reason: string };

/** Builds one guard per sync; owns the changelog writer and the loss metrics. */
export class StateDurability {
  private readonly guards = new Map<string, SyncStateGuard>();
  readonly writer: ChangelogWriter;
  readonly lostGauge: Gauge<'sync'>;
  readonly restores: Counter<'sync'>;
  readonly restoreSeconds: Gauge<'sync'>;

  private constructor(
    readonly deps: StateDurabilityDeps,
    readonly partitions: number,
  ) {
    this.writer = new ChangelogWriter(deps.producer, deps.topic, partitions);
    const registers = deps.registry ? [deps.registry] : [];
    this.lostGauge = new Gauge({
      name: 'catalog_sync_state_lost',
      help: 'Per sync: 1 while its Redis state is lost (restarted empty, flushed, rolled back) and not restored yet',
      labelNames: ['sync'],
      registers,
    });
    this.restores = new Counter({
      name: 'catalog_sync_state_restores_total',
      help: 'Per sync: restores of the Redis state from the membership changelog done by this instance',
      labelNames: ['sync'],
      registers,
    });
    this.restoreSeconds = new Gauge({
      name: 'catalog_sync_state_restore_seconds',
      help: 'Per sync: duration of the last restore from the membership changelog done by this instance',
      labelNames: ['sync'],
      registers,
    });
  }

  /** Creates the changelog topic if missing (compacted) and reads its partition count. */
  static async create(deps: StateDurabilityDeps): Promise<StateDurability> {
    const admin = deps.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [changelogTopicConfig(deps.topic, deps.durability)]);
      // A topic just created is unknown to the brokers the controller has not told yet (seconds on a
      // cluster of three): UNKNOWN_TOPIC_OR_PARTITION until then.
      for (let attempt = 1; ; attempt++) {
        const meta = await admin.fetchTopicMetadata({ topics: [deps.topic] }).catch((err: unknown) => {
          if (attempt >= 40) throw err;
          return undefined;
        });
        const partitions = meta?.topics[0]?.partitions.length ?? 0;
        if (partitions > 0) return new StateDurability(deps, partitions);
        if (attempt >= 40) throw new Error(`changelog topic ${deps.topic} has no partitions`);
        await sleep(250);
      }
    } finally {
      await admin.disconnect();
    }
  }

  guard(syncId: string): SyncStateGuard {
    let g = this.guards.get(syncId);
    if (!g) {
      g = new SyncStateGuard(this, syncId);
      this.guards.set(syncId, g);
      this.lostGauge.set({ sync: syncId }, 0);
    }
    return g;
  }

  /** Start-up: checks (and if need be restores) every sync before the consumer starts. */
  async checkAll(syncIds: string[]): Promise<void> {
    for (const id of syncIds) await this.guard(id).ensure();
  }

  /** Before offsets are committed: each sync's head (lsn, run seq, floor) goes to the changelog. */
  async flushHeads(): Promise<void> {
    for (const g of this.guards.values()) await g.writeHead();
  }

  /**
   * true, or why a sync cannot be trusted now (readiness reason). Each probe also looks at every
   * trusted sync's epoch and lsn in Redis (one read per sync), so a loss is noticed, and the restore
   * begins, even while no event arrives.
   */
  async readiness(): Promise<true | string> {
    await Promise.all([...this.guards.values()].map((g) => g.probe().catch(() => undefined)));
    const bad = [...this.guards.values()].filter((g) => g.status === 'lost');
    if (bad.length === 0) return true;
    return bad
      .map((g) => `state of sync ${g.syncId} lost (${g.reason}); restoring from the changelog`)
      .join('; ');
  }
}

export class SyncStateGuard implements StateGuardPort {
  status: 'unchecked' | 'ok' | 'lost' = 'unchecked';
  reason = 'not checked yet';
  private epoch = '';
  private knownLsn = 0;
  private maxRun = 0;
  private lastHead = 0;
  private pending: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(
    private readonly d: StateDurability,
    readonly syncId: string,
  ) {
    this.log = d.deps.logger.child({ sync: syncId });
  }

  private k(part: string): string {
    return this.d.deps.keys.sync(this.syncId, part);
  }

  async token(): Promise<{ epoch: string; minLsn: number }> {
    if (this.status !== 'ok') await this.ensure();
    return { epoch: this.epoch, minLsn: this.knownLsn };
  }

  observe(lsn: number, runSeq: number): void {
    if (lsn > this.knownLsn) this.knownLsn = lsn;
    if (runSeq > this.maxRun) this.maxRun = runSeq;
  }

  lost(reason: string): SyncStateError {
    this.markLost(reason);
    void this.ensure().catch((err: unknown) => this.log.error({ err }, 'restoring the sync state failed'));
    return new SyncStateError('STATE_LOST', `state of sync ${this.syncId} lost: ${reason}`, {
      retriable: true,
    });
  }

  async record(changes: MembershipChange[], runSeq: number, lsn: number): Promise<void> {
    if (changes.length === 0) return;
    await this.d.writer.write(this.syncId, changes, runSeq, lsn);
    // A restore that began before this write may not have read it: then the change is redone.
    const epoch = await this.d.deps.redis.hget(this.k('meta'), 'epoch');
    if (epoch !== this.epoch) throw this.lost('the state epoch changed while membership changes were logged');
  }

  async verify(): Promise<void> {
    const c = await this.check();
    if (c.whole && this.status === 'ok' && c.epoch === this.epoch) return;
    if (c.whole) {
      // Another instance restored it meanwhile: this derivation began on the old state.
      this.adopt(c);
      throw new SyncStateError(
        'STATE_LOST',
        `state of sync ${this.syncId} was restored by another instance`,
        {
          retriable: true,
        },
      );
    }
    throw this.lost(c.reason);
  }

  /** Until the state is whole: check, restore if not, check again. Single flight. */
  ensure(): Promise<void> {
    this.pending ??= (async () => {
      for (let attempt = 0; ; attempt++) {
        const c = await this.check();
        if (c.whole) {
          this.adopt(c);
          return;
        }
        // A sync checked for the first time may just be new: restore() tells which, and reports a loss.
        if (this.status !== 'unchecked') this.markLost(c.reason);
        await this.restoreLocked(c.reason);
        if (attempt > 20) throw new Error(`state of sync ${this.syncId} still not whole after restoring`);
      }
    })().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  /** A cheap look at the sentinel (epoch) and lsn; a mismatch starts the check and restore. */
  async probe(): Promise<void> {
    if (this.status !== 'ok') return;
    const [epoch, lsn] = await this.d.deps.redis.hmget(this.k('meta'), 'epoch', 'lsn');
    if (epoch !== this.epoch) this.lost(epoch ? 'the state epoch changed' : 'the state epoch is missing');
    else if (Number(lsn ?? 0) < this.knownLsn) this.lost(`Redis lsn ${lsn} went back below ${this.knownLsn}`);
  }

  async writeHead(): Promise<void> {
    if (this.status !== 'ok' || this.knownLsn <= this.lastHead) return;
    const [epoch, lsnS, floorS] = await this.d.deps.redis.hmget(this.k('meta'), 'epoch', 'lsn', 'floor');
    const lsn = Number(lsnS ?? 0);
    if (epoch !== this.epoch) {
      this.lost(epoch ? 'the state epoch changed' : 'the state epoch is missing');
      return;
    }
    if (lsn < this.knownLsn) {
      this.lost(`Redis lsn ${lsn} went back below ${this.knownLsn} (rolled back)`);
      return;
    }
    await this.d.writer.head(this.syncId, { l: lsn, r: this.maxRun, f: Number(floorS ?? 0) });
    this.lastHead = lsn;
  }

  private markLost(reason: string): void {
    if (this.status === 'lost') return;
    this.status = 'lost';
    this.reason = reason;
    this.d.lostGauge.set({ sync: this.syncId }, 1);
    this.log.warn(
      { reason },
      'sync state in Redis is not whole: no decision is taken from it until restored',
    );
  }

  private adopt(c: Extract<Check, { whole: true }>): void {
    if (c.epoch !== this.epoch) {
      this.epoch = c.epoch;
      this.knownLsn = c.lsn;
      this.lastHead = 0;
    } else if (c.lsn > this.knownLsn) this.knownLsn = c.lsn;
    if (this.status !== 'ok') this.log.info({ epoch: c.epoch }, 'sync state is whole');
    this.status = 'ok';
    this.reason = '';
    this.d.lostGauge.set({ sync: this.syncId }, 0);
  }

  private scan(from: string, collect: boolean): Promise<ChangelogScan> {
    return scanChangelog({
      kafka: this.d.deps.kafka,
      topic: this.d.deps.topic,
      syncId: this.syncId,
      partitions: this.d.partitions,
      from,
      collect,
      groupPrefix: this.d.deps.groupPrefix,
      ...(this.d.deps.scanTimeoutMs ? { timeoutMs: this.d.deps.scanTimeoutMs } : {}),
    });
  }

  /** Is the Redis state the one the changelog (and this instance) last saw? */
  private async check(depth = 0): Promise<Check> {
    const { redis } = this.d.deps;
    const [epoch, lsnS, clOffset] = await redis.hmget(this.k('meta'), 'epoch', 'lsn', 'clOffset');
    if (!epoch) return { whole: false, reason: 'no state epoch in Redis (restarted empty, flushed, or new)' };
    const lsn = Number(lsnS ?? 0);
    if (epoch === this.epoch && lsn < this.knownLsn) {
      return { whole: false, reason: `Redis lsn ${lsn} is behind ${this.knownLsn} seen (rolled back)` };
    }
    const tail = await this.scan(clOffset ?? '0', false);
    // Other instances go on while the tail is read (seconds): compare it with Redis as it is now. Every
    // lsn in the changelog was in Redis when it was written, and Redis's lsn only grows unless rolled back.
    const [epochNow, lsnNowS] = await redis.hmget(this.k('meta'), 'epoch', 'lsn');
    if (!epochNow) return { whole: false, reason: 'the state epoch went missing' };
    // Restored by another instance while the tail was read: look again at the new state.
    if (epochNow !== epoch)
      return depth < 3 ? this.check(depth + 1) : { whole: false, reason: 'the state epoch keeps changing' };
    const lsnNow = Number(lsnNowS ?? 0);
    if (tail.maxLsn > lsnNow) {
      return {
        whole: false,
        reason: `Redis lsn ${lsnNow} is behind the changelog's ${tail.maxLsn} (rolled back to an older copy)`,
      };
    }
    if (tail.end !== clOffset) {
      // Only shortens the next check's read; a stale write (epoch changed meanwhile) is harmless.
      await redis.hset(this.k('meta'), 'clOffset', tail.end);
    }
    return { whole: true, epoch, lsn: lsnNow, end: tail.end };
  }

  /** One instance restores (a Redis lock); the others wait for it and check again. */
  private async restoreLocked(reason: string): Promise<void> {
    const { redis } = this.d.deps;
    const lock = this.k('restore-lock');
    const token = randomUUID();
    const lockMs = this.d.deps.lockMs ?? 60_000;
    if (!(await redis.set(lock, token, 'PX', lockMs, 'NX'))) {
      while ((await redis.get(lock)) !== null) await sleep(200);
      return;
    }
    const renew = setInterval(() => void redis.pexpire(lock, lockMs).catch(() => undefined), lockMs / 3);
    try {
      const again = await this.check();
      if (again.whole) return;
      await this.restore(again.reason || reason);
    } finally {
      clearInterval(renew);
      if ((await redis.get(lock)) === token) await redis.del(lock);
    }
  }

  private async restore(reason: string): Promise<void> {
    const { redis, keys, status } = this.d.deps;
    const started = performance.now();
    const destination = this.d.deps.label?.(this.syncId) ?? null;
    const hasEpoch = (await redis.hget(this.k('meta'), 'epoch')) !== null;
    // Fence every instance first: a change logged after this is refused its epoch check and redone, so
    // the scan below (which starts later) holds every change that went on.
    if (hasEpoch) await redis.hdel(this.k('meta'), 'epoch');
    const full = await this.scan('0', true);
    const epoch = randomUUID();
    const items = await redis.hlen(this.k('items'));
    if (full.records === 0 && !hasEpoch) {
      // Nothing was ever logged for this sync: a new sync, or state from before the changelog.
      if (items > 0) await this.seed(full.end);
      await redis.hset(this.k('meta'), 'clOffset', full.end);
      await redis.hset(this.k('meta'), 'epoch', epoch);
      this.log.info({ members: items }, items > 0 ? 'changelog seeded from Redis' : 'sync state initialised');
      return;
    }
    this.markLost(reason);
    status.emit({ syncId: this.syncId, type: 'STATE_LOST', destination, message: reason });
    this.log.warn({ reason, records: full.records }, 'restoring the sync state from the changelog');
    const before = await clearSyncState(redis, keys, this.syncId);
    const res = await rebuildSyncState(redis, keys, this.syncId, full, {
      epoch,
      minLsn: Math.max(before, this.knownLsn),
    });
    const seconds = (performance.now() - started) / 1000;
    await redis.hset(this.k('loss'), {
      reason,
      restoredAt: Date.now(),
      members: res.members,
      restoreMs: Math.round(seconds * 1000),
      abandonedUpToRun: full.maxRun,
    });
    this.d.restores.inc({ sync: this.syncId });
    this.d.restoreSeconds.set({ sync: this.syncId }, seconds);
    const message =
      `${res.members} members restored from ${this.d.deps.topic} in ${seconds.toFixed(1)} s; ` +
      'fingerprints cleared (items are sent again once); runs in progress at the loss ' +
      `(seq <= ${full.maxRun}) are abandoned: their mirror deletions come with the next full run`;
    status.emit({ syncId: this.syncId, type: 'STATE_RESTORED', destination, message });
    this.log.warn({ members: res.members, seconds, lsn: res.lsn }, 'sync state restored from the changelog');
  }

  /** Logs the membership Redis holds (state that predates the changelog) as present records. */
  private async seed(_end: string): Promise<void> {
    const { redis, keys } = this.d.deps;
    const lsn = Number((await redis.hget(this.k('meta'), 'lsn')) ?? 0);
    for await (const ids of membersInRedis(redis, keys, this.syncId)) {
      await this.d.writer.write(
        this.syncId,
        ids.map((id) => ({ id, present: true })),
        0,
        lsn,
      );
    }
  }
}

/** What `inspect` shows of a sync's loss detection, read from Redis only. */
export interface StateHealth {
  /** false: no epoch in Redis: the state was lost (restarted empty, flushed) or never initialised. */
  whole: boolean;
  lsn: number;
  /** The last restore from the changelog recorded in this Redis, if any. */
  lastRestore: { at: number; reason: string; members: number; ms: number; abandonedUpToRun: number } | null;
}

export async function readStateHealth(redis: Redis, keys: Keys, syncId: string): Promise<StateHealth> {
  const [[epoch, lsn], loss] = await Promise.all([
    redis.hmget(keys.sync(syncId, 'meta'), 'epoch', 'lsn'),
    redis.hgetall(keys.sync(syncId, 'loss')),
  ]);
  return {
    whole: epoch !== null,
    lsn: Number(lsn ?? 0),
    lastRestore: loss.restoredAt
      ? {
          at: Number(loss.restoredAt),
          reason: loss.reason ?? '',
          members: Number(loss.members ?? 0),
          ms: Number(loss.restoreMs ?? 0),
          abandonedUpToRun: Number(loss.abandonedUpToRun ?? 0),
        }
      : null,
  };
}
