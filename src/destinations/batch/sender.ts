import { setTimeout as sleep } from 'node:timers/promises';
import { describe } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { MAX_STALE_GRANTS, type SharedRateLimiter, StaleGrantError } from '../../ratelimit/index.js';
import type { SendGate } from '../port.js';
import { RetryBudget, type RetryOptions } from '../retry.js';
import type { BatchClient } from './client.js';
import { BatchApiError, BatchNotFoundError, BatchRateLimitedError, BatchValidationError } from './errors.js';
import type { BatchEvent, EncodedItem, ItemOutcome } from './types.js';

/** Everything one `send` needs to reach one catalog. */
export interface SendContext {
  client: BatchClient;
  /** Rate-limit account of the project (no key in it). */
  account: string;
  catalog: string;
  limiter: SharedRateLimiter;
  retry: RetryOptions;
  logger: Logger;
  emit: (event: BatchEvent) => void;
  onAccepted: (token: string, itemIds: string[]) => void;
  /** Re-creates a catalog that vanished (404 on items/edit); resolves false if that is not possible. */
  recover: () => Promise<boolean>;
  /** Token wait per request, for metrics and the benchmark. */
  onTokenWait?: (ms: number) => void;
  /** Age of each grant when its request was about to be written, and whether it was too old to use. */
  onGrantAge?: (ms: number, stale: boolean) => void;
  gate?: SendGate;
  /** Takes the project's next request ahead of other waiting takers (SendOptions.priority). */
  priority?: boolean;
}

/**
 * Sends one request (at most 200 items, unique ids) and settles every item: retries 429 (shared pause)
 * and 5xx/network errors (bounded, full jitter), bisects a 400 to isolate the items Batch refuses.
 * Every wait (gate, backoff, pause) comes before the tokens are taken; the grant is checked once more
 * right before the request is written and, if it got stale meanwhile, taken again (bound.ts).
 * Resending after a lost reply is safe: add and remove are idempotent.
 */
export async function deliver(ctx: SendContext, all: EncodedItem[]): Promise<ItemOutcome[]> {
  const abandoned = new Set<string>();
  const outcomes = (settled: ItemOutcome[]): ItemOutcome[] => {
    if (abandoned.size === 0) return settled;
    const byId = new Map(settled.map((o) => [o.id, o]));
    return all.map((i) => byId.get(i.id) ?? { id: i.id, status: 'abandoned' });
  };
  let items = all;
  let ids = items.map((i) => i.id);
  const leaveOut = (drop: ReadonlySet<string>) => {
    if (drop.size === 0) return;
    for (const id of drop) abandoned.add(id);
    items = items.filter((i) => !drop.has(i.id));
    ids = items.map((i) => i.id);
  };
  const budget = new RetryBudget(ctx.retry);
  let attempt = 0;
  let stale = 0;
  let recovered = false;
  for (;;) {
    const pass = await ctx.gate?.pass(ids);
    if (pass) leaveOut(pass.drop);
    if (items.length === 0) return outcomes([]);
    const grant = await ctx.limiter.acquire(ctx.account, items.length, undefined, ctx.priority);
    ctx.onTokenWait?.(grant.waitedMs);
    const entry = await pass?.enter();
    if (pass && !entry) continue;
    if (entry) leaveOut(entry.drop);
    if (items.length === 0) {
      await entry?.release();
      return outcomes([]);
    }
    const check = () => grant.check(ctx.onGrantAge, stale >= MAX_STALE_GRANTS);
    attempt++;
    let err: unknown;
    const began = performance.now();
    try {
      const token = await ctx.client.editItems(ctx.catalog, items, check);
      ctx.emit({
        type: 'request_accepted',
        catalog: ctx.catalog,
        itemIds: ids,
        indexingToken: token,
        attempt,
      });
      ctx.onAccepted(token, ids);
      return outcomes(ids.map((id) => ({ id, status: 'accepted', indexingToken: token })));
    } catch (caught) {
      err = caught;
    } finally {
      await entry?.release();
    }
    if (err instanceof StaleGrantError) {
      attempt--;
      if (++stale === MAX_STALE_GRANTS) {
        ctx.logger.warn(
          { catalog: ctx.catalog, ageMs: Math.round(err.ageMs) },
          'grants keep going stale; sending with the next one',
        );
      } else {
        ctx.logger.info(
          { catalog: ctx.catalog, ageMs: Math.round(err.ageMs) },
          'tokens went stale before the request left; taking them again',
        );
      }
      continue;
    }
    if (!(err instanceof BatchApiError)) throw err;

    if (err instanceof BatchValidationError) return outcomes(await bisect(ctx, items, err));

    const pauseMs = err instanceof BatchRateLimitedError ? budget.rateLimited(err.retryAfterMs) : undefined;
    if (pauseMs !== undefined) {
      // The next acquire sleeps through the pause, which every instance of the project shares.
      const pausedMs = await ctx.limiter.pause(ctx.account, pauseMs);
      ctx.logger.warn({ catalog: ctx.catalog, attempt, pausedMs }, 'Batch answered 429; pausing the project');
      retried(ctx, ids, attempt, err, pausedMs);
      continue;
    }

    if (err instanceof BatchNotFoundError && !recovered) {
      recovered = true;
      if (await ctx.recover()) continue;
    }

    const delayMs = err.retriable && !(err instanceof BatchRateLimitedError) ? budget.failed() : undefined;
    if (delayMs !== undefined) {
      const elapsedMs = Math.round(performance.now() - began);
      ctx.logger.info(
        { catalog: ctx.catalog, attempt, code: err.code, elapsedMs, delayMs },
        'Batch request failed; retrying',
      );
      retried(ctx, ids, attempt, err, delayMs);
      await sleep(delayMs);
      continue;
    }

    const message = err.retriable ? budget.exhausted(attempt, err).message : describe(err);
    ctx.logger.error(
      { catalog: ctx.catalog, attempt, code: err.code, items: ids.length },
      'Batch request failed',
    );
    ctx.emit({ type: 'request_rejected', catalog: ctx.catalog, itemIds: ids, code: err.code, message });
    return outcomes(ids.map((id) => ({ id, status: 'failed', code: err.code, reason: message })));
  }
}

function retried(
  ctx: SendContext,
  ids: string[],
  attempt: number,
  err: BatchApiError,
  delayMs: number,
): void {
  ctx.emit({
    type: 'request_retried',
    catalog: ctx.catalog,
    itemIds: ids,
    attempt,
    ...(err.status === undefined ? {} : { status: err.status }),
    code: err.code,
    delayMs,
  });
}

/** Halves a refused request until each refused item stands alone; the halves Batch accepts go through. */
async function bisect(
  ctx: SendContext,
  items: EncodedItem[],
  err: BatchValidationError,
): Promise<ItemOutcome[]> {
  const ids = items.map((i) => i.id);
  ctx.emit({
    type: 'request_rejected',
    catalog: ctx.catalog,
    itemIds: ids,
    code: err.code,
    message: err.message,
  });
  if (items.length === 1) {
    const id = ids[0]!;
    ctx.emit({ type: 'item_rejected', catalog: ctx.catalog, id, code: err.code, reason: err.message });
    return [{ id, status: 'rejected', code: err.code, reason: err.message }];
  }
  ctx.logger.debug({ catalog: ctx.catalog, items: items.length }, 'Batch refused a request; bisecting');
  const middle = Math.ceil(items.length / 2);
  const first = await deliver(ctx, items.slice(0, middle));
  const second = await deliver(ctx, items.slice(middle));
  return [...first, ...second];
}
