import { performance } from 'node:perf_hooks';

/** A continuously refilled bucket holding at most `rate` tokens (one second of budget). */
class Bucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly rate: number,
    now: number,
  ) {
    this.tokens = rate;
    this.at = now;
  }

  get capacity(): number {
    return this.rate;
  }

  refill(now: number): void {
    this.tokens = Math.min(this.rate, this.tokens + ((now - this.at) * this.rate) / 1000);
    this.at = now;
  }

  /** Milliseconds until `n` tokens are available; 0 when they are now. */
  waitMs(n: number): number {
    return this.tokens >= n ? 0 : ((n - this.tokens) * 1000) / this.rate;
  }

  take(n: number): void {
    this.tokens -= n;
  }
}

export type TakeResult = { ok: true } | { ok: false; retryAfterMs: number };

/**
 * The two buckets of one project's items/edit budget (seed 002): requests and item updates.
 * Both are checked before either is taken, so a refused request consumes nothing.
 */
export class EditRateLimiter {
  private readonly requests: Bucket;
  private readonly items: Bucket;

  constructor(
    readonly requestsPerSecond: number,
    readonly itemsPerSecond: number,
  ) {
    const now = performance.now();
    this.requests = new Bucket(requestsPerSecond, now);
    this.items = new Bucket(itemsPerSecond, now);
  }

  get itemCapacity(): number {
    return this.items.capacity;
  }

  take(items: number): TakeResult {
    const now = performance.now();
    this.requests.refill(now);
    this.items.refill(now);
    const wait = Math.max(this.requests.waitMs(1), this.items.waitMs(items));
    if (wait > 0) return { ok: false, retryAfterMs: wait };
    this.requests.take(1);
    this.items.take(items);
    return { ok: true };
  }
}
