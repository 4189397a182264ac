import { createHash } from 'node:crypto';
import { describe, isRetriable, RetriesExhaustedError } from '../../errors.js';
import { createLogger, type Logger } from '../../logger.js';
import { boundMs, bucketWithin, type RateLimits, SharedRateLimiter } from '../../ratelimit/index.js';
import type { Redis } from '../../redis/connection.js';
import type { Keys } from '../../redis/keys.js';
import type { SendGate, SendOptions } from '../port.js';
import { DEFAULT_RETRY, type RetryOptions, withBackoff } from '../retry.js';
import { CATALOG_LIMITS, CatalogEnsurer, type EnsuredCatalog } from './catalogs.js';
import { BatchClient } from './client.js';
import { BatchApiError } from './errors.js';
import { type IndexingOptions, IndexingTracker } from './indexing.js';
import { encodeItem } from './items.js';
import { deliver, type SendContext } from './sender.js';
import type {
  BatchEvent,
  BatchProject,
  CatalogTarget,
  EncodedItem,
  ItemChange,
  ItemOutcome,
} from './types.js';

export const MAX_ITEMS_PER_REQUEST = 200;

/** Batch's bucket holds one second of its rates: 5 requests of 200 items (seed 002; the simulator's too). */
const BATCH_BUCKET_SECONDS = 1;

/**
 * The shared bucket of a Batch project, sized from Batch's own bucket (`limits` gives Batch's rates,
 * 5 requests/s and 1,000 items/s by default) and the send bound B (ratelimit/bound.ts): each request
 * reaches Batch within B of its grant, so the bursts leave B's worth of Batch's rates unused and the
 * rates stay Batch's. Bursts given in `limits` replace the derived ones (benchmarks).
 */
export function batchLimits(
  limits: { [K in keyof RateLimits]?: RateLimits[K] | undefined } = {},
  bound = boundMs(),
): Required<RateLimits> {
  const requestsPerSecond = limits.requestsPerSecond ?? 5;
  const itemsPerSecond = limits.itemsPerSecond ?? 1000;
  const requests = bucketWithin(
    { rate: requestsPerSecond, capacity: requestsPerSecond * BATCH_BUCKET_SECONDS, largestTake: 1 },
    bound,
  );
  const items = bucketWithin(
    {
      rate: itemsPerSecond,
      capacity: itemsPerSecond * BATCH_BUCKET_SECONDS,
      largestTake: MAX_ITEMS_PER_REQUEST,
    },
    bound,
  );
  return {
    requestsPerSecond: requests.rate,
    requestBurst: limits.requestBurst ?? requests.burst,
    itemsPerSecond: items.rate,
    itemBurst: limits.itemBurst ?? items.burst,
    headroom: limits.headroom ?? 1,
  };
}

/** With B = 500 ms: bursts of 2 requests and 500 items, refilled at Batch's own rates. */
export const BATCH_LIMITS: Required<RateLimits> = batchLimits();

export interface BatchDestinationOptions {
  redis: Redis;
  keys: Keys;
  logger?: Logger;
  /** Batch's per-project limits; the shared bucket is derived from them by batchLimits(). */
  limits?: Partial<RateLimits>;
  /** Defaults in DEFAULT_RETRY. */
  retry?: Partial<RetryOptions>;
  /** Called synchronously for each event; a throwing listener is logged, never breaks a send. */
  onEvent?: (event: BatchEvent) => void;
  /** Poll indexing tokens and emit `indexing_applied`. @default true */
  trackIndexing?: boolean;
  indexing?: Partial<IndexingOptions>;
  /** Per HTTP call. @default 15000 */
  timeoutMs?: number;
  /** Token wait of each request, ms (metrics, benchmark). */
  onTokenWait?: (ms: number) => void;
  /** Age of each grant right before its request was written; `stale` ones were taken again. */
  onGrantAge?: (ms: number, stale: boolean) => void;
}

/**
 * Applies item changes to Batch catalogs: validates and encodes them, takes tokens from the project's
 * bucket shared in Redis, sends, retries and bisects, and reports one outcome per change.
 */
export class BatchDestination {
  private readonly limiter: SharedRateLimiter;
  private readonly catalogs: CatalogEnsurer;
  private readonly tracker: IndexingTracker | undefined;
  private readonly clients = new Map<string, BatchClient>();
  private readonly retry: RetryOptions;
  private readonly logger: Logger;

  constructor(private readonly opts: BatchDestinationOptions) {
    this.logger = opts.logger ?? createLogger({ name: 'batch-destination' });
    this.limiter = new SharedRateLimiter(opts.redis, opts.keys, batchLimits(opts.limits));
    this.retry = { ...DEFAULT_RETRY, ...definedOnly(opts.retry) };
    this.catalogs = new CatalogEnsurer(opts.redis, opts.keys, this.logger);
    if (opts.trackIndexing ?? true) {
      this.tracker = new IndexingTracker(
        (catalog, indexingToken, itemIds) =>
          this.emit({ type: 'indexing_applied', catalog, indexingToken, itemIds }),
        this.logger,
        opts.indexing,
      );
    }
  }

  /** Creates the catalog, or adds the target's missing fields; cached per process. */
  async ensureCatalog(target: CatalogTarget): Promise<void> {
    await this.ensure(target);
  }

