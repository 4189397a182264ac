import { CatalogSyncError } from '../errors.js';

/**
 * A request's tokens went unused because they were granted too long before the request could be
 * written: sent now, the request could reach the API in a bunch with requests granted later.
 */
export class StaleGrantError extends CatalogSyncError {
  constructor(
    readonly ageMs: number,
    readonly maxAgeMs: number,
  ) {
    super(
      'RATE_GRANT_STALE',
      `tokens granted up to ${Math.round(ageMs)} ms ago, over the ${maxAgeMs} ms bound: not sent, taken again`,
      { retriable: true },
    );
  }
}

/**
 * Stale grants one request may throw away; then it is sent with the next grant whatever its age, since
 * a request that can never leave is worse than a 429 (which only pauses the account).
 */
export const MAX_STALE_GRANTS = 5;

/** Tokens taken for one request; see bound.ts for why they expire. */
export class Grant {
  constructor(
    /** performance.now() when the take that succeeded was sent to Redis: the grant is no older than that. */
    readonly askedAt: number,
    /** Time spent waiting for the tokens, ms. */
    readonly waitedMs: number,
    readonly maxAgeMs: number,
  ) {}

  /** Upper bound of the grant's age, ms. */
  ageMs(now = performance.now()): number {
    return now - this.askedAt;
  }

  /**
   * Right before the request is written: reports the age, then throws StaleGrantError when it is over
   * the bound, unless `force` (the caller gave up waiting for a fresh grant).
   */
  check(onAge?: (ms: number, stale: boolean) => void, force = false): void {
    const age = this.ageMs();
    const stale = age > this.maxAgeMs;
    onAge?.(age, stale);
    if (stale && !force) throw new StaleGrantError(age, this.maxAgeMs);
  }
}
