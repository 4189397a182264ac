import { setTimeout as sleep } from 'node:timers/promises';
import { describe } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { MAX_STALE_GRANTS, type SharedRateLimiter, StaleGrantError } from '../../ratelimit/index.js';
import type { SendGate } from '../port.js';
import { RetryBudget, type RetryOptions } from '../retry.js';
import { YotpoApiError, YotpoRateLimitedError } from './errors.js';
import type { YotpoEvent } from './types.js';

export interface RequestContext {
  /** Rate-limit account of the store (a hash, no secret in it). */
  account: string;
  limiter: SharedRateLimiter;
  retry: RetryOptions;
  logger: Logger;
  emit: (event: YotpoEvent) => void;
  onTokenWait?: (ms: number) => void;
  /** Age of each grant when its request was about to be written, and whether it was too old to use. */
  onGrantAge?: (ms: number, stale: boolean) => void;
}

export type Attempted<T> =
  | { ok: true; value: T; attempt: number }
  /** The gate left it out: its partition moved to another owner, which replays it. */
  | { ok: false; abandoned: true; attempt: number }
  | { ok: false; abandoned: false; error: YotpoApiError; attempt: number; message: string };

/**
 * One Yotpo call through the store's shared bucket: a 429 pauses every instance of the store (Retry-After,
 * else the configured pause) and retries; 5xx and network errors retry with full-jitter backoff, bounded.
 * As for Batch, tokens are taken after every wait and checked for staleness right before the write:
 * `call` hands `beforeSend` to the client. A customer upsert is idempotent, so resending is safe.
 */
export async function withRetries<T>(
  ctx: RequestContext,
  itemIds: string[],
  call: (beforeSend: () => void) => Promise<T>,
  gate?: SendGate,
): Promise<Attempted<T>> {
  const budget = new RetryBudget(ctx.retry);
  let attempt = 0;
  let stale = 0;
  for (;;) {
    const pass = await gate?.pass(itemIds);
    if (pass && pass.drop.size > 0) return { ok: false, abandoned: true, attempt };
    const grant = await ctx.limiter.acquire(ctx.account);
    ctx.onTokenWait?.(grant.waitedMs);
    const entry = await pass?.enter();
    if (pass && !entry) continue;
    if (entry && entry.drop.size > 0) {
      await entry.release();
      return { ok: false, abandoned: true, attempt };
    }
    attempt++;
    let err: unknown;
    try {
      return {
        ok: true,
        value: await call(() => grant.check(ctx.onGrantAge, stale >= MAX_STALE_GRANTS)),
        attempt,
      };
    } catch (caught) {
      err = caught;
    } finally {
      await entry?.release();
    }
    if (err instanceof StaleGrantError) {
      attempt--;
      if (++stale === MAX_STALE_GRANTS) {
        ctx.logger.warn(
          { ageMs: Math.round(err.ageMs) },
          'grants keep going stale; sending with the next one',
        );
      } else {
        ctx.logger.info(
          { ageMs: Math.round(err.ageMs) },
          'tokens went stale before the request left; taking them again',
        );
      }
      continue;
    }
    if (!(err instanceof YotpoApiError)) throw err;
    const pauseMs = err instanceof YotpoRateLimitedError ? budget.rateLimited(err.retryAfterMs) : undefined;
    if (pauseMs !== undefined) {
      const pausedMs = await ctx.limiter.pause(ctx.account, pauseMs);
      ctx.logger.warn({ attempt, pausedMs }, 'Yotpo answered 429; pausing the store');
      retried(ctx, itemIds, attempt, err, pausedMs);
      continue;
    }
    const delayMs = err.retriable && !(err instanceof YotpoRateLimitedError) ? budget.failed() : undefined;
    if (delayMs !== undefined) {
      ctx.logger.info({ attempt, code: err.code, delayMs }, 'Yotpo request failed; retrying');
      retried(ctx, itemIds, attempt, err, delayMs);
      await sleep(delayMs);
      continue;
    }
    const message = err.retriable ? budget.exhausted(attempt, err).message : describe(err);
    return { ok: false, abandoned: false, error: err, attempt, message };
  }
}

function retried(
  ctx: RequestContext,
  itemIds: string[],
  attempt: number,
  err: YotpoApiError,
  delayMs: number,
) {
  ctx.emit({
    type: 'request_retried',
    itemIds,
    attempt,
    ...(err.status === undefined ? {} : { status: err.status }),
    code: err.code,
    delayMs,
  });
}
