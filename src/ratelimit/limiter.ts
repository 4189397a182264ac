import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors.js';
import { defineScript, type Redis, runScript } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import { SEND_BOUND } from './bound.js';
import { Grant } from './grant.js';

/**
 * The shared buckets of one destination account (a Batch project, a Yotpo store): rates and bursts
 * sized from the API's own bucket by bucketWithin() (bound.ts), never above the API's rates.
 */
export interface RateLimits {
  /** Requests per second the shared bucket refills at. */
  requestsPerSecond: number;
  /** Requests the shared bucket may hold (burst). */
  requestBurst: number;
  /** Items per second the shared bucket refills at; 0 when the API limits requests only. @default 0 */
  itemsPerSecond?: number;
  /** Items the shared bucket may hold (burst). */
  itemBurst?: number;
  /** Share of those rates the bucket runs at: below 1 only to leave room for another client. @default 1 */
  headroom?: number;
}

const here = new URL('.', import.meta.url);

/** How long past its answered wait a waiting taker still counts as demand, or keeps its reservation. */
const DEMAND_SLACK_MS = 100;

/**
 * Two token buckets (requests, items) per account, held in Redis and shared by every instance, plus
 * the shared pause that follows a 429. Callers sleep exactly the time the script answers. A grant is
 * good for `grantMaxAgeMs`: the caller checks it right before writing its request (Grant.check).
 */
export class SharedRateLimiter {
  private readonly take: string;
  private readonly drain: string;
  private readonly args: [number, number, number, number];
  private readonly refillMs: number;
  private readonly grantMaxAgeMs: number;
  /** Per account, the last caller in this process's line. */
  private readonly lines = new Map<string, Promise<unknown>>();
  /** Names this limiter's priority takers in the bucket's reservation. */
  private readonly id = randomUUID();
  private takers = 0;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    limits: RateLimits,
    options: { grantMaxAgeMs?: number } = {},
  ) {
    this.grantMaxAgeMs = options.grantMaxAgeMs ?? SEND_BOUND.grantMaxAgeMs;
    const headroom = limits.headroom ?? 1;
    const itemRate = (limits.itemsPerSecond ?? 0) * headroom;
    const itemBurst = limits.itemBurst ?? 0;
    if (!(headroom > 0 && headroom <= 1)) throw new ConfigError('headroom must be in (0, 1]', 'headroom');
    if (!(limits.requestsPerSecond > 0)) {
      throw new ConfigError('requestsPerSecond must be > 0', 'requestsPerSecond');
    }
    if (!(limits.requestBurst >= 1)) throw new ConfigError('requestBurst must be >= 1', 'requestBurst');
    if (itemRate < 0) throw new ConfigError('itemsPerSecond must be >= 0', 'itemsPerSecond');
    if (itemRate > 0 && !(itemBurst >= 1)) throw new ConfigError('itemBurst must be >= 1', 'itemBurst');
    const requestRate = limits.requestsPerSecond * headroom;
    this.args = [requestRate, limits.requestBurst, itemRate, itemBurst];
    this.refillMs = Math.ceil(
      1000 * Math.max(limits.requestBurst / requestRate, itemRate > 0 ? itemBurst / itemRate : 0),
    );
    this.take = defineScript(redis, here, 'take-2.lua');
    this.drain = defineScript(redis, here, 'pause-2.lua');
  }

  /**
   * One attempt: 0 when 1 request and `items` items were taken, else the ms to wait (nothing taken).
   * With `priority`, a taker told to wait reserves the next request for itself (take-2.lua, class p).
   */
  async tryAcquire(account: string, items = 0, priority?: { taker: string }): Promise<number> {
    const keys = [this.keys.bucket(account), this.keys.pause(account)];
    const klass = priority ? ['p', priority.taker] : ['n', ''];
    return runScript<number>(this.redis, this.take, keys, [...this.args, items, ...klass, DEMAND_SLACK_MS]);
  }

  /**
   * Whether a part-full request of `items` would spend budget nobody else wants: 0 when its tokens are
   * there now and no taker of the account was told to wait lately, else ms before asking again. Takes
   * nothing (take-2.lua, class s).
   */
  async spare(account: string, items: number): Promise<number> {
    const keys = [this.keys.bucket(account), this.keys.pause(account)];
    return runScript<number>(this.redis, this.take, keys, [...this.args, items, 's', '', DEMAND_SLACK_MS]);
  }

  /**
   * Waits until 1 request and `items` items are taken. Take them after every other wait of the request:
   * the grant goes stale `grantMaxAgeMs` after the take was asked for.
   * Callers of one process queue in line per account, so only the head polls Redis and a caller cannot
   * lose the race for fresh tokens to its own process's later callers again and again. A `priority`
   * caller, once at the head, has the account's next request reserved for it while it waits.
   */
  acquire(account: string, items = 0, signal?: AbortSignal, priority = false): Promise<Grant> {
    const started = performance.now();
    const ahead = this.lines.get(account) ?? Promise.resolve();
    const taker = priority ? { taker: `${this.id}:${++this.takers}` } : undefined;
    const mine = ahead.then(async () => {
      for (;;) {
        signal?.throwIfAborted();
        const asked = performance.now();
        const wait = await this.tryAcquire(account, items, taker);
        if (wait === 0) return new Grant(asked, performance.now() - started, this.grantMaxAgeMs);
        await sleep(wait, undefined, signal ? { signal } : undefined);
      }
    });
    const settled = mine.catch(() => undefined);
    this.lines.set(account, settled);
    void settled.then(() => {
      if (this.lines.get(account) === settled) this.lines.delete(account);
    });
    return mine;
  }

  /**
   * Read-only view of an account's shared state, refilled to Redis's clock as the take script would:
   * tokens available now and the pause still to run (ms).
   */
  async inspect(account: string): Promise<{
    requests: number;
    requestCapacity: number;
    items: number;
    itemCapacity: number;
    pauseMs: number;
  }> {
    const [state, pttl, [sec, usec]] = await Promise.all([
      this.redis.hmget(this.keys.bucket(account), 'r', 'i', 't'),
      this.redis.pttl(this.keys.pause(account)),
      this.redis.time(),
    ]);
    const [requestRate, requestCapacity, itemRate, itemCapacity] = this.args;
    const now = Number(sec) * 1e6 + Number(usec);
    const [r, i, t] = state.map((v) => (v === null ? undefined : Number(v)));
    const elapsed = t === undefined ? 0 : Math.max(0, now - t) / 1e6;
    return {
      requests: r === undefined ? requestCapacity : Math.min(requestCapacity, r + elapsed * requestRate),
      requestCapacity,
      items: i === undefined ? itemCapacity : Math.min(itemCapacity, i + elapsed * itemRate),
      itemCapacity,
      pauseMs: Math.max(0, pttl),
    };
  }

  /**
   * After a 429: pauses every instance sharing the account for `ms` (a longer pause already running
   * stands) and drains the buckets. Resolves to the pause in force, ms.
   */
  async pause(account: string, ms: number): Promise<number> {
    const pauseMs = Math.max(1, Math.ceil(ms));
    const keys = [this.keys.bucket(account), this.keys.pause(account)];
    return runScript<number>(this.redis, this.drain, keys, [pauseMs, pauseMs + this.refillMs + 1000]);
  }
}
