import { describe, expect, it } from 'vitest';
import { type ApiBucket, bucketWithin } from '../../src/ratelimit/index.js';

/** A continuously refilled bucket, starting full: the API's (as the simulator's) and ours alike. */
class Bucket {
  private tokens: number;
  private at = 0;

  constructor(
    private readonly rate: number,
    private readonly capacity: number,
  ) {
    this.tokens = capacity;
  }

  level(now: number): number {
    return Math.min(this.capacity, this.tokens + ((now - this.at) * this.rate) / 1000);
  }

  /** Earliest time from `now` at which `n` tokens are there. */
  readyAt(now: number, n: number): number {
    const level = this.level(now);
    return level >= n ? now : now + ((n - level) * 1000) / this.rate;
  }

  take(now: number, n: number): boolean {
    const level = this.level(now);
    // Rounding of the refill arithmetic, not slack: a millionth of a token.
    if (level + 1e-6 < n) return false;
    this.tokens = level - n;
    this.at = now;
    return true;
  }
}

function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const REQUESTS: ApiBucket = { rate: 5, capacity: 5, largestTake: 1 };
const ITEMS: ApiBucket = { rate: 1000, capacity: 1000, largestTake: 200 };

/**
 * Greedy senders take tokens from the derived buckets as early as they can (with idle gaps now and
 * then, so the buckets refill and bursts happen); each request reaches the API `delay()` ms after its
 * grant. Answers how many requests the API's buckets refuse.
 */
function refusals(seed: number, boundMs: number, delay: (r: () => number) => number): number {
  const r = random(seed);
  const req = bucketWithin(REQUESTS, boundMs);
  const items = bucketWithin(ITEMS, boundMs);
  const ours = { req: new Bucket(req.rate, req.burst), items: new Bucket(items.rate, items.burst) };
  const arrivals: { at: number; n: number }[] = [];
  let now = 0;
  for (let i = 0; i < 400; i++) {
    if (r() < 0.05) now += r() * 2000;
    const n = r() < 0.7 ? 200 : 1 + Math.floor(r() * 200);
    now = Math.max(ours.req.readyAt(now, 1), ours.items.readyAt(now, n));
    expect(ours.req.take(now, 1) && ours.items.take(now, n)).toBe(true);
    arrivals.push({ at: now + delay(r), n });
  }
  arrivals.sort((a, b) => a.at - b.at);
  const api = {
    req: new Bucket(REQUESTS.rate, REQUESTS.capacity),
    items: new Bucket(ITEMS.rate, ITEMS.capacity),
  };
  let refused = 0;
  for (const { at, n } of arrivals) {
    if (api.req.level(at) + 1e-6 >= 1 && api.items.level(at) + 1e-6 >= n) {
      api.req.take(at, 1);
      api.items.take(at, n);
    } else refused++;
  }
  return refused;
}

/** Delays in [0, max]: mostly the extremes, which bunch requests the most, some in between. */
const spread = (max: number) => (r: () => number) => {
  const x = r();
  return x < 0.4 ? 0 : x < 0.8 ? max : r() * max;
};

describe('bucketWithin (bound.ts)', () => {
  it('sizes the burst as the API capacity less B of its rate, at the API rate', () => {
    expect(bucketWithin(REQUESTS, 500)).toEqual({ rate: 5, burst: 2 });
    expect(bucketWithin(ITEMS, 500)).toEqual({ rate: 1000, burst: 500 });
    expect(bucketWithin(ITEMS, 300)).toEqual({ rate: 1000, burst: 700 });
  });

  it('keeps one whole take and lowers the rate when the API bucket is too small for B', () => {
    const tight = bucketWithin({ rate: 1, capacity: 1, largestTake: 1 }, 500);
    expect(tight.burst).toBe(1);
    expect(tight.rate).toBeCloseTo(1 / 1.5, 6);
    const items = bucketWithin({ rate: 300, capacity: 300, largestTake: 200 }, 500);
    expect(items.burst).toBe(200);
    expect(items.rate).toBeLessThan(300);
  });

  it('the API refuses nothing when every request arrives within B of its grant', () => {
    for (const bound of [0, 100, 500, 800]) {
      for (let seed = 1; seed <= 40; seed++) expect(refusals(seed, bound, spread(bound))).toBe(0);
    }
  });

  it('the API does refuse some when requests arrive later than B after their grant', () => {
    let refused = 0;
    for (let seed = 1; seed <= 40; seed++) refused += refusals(seed, 500, spread(1500));
    expect(refused).toBeGreaterThan(0);
  });
});
