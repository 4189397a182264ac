/**
 * The retry policy every destination shares: bounded attempts with full-jitter backoff for failures
 * that may pass (5xx, no answer), a separate, larger budget of 429s (each pauses the whole account),
 * Retry-After parsing, and RetriesExhaustedError once the budget is spent.
 */
import { RetriesExhaustedError } from '../errors.js';

export interface RetryOptions {
  /** Tries per request when the API answers 5xx or does not answer; then its items are `failed`. @default 6 */
  maxAttempts: number;
  /** Backoff before retry k is uniform in [0, min(maxDelayMs, baseDelayMs * 2^(k-1))] (full jitter). @default 250 */
  baseDelayMs: number;
  /** @default 10000 */
  maxDelayMs: number;
  /** Shared pause after a 429 without Retry-After. @default 1000 */
  rateLimitPauseMs: number;
  /** 429s one request may take before its items are `failed`; high, since a 429 only slows us down. @default 30 */
  maxRateLimited: number;
}

export const DEFAULT_RETRY: RetryOptions = {
  maxAttempts: 6,
  baseDelayMs: 250,
  maxDelayMs: 10_000,
  rateLimitPauseMs: 1000,
  maxRateLimited: 30,
};

/** Full jitter (AWS's "exponential backoff and jitter"): retries of many clients spread out. */
export function backoffMs(failures: number, retry: RetryOptions, random = Math.random): number {
  const cap = Math.min(retry.maxDelayMs, retry.baseDelayMs * 2 ** (failures - 1));
  return Math.round(random() * cap);
}

/** Retry-After is delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfter(value: string | null, nowMs = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds * 1000));
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** One request's budgets: what the next failure or 429 may still cost, and the error once spent. */
export class RetryBudget {
  private failures = 0;
  private limited = 0;

  constructor(private readonly retry: RetryOptions) {}

  /** After a failure that may pass: the backoff before the next try, or undefined when spent. */
  failed(): number | undefined {
    return ++this.failures < this.retry.maxAttempts ? backoffMs(this.failures, this.retry) : undefined;
  }

  /** After a 429: the pause to share (Retry-After, else the configured one), or undefined when spent. */
  rateLimited(retryAfterMs: number | undefined): number | undefined {
    return ++this.limited < this.retry.maxRateLimited
      ? (retryAfterMs ?? this.retry.rateLimitPauseMs)
      : undefined;
  }

  exhausted(attempts: number, cause: unknown): RetriesExhaustedError {
    return new RetriesExhaustedError(attempts, cause);
  }
}

/** Runs `op` until it succeeds, a failure is permanent (`retriable` false), or the budget is spent. */
export async function withBackoff<T>(
  retry: RetryOptions,
  op: () => Promise<T>,
  onRetry: (attempt: number, err: unknown, delayMs: number) => void,
  isRetriable: (err: unknown) => boolean,
): Promise<T> {
  const budget = new RetryBudget(retry);
  for (let attempt = 1; ; attempt++) {
    try {
      return await op();
    } catch (err) {
      if (!isRetriable(err)) throw err;
      const delayMs = budget.failed();
      if (delayMs === undefined) throw budget.exhausted(attempt, err);
      onRetry(attempt, err, delayMs);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
