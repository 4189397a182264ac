import { describe, expect, it } from 'vitest';
import {
  backoffMs,
  DEFAULT_RETRY,
  parseRetryAfter,
  RetryBudget,
  withBackoff,
} from '../../src/destinations/retry.js';
import { RetriesExhaustedError } from '../../src/errors.js';

const fast = { ...DEFAULT_RETRY, baseDelayMs: 1, maxDelayMs: 4, maxAttempts: 3, maxRateLimited: 2 };

describe('the shared retry policy', () => {
  it('backs off with full jitter under a doubling cap', () => {
    expect([1, 2, 3, 10].map((f) => backoffMs(f, DEFAULT_RETRY, () => 1))).toEqual([250, 500, 1000, 10_000]);
    expect(backoffMs(5, DEFAULT_RETRY, () => 0)).toBe(0);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(parseRetryAfter('1.5')).toBe(1500);
    expect(
      parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.parse('Wed, 21 Oct 2015 07:28:00 GMT')),
    ).toBe(10_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });

  it('spends failures and 429s from separate budgets, and says so with a typed error', () => {
    const b = new RetryBudget(fast);
    expect(b.failed()).toBeTypeOf('number');
    expect(b.rateLimited(700)).toBe(700);
    expect(b.rateLimited(undefined)).toBeUndefined();
    expect(b.failed()).toBeTypeOf('number');
    expect(b.failed()).toBeUndefined();
    const err = b.exhausted(3, new Error('503'));
    expect(err).toBeInstanceOf(RetriesExhaustedError);
    expect(err).toMatchObject({ code: 'RETRIES_EXHAUSTED', attempts: 3, retriable: false });
    expect(err.message).toBe('gave up after 3 attempts: 503');
  });

  it('withBackoff retries what may pass, stops at a permanent failure or an empty budget', async () => {
    let calls = 0;
    const flaky = () => (++calls < 3 ? Promise.reject(new Error('5xx')) : Promise.resolve('ok'));
    expect(
      await withBackoff(
        fast,
        flaky,
        () => undefined,
        () => true,
      ),
    ).toBe('ok');
    expect(calls).toBe(3);
    await expect(
      withBackoff(
        fast,
        () => Promise.reject(new Error('400')),
        () => undefined,
        () => false,
      ),
    ).rejects.toThrow('400');
    await expect(
      withBackoff(
        fast,
        () => Promise.reject(new Error('5xx')),
        () => undefined,
        () => true,
      ),
    ).rejects.toBeInstanceOf(RetriesExhaustedError);
  });
});
