import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { SharedRateLimiter, StaleGrantError } from '../../src/ratelimit/index.js';
import { createRedis } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';

const redis = createRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) {
    const found = await redis.keys(`${prefix}:*`);
    if (found.length > 0) await redis.del(...found);
  }
  await redis.quit();
});

// Refill so slow (one token per ~17 min) that nothing refills between two calls of a test.
const SLOW = 0.001;

function setup(limits: ConstructorParameters<typeof SharedRateLimiter>[2]) {
  const keys = createKeys(`test-${randomUUID()}`);
  prefixes.push(keys.prefix);
  return { keys, limiter: new SharedRateLimiter(redis, keys, limits), account: 'acct' };
}

async function bucket(keys: ReturnType<typeof createKeys>, account: string) {
  const h = await redis.hgetall(keys.bucket(account));
  return { r: Number(h.r), i: Number(h.i) };
}

describe('SharedRateLimiter (take-2.lua, pause-2.lua)', () => {
  it('takes up to the request burst, then answers a wait and takes nothing', async () => {
    const { keys, limiter, account } = setup({ requestsPerSecond: SLOW, requestBurst: 3 });
    expect([await limiter.tryAcquire(account), await limiter.tryAcquire(account)]).toEqual([0, 0]);
    expect(await limiter.tryAcquire(account)).toBe(0);
    const before = await bucket(keys, account);
    const wait = await limiter.tryAcquire(account);
    expect(wait).toBeGreaterThan(0);
    expect(wait).toBeLessThanOrEqual(1000 / SLOW);
    expect((await bucket(keys, account)).r).toBeCloseTo(before.r, 3);
  });

  it('takes 1 request and n items together, or neither when items run short', async () => {
    const { keys, limiter, account } = setup({
      requestsPerSecond: 1000,
      requestBurst: 10,
      itemsPerSecond: SLOW,
      itemBurst: 300,
    });
    expect(await limiter.tryAcquire(account, 200)).toBe(0);
    const after = await bucket(keys, account);
    expect(after.i).toBeCloseTo(100, 1);
    expect(after.r).toBeCloseTo(9, 1);
    // 100 items left, 200 asked: the item deficit (100 items at SLOW/s) sets the wait.
    const wait = await limiter.tryAcquire(account, 200);
    expect(wait).toBeGreaterThan((99 * 1000) / SLOW);
    expect(wait).toBeLessThanOrEqual((100 * 1000) / SLOW + 1);
    const unchanged = await bucket(keys, account);
    expect(unchanged.i).toBeCloseTo(after.i, 1);
    expect(unchanged.r).toBeLessThanOrEqual(10);
    expect(unchanged.r).toBeGreaterThanOrEqual(after.r);
    expect(await limiter.tryAcquire(account, 100)).toBe(0);
  });

  it('answers the longer of the two deficits', async () => {
    const { limiter, account } = setup({
      requestsPerSecond: SLOW,
      requestBurst: 1,
      itemsPerSecond: SLOW * 1000,
      itemBurst: 10,
    });
    expect(await limiter.tryAcquire(account, 10)).toBe(0);
    // Request deficit: 1 token at SLOW/s; item deficit: 5 items at 1000*SLOW/s, 200 times shorter.
    const wait = await limiter.tryAcquire(account, 5);
    expect(wait).toBeGreaterThan((0.99 * 1000) / SLOW);
  });

  it('lets exactly the burst through under concurrent takes (atomic)', async () => {
    const { limiter, account } = setup({
      requestsPerSecond: SLOW,
      requestBurst: 5,
      itemsPerSecond: SLOW,
      itemBurst: 1000,
    });
    const answers = await Promise.all(Array.from({ length: 40 }, () => limiter.tryAcquire(account, 100)));
    expect(answers.filter((w) => w === 0)).toHaveLength(5);
  });

  it('counts requests only when the item bucket is off (Yotpo)', async () => {
    const { limiter, account } = setup({ requestsPerSecond: SLOW, requestBurst: 2 });
    expect(await limiter.tryAcquire(account, 10_000)).toBe(0);
    expect(await limiter.tryAcquire(account, 10_000)).toBe(0);
    expect(await limiter.tryAcquire(account, 0)).toBeGreaterThan(0);
  });

  it('expires an idle bucket', async () => {
    const { keys, limiter, account } = setup({ requestsPerSecond: 5, requestBurst: 5 });
    await limiter.tryAcquire(account);
    const ttl = await redis.pttl(keys.bucket(account));
    expect(ttl).toBeGreaterThan(0);
  });

  it('a pause blocks every take, drains the buckets and is never shortened', async () => {
    const { keys, limiter, account } = setup({
      requestsPerSecond: 5,
      requestBurst: 5,
      itemsPerSecond: 1000,
      itemBurst: 1000,
    });
    expect(await limiter.tryAcquire(account, 10)).toBe(0);
    expect(await limiter.pause(account, 60_000)).toBe(60_000);
    expect(await bucket(keys, account)).toEqual({ r: 0, i: 0 });
    const wait = await limiter.tryAcquire(account, 1);
    expect(wait).toBeGreaterThan(1000);
    expect(wait).toBeLessThanOrEqual(60_000);
    const shorter = await limiter.pause(account, 1000);
    expect(shorter).toBeGreaterThan(1000);
    expect(await redis.pttl(keys.pause(account))).toBeGreaterThan(1000);
    const longer = await limiter.pause(account, 120_000);
    expect(longer).toBe(120_000);
  });

  it('acquire sleeps through a pause, then takes from a bucket refilled from empty', async () => {
    const { keys, limiter, account } = setup({
      requestsPerSecond: 1000,
      requestBurst: 10,
      itemsPerSecond: 100_000,
      itemBurst: 1000,
    });
    await limiter.pause(account, 30);
    const { waitedMs } = await limiter.acquire(account, 50);
    expect(waitedMs).toBeGreaterThan(0);
    expect(await redis.exists(keys.pause(account))).toBe(0);
    expect((await bucket(keys, account)).i).toBeLessThan(1000 - 50 + 1);
  });

  it('a grant is good until its bound, counted from before the take was asked', async () => {
    const keys = createKeys(`test-${randomUUID()}`);
    prefixes.push(keys.prefix);
    const limits = { requestsPerSecond: 1000, requestBurst: 10 };
    const before = performance.now();
    const lasting = await new SharedRateLimiter(redis, keys, limits, { grantMaxAgeMs: 60_000 }).acquire('a');
    expect(lasting.askedAt).toBeGreaterThanOrEqual(before);
    const seen: boolean[] = [];
    lasting.check((_ms, stale) => seen.push(stale));
    expect(seen).toEqual([false]);

    const short = await new SharedRateLimiter(redis, keys, limits, { grantMaxAgeMs: 20 }).acquire('a');
    await sleep(40);
    expect(() => short.check()).toThrow(StaleGrantError);
    expect(() => short.check()).toThrow(expect.objectContaining({ code: 'RATE_GRANT_STALE' }));
    expect(() => short.check(undefined, true)).not.toThrow();
  });

  it('serves callers of one process in the order they asked', async () => {
    const { limiter, account } = setup({ requestsPerSecond: 200, requestBurst: 1 });
    const order: number[] = [];
    await Promise.all([0, 1, 2, 3, 4].map((i) => limiter.acquire(account).then(() => order.push(i))));
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it('acquire stops when its signal aborts', async () => {
    const { limiter, account } = setup({ requestsPerSecond: SLOW, requestBurst: 1 });
    await limiter.tryAcquire(account);
    const controller = new AbortController();
    const pending = limiter.acquire(account, 0, controller.signal);
    controller.abort();
    await expect(pending).rejects.toThrow();
  });

  it('refuses bad limits with a ConfigError naming the option', () => {
    const keys = createKeys('unused');
    expect(() => new SharedRateLimiter(redis, keys, { requestsPerSecond: 0, requestBurst: 1 })).toThrow(
      ConfigError,
    );
    expect(
      () => new SharedRateLimiter(redis, keys, { requestsPerSecond: 5, requestBurst: 5, headroom: 1.5 }),
    ).toThrow(/headroom/);
    expect(
      () => new SharedRateLimiter(redis, keys, { requestsPerSecond: 5, requestBurst: 5, itemsPerSecond: 10 }),
    ).toThrow(/itemBurst/);
  });
});
