/**
 * Part-full requests and the shared request budget, through the real Redis bucket (take-2.lua): the
 * spare check, the priority reservation, and ChangeBuffer deciding with them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ChangeBuffer } from '../../src/batching/buffer.js';
import { SharedRateLimiter } from '../../src/ratelimit/index.js';
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

/** One token per ~17 minutes: nothing refills within a test unless the test says so. */
const SLOW = 0.001;

function setup(limits: ConstructorParameters<typeof SharedRateLimiter>[2]) {
  const keys = createKeys(`test-${randomUUID()}`);
  prefixes.push(keys.prefix);
  return { keys, limiter: new SharedRateLimiter(redis, keys, limits), account: 'acct' };
}

const itemsOnly = { requestsPerSecond: 1000, requestBurst: 10, itemsPerSecond: SLOW, itemBurst: 300 };

describe('take-2.lua: spare check and priority reservation', () => {
  it('spare: 0 on an idle bucket, and it takes nothing', async () => {
    const { keys, limiter, account } = setup(itemsOnly);
    expect(await limiter.spare(account, 100)).toBe(0);
    expect(await redis.exists(keys.bucket(account))).toBe(0);
    expect(await limiter.tryAcquire(account, 300)).toBe(0);
  });

  it('spare: refused while a taker was told to wait, even with the tokens there', async () => {
    const { limiter, account } = setup(itemsOnly);
    expect(await limiter.tryAcquire(account, 200)).toBe(0);
    expect(await limiter.spare(account, 50)).toBe(0);
    // Another instance's full request must wait for items: the budget is wanted.
    expect(await limiter.tryAcquire(account, 200)).toBeGreaterThan(0);
    expect(await limiter.spare(account, 50)).toBeGreaterThan(0);
    // A plain take of what is there still works: spare only decides for part-full requests.
    expect(await limiter.tryAcquire(account, 50)).toBe(0);
  });

  it('priority: a waiting holder reserves the next request; others take only beyond it', async () => {
    const { keys, limiter, account } = setup(itemsOnly);
    expect(await limiter.tryAcquire(account, 200)).toBe(0);
    expect(await limiter.tryAcquire(account, 150, { taker: 'quiet' })).toBeGreaterThan(0);
    expect(await redis.hget(keys.bucket(account), 'po')).toBe('quiet');
    // 100 items are there, but 150 are reserved for the holder.
    expect(await limiter.tryAcquire(account, 50)).toBeGreaterThan(0);
    expect(await limiter.spare(account, 10)).toBeGreaterThan(0);
    // A second priority taker does not displace the holder.
    expect(await limiter.tryAcquire(account, 10, { taker: 'other' })).toBeGreaterThan(0);
    expect(await redis.hget(keys.bucket(account), 'po')).toBe('quiet');
    // The items refill (set by hand: SLOW never refills): the holder takes, the reservation goes.
    await redis.hset(keys.bucket(account), 'i', 300);
    expect(await limiter.tryAcquire(account, 150, { taker: 'quiet' })).toBe(0);
    expect(await redis.hexists(keys.bucket(account), 'po')).toBe(0);
    expect(await limiter.tryAcquire(account, 50)).toBe(0);
  });

  it('priority: acquire gets the next request before a taker that waited longer', async () => {
    const { keys, limiter, account } = setup({ requestsPerSecond: 2, requestBurst: 1 });
    const other = new SharedRateLimiter(redis, keys, { requestsPerSecond: 2, requestBurst: 1 });
    expect(await limiter.tryAcquire(account)).toBe(0);
    const order: string[] = [];
    const first = other.acquire(account).then(() => order.push('waited longer'));
    // The other taker was told to wait (its demand is recorded) before the priority one asks.
    await vi.waitFor(async () => expect(await redis.hexists(keys.bucket(account), 'd')).toBe(1));
    const quiet = limiter.acquire(account, 0, undefined, true).then(() => order.push('priority'));
    await Promise.all([first, quiet]);
    expect(order).toEqual(['priority', 'waited longer']);
  });
});

describe('ChangeBuffer over the shared bucket', () => {
  it('holds a part-full batch while another taker waits, sends it full; a quiet buffer goes with priority', async () => {
    const { keys, limiter, account } = setup(itemsOnly);
    // Another instance's full request waits for items: the project's budget is contended.
    expect(await limiter.tryAcquire(account, 200)).toBe(0);
    expect(await limiter.tryAcquire(account, 200)).toBeGreaterThan(0);

    const sent: { buffer: string; ids: string[]; priority: boolean }[] = [];
    const release: (() => void)[] = [];
    const took: number[] = [];
    const make = (name: string) =>
      new ChangeBuffer<number>({
        maxItems: 3,
        flushWaitMs: 5,
        coalesce: (_a, b) => b,
        admit: (items) => limiter.spare(account, items),
        send: async (batch, { priority }) => {
          sent.push({ buffer: name, ids: batch.map((b) => b.id), priority });
          if (priority) took.push(await limiter.tryAcquire(account, batch.length, { taker: name }));
          await new Promise<void>((resolve) => release.push(resolve));
        },
      });
    const busy = make('busy');
    for (const id of ['a', 'b', 'c', 'd']) busy.add(id, 1);
    expect(sent).toEqual([{ buffer: 'busy', ids: ['a', 'b', 'c'], priority: false }]);
    const asked = vi.spyOn(limiter, 'spare');
    await vi.waitFor(() => expect(asked.mock.calls.length).toBeGreaterThanOrEqual(1));
    expect(sent).toHaveLength(1);
    busy.add('e', 1);
    busy.add('f', 1);
    expect(sent[1]).toEqual({ buffer: 'busy', ids: ['d', 'e', 'f'], priority: false });

    const quiet = make('quiet');
    quiet.add('q', 1);
    await vi.waitFor(() => expect(sent).toHaveLength(3));
    expect(sent[2]).toEqual({ buffer: 'quiet', ids: ['q'], priority: true });
    // Its 1 item fits beside the waiting 200: the priority take gets it at once, nothing reserved.
    await vi.waitFor(() => expect(took).toEqual([0]));
    expect(await redis.hexists(keys.bucket(account), 'po')).toBe(0);

    for (const r of release.splice(0)) r();
    await Promise.all([busy.idle(), quiet.idle()]);
    busy.close();
    quiet.close();
  });
});