  /**
   * Settles every change: one outcome each, in the order given. Changes to the same id go out in
   * successive requests, in order. Rejects only when Redis fails or on a programming error.
   */
  async send(
    target: CatalogTarget,
    changes: ItemChange[],
    gate?: SendGate,
    options?: SendOptions,
  ): Promise<ItemOutcome[]> {
    const outcomes: ItemOutcome[] = new Array(changes.length);
    const encoded: { index: number; item: EncodedItem }[] = [];
    for (const [index, change] of changes.entries()) {
      const result = encodeItem(change, target.fields);
      if (result.ok) {
        encoded.push({ index, item: result.item });
        continue;
      }
      const { code, reason } = result;
      outcomes[index] = { id: String(change.id), status: 'rejected', code, reason };
      this.emit({ type: 'item_rejected', catalog: target.catalog, id: String(change.id), code, reason });
    }
    if (encoded.length === 0) return outcomes;

    let ensured: EnsuredCatalog;
    try {
      ensured = await this.ensure(target);
    } catch (err) {
      if (!(err instanceof BatchApiError || err instanceof RetriesExhaustedError)) throw err;
      const reason = `catalog "${target.catalog}" could not be ensured: ${describe(err)}`;
      const ids = encoded.map((e) => e.item.id);
      this.emit({
        type: 'request_rejected',
        catalog: target.catalog,
        itemIds: ids,
        code: err.code,
        message: reason,
      });
      for (const { index, item } of encoded)
        outcomes[index] = { id: item.id, status: 'failed', code: err.code, reason };
      return outcomes;
    }

    const ctx = {
      ...this.context(target),
      ...(gate ? { gate } : {}),
      ...(options?.priority ? { priority: true } : {}),
    };
    for (const request of requests(encoded, ensured, target.catalog, outcomes)) {
      const settled = await deliver(
        ctx,
        request.map((r) => r.item),
      );
      for (const [i, { index }] of request.entries()) outcomes[index] = settled[i]!;
    }
    return outcomes;
  }

  /** Whether a part-full request of `items` to the project would spend budget nobody else waits for. */
  spare(project: BatchProject, items: number): Promise<number> {
    return this.limiter.spare(accountOf(project), items);
  }

  /** Stops the indexing tracker; tokens still pending are not reported. */
  async close(): Promise<void> {
    await this.tracker?.close();
  }

  private context(target: CatalogTarget): SendContext {
    const client = this.client(target.project);
    const account = accountOf(target.project);
    return {
      client,
      account,
      catalog: target.catalog,
      limiter: this.limiter,
      retry: this.retry,
      logger: this.logger,
      emit: (e) => this.emit(e),
      onAccepted: (token, ids) =>
        this.tracker?.track(`${account}\0${target.catalog}`, client, target.catalog, token, ids),
      recover: async () => {
        this.catalogs.forget(account, target.catalog);
        try {
          await this.ensure(target);
          return true;
        } catch (err) {
          this.logger.error({ catalog: target.catalog, err }, 'catalog vanished and could not be re-created');
          return false;
        }
      },
      ...(this.opts.onTokenWait ? { onTokenWait: this.opts.onTokenWait } : {}),
      ...(this.opts.onGrantAge ? { onGrantAge: this.opts.onGrantAge } : {}),
    };
  }

  /** Ensures with the retry policy, since a lost reply or a 5xx must not fail a whole batch at once. */
  private async ensure(target: CatalogTarget): Promise<EnsuredCatalog> {
    const client = this.client(target.project);
    const account = accountOf(target.project);
    return withBackoff(
      this.retry,
      () => this.catalogs.ensure(client, account, target.catalog, target.fields),
      (attempt, err) =>
        this.logger.info({ catalog: target.catalog, attempt, err }, 'ensuring catalog failed; retrying'),
      isRetriable,
    );
  }

  private client(project: BatchProject): BatchClient {
    const key = `${project.baseUrl}\0${project.projectKey}\0${project.restApiKey}`;
    let client = this.clients.get(key);
    if (!client) {
      client = new BatchClient(
        project,
        this.opts.timeoutMs === undefined ? {} : { timeoutMs: this.opts.timeoutMs },
      );
      this.clients.set(key, client);
    }
    return client;
  }

  private emit(event: BatchEvent): void {
    try {
      this.opts.onEvent?.(event);
    } catch (err) {
      this.logger.error({ err, type: event.type }, 'Batch event listener failed');
    }
  }
}

function definedOnly<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The rate-limit account of a project: every instance derives the same one, and no key appears in
 * Redis key names.
 */
export function accountOf(project: BatchProject): string {
  return `batch:${createHash('sha256').update(project.projectKey).digest('hex').slice(0, 24)}`;
}

/**
 * Groups encoded changes into requests of at most 200 with unique ids (Batch refuses an id twice in one
 * request), keeping each id's changes in order. When the catalog is known to be full, adds fail here.
 */
function* requests(
  encoded: { index: number; item: EncodedItem }[],
  ensured: EnsuredCatalog,
  catalog: string,
  outcomes: ItemOutcome[],
): Generator<{ index: number; item: EncodedItem }[]> {
  let pending = encoded;
  if ((ensured.items ?? 0) >= CATALOG_LIMITS.maxItems) {
    const reason = `catalog "${catalog}" holds ${ensured.items} items, the documented maximum is ${CATALOG_LIMITS.maxItems}`;
    for (const e of pending) {
      if (e.item.action === 'add')
        outcomes[e.index] = { id: e.item.id, status: 'failed', code: 'BATCH_CATALOG_FULL', reason };
    }
    pending = pending.filter((e) => e.item.action !== 'add');
  }
  while (pending.length > 0) {
    const seen = new Set<string>();
    const round: typeof pending = [];
    const later: typeof pending = [];
    for (const e of pending) {
      if (seen.has(e.item.id)) later.push(e);
      else {
        seen.add(e.item.id);
        round.push(e);
      }
    }
    for (let i = 0; i < round.length; i += MAX_ITEMS_PER_REQUEST)
      yield round.slice(i, i + MAX_ITEMS_PER_REQUEST);
    pending = later;
  }
}
