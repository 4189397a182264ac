import { createHash } from 'node:crypto';
import type { CountryCode } from 'libphonenumber-js';
import type { Logger } from '../../logger.js';
import { boundMs, bucketWithin, type RateLimits, SharedRateLimiter } from '../../ratelimit/index.js';
import type { Redis } from '../../redis/connection.js';
import type { Keys } from '../../redis/keys.js';
import type { DestinationChange, DestinationOutcome, SendGate, SyncDestination } from '../port.js';
import { DEFAULT_RETRY, type RetryOptions } from '../retry.js';
import { YotpoClient } from './client.js';
import { type ContactRules, encodeContact } from './contact.js';
import { YotpoValidationError } from './errors.js';
import { ContactCache, DEFAULT_EXISTENCE, type ExistenceOptions } from './existence.js';
import { AttributeFingerprint } from './fingerprint.js';
import { type RequestContext, withRetries } from './sender.js';
import { YOTPO_LABEL } from './status.js';
import { IDENTITY_FIELD, type MatchKey, type YotpoEvent, type YotpoStore } from './types.js';

/** Changes per `send`: one look-up request covers them when insert mode is off. */
export const MAX_CHANGES_PER_SEND = 50;
/** Identities per look-up request (Yotpo pages customer look-ups; the simulator takes up to 100). */
const LOOKUP_PAGE = 50;

export interface YotpoLimits {
  /** Requests per second the store allows (upserts and look-ups alike). */
  requestsPerSecond: number;
  /** Requests in flight per destination. @default 8 */
  concurrency?: number;
  /** Share of the rate the shared bucket runs at. @default 0.98 */
  headroom?: number;
}

/** A store's bucket holds one second of its rate (as Batch's does; the simulator's too). */
const STORE_BUCKET_SECONDS = 1;

/** The store's shared bucket, sized from the store's own bucket and the send bound B (ratelimit/bound.ts). */
export function yotpoLimits(limits: YotpoLimits, bound = boundMs()): RateLimits {
  const rate = limits.requestsPerSecond;
  const bucket = bucketWithin({ rate, capacity: rate * STORE_BUCKET_SECONDS, largestTake: 1 }, bound);
  return { requestsPerSecond: bucket.rate, requestBurst: bucket.burst, headroom: limits.headroom ?? 0.98 };
}

export interface YotpoDestinationOptions {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  store: YotpoStore;
  matchKey: MatchKey;
  /** Creates contacts Yotpo does not know; off, they are skipped with code NOT_FOUND. */
  insertMode: boolean;
  /** Every mapped attribute, in configuration order (the fingerprint layout). */
  attributes: string[];
  /** The subset exported as custom properties. */
  custom: string[];
  defaultCountry?: CountryCode;
  limits: YotpoLimits;
  retry?: Partial<RetryOptions>;
  existence?: Partial<ExistenceOptions>;
  onEvent?: (event: YotpoEvent) => void;
  onTokenWait?: (ms: number) => void;
  /** Age of each grant right before its request was written; `stale` ones were taken again. */
  onGrantAge?: (ms: number, stale: boolean) => void;
}

type Pending = {
  index: number;
  change: DestinationChange;
  identity: string;
  customer: Record<string, unknown>;
  omitted: string[];
};

/**
 * A sync's Yotpo contacts behind the pipeline's port. One customer per request, so a `send` runs its
 * upserts concurrently (bounded) through the store's shared rate limit, and sends only the attributes
 * whose fingerprint moved since the last accepted send.
 */
export class YotpoDestination implements SyncDestination {
  readonly label = YOTPO_LABEL;
  readonly maxItemsPerRequest = MAX_CHANGES_PER_SEND;
  private readonly client: YotpoClient;
  private readonly fp: AttributeFingerprint;
  private readonly rules: ContactRules;
  private readonly cache: ContactCache;
  private readonly ctx: RequestContext;
  private readonly slots: Slots;

  constructor(private readonly opts: YotpoDestinationOptions) {
    this.client = new YotpoClient(opts.store);
    this.fp = new AttributeFingerprint(opts.attributes);
    this.rules = {
      matchKey: opts.matchKey,
      custom: new Set(opts.custom),
      ...(opts.defaultCountry ? { defaultCountry: opts.defaultCountry } : {}),
    };
    const account = accountOf(opts.store);
    this.cache = new ContactCache(opts.redis, opts.keys, account, IDENTITY_FIELD[opts.matchKey], {
      ...DEFAULT_EXISTENCE,
      ...opts.existence,
    });
    this.ctx = {
      account,
      limiter: new SharedRateLimiter(opts.redis, opts.keys, yotpoLimits(opts.limits)),
      retry: { ...DEFAULT_RETRY, ...opts.retry },
      logger: opts.logger,
      emit: (e) => opts.onEvent?.(e),
      ...(opts.onTokenWait ? { onTokenWait: opts.onTokenWait } : {}),
      ...(opts.onGrantAge ? { onGrantAge: opts.onGrantAge } : {}),
    };
    this.slots = new Slots(opts.limits.concurrency ?? 8);
  }

  /** Nothing to create in Yotpo: the store exists or every request says so. */
  async ensure(): Promise<void> {}

  fingerprint(values: Record<string, unknown>): string {
    return this.fp.of(values);
  }

  async send(changes: DestinationChange[], gate?: SendGate): Promise<DestinationOutcome[]> {
    const outcomes: DestinationOutcome[] = new Array(changes.length);
    const pending: Pending[] = [];
    changes.forEach((change, index) => {
      const { id } = change;
      if (change.action === 'remove') {
        const reason = 'Yotpo syncs do not delete contacts';
        outcomes[index] = { id, status: 'skipped', code: 'YOTPO_NO_DELETE', reason };
        return;
      }
      const values = change.values ?? {};
      const encoded = encodeContact(this.rules, id, values, this.fp.changed(values, change.previousFp));
      if (!encoded.ok) {
        this.ctx.emit({ type: 'item_rejected', id, code: encoded.code, reason: encoded.reason });
        outcomes[index] = { id, status: 'rejected', code: encoded.code, reason: encoded.reason };
      } else if (encoded.sent === 0 && change.previousFp) {
        // Only null values changed: Yotpo cannot clear an attribute, so there is nothing to send.
        outcomes[index] = { id, status: 'accepted', indexingToken: '' };
      } else {
        pending.push({ index, change, ...encoded });
      }
    });
    const toSend = this.opts.insertMode ? pending : await this.existing(pending, outcomes);
    await Promise.all(toSend.map((p) => this.slots.run(() => this.upsert(p, outcomes, gate))));
    await this.cache.set(
      toSend
        .filter((p) => outcomes[p.index]?.status === 'accepted')
        .map((p) => ({ identity: p.identity, exists: true })),
    );
    return outcomes;
  }

  async close(): Promise<void> {}

  private async upsert(p: Pending, outcomes: DestinationOutcome[], gate?: SendGate): Promise<void> {
    const id = p.change.id;
    const result = await withRetries(
      this.ctx,
      [id],
      (beforeSend) => this.client.upsertCustomer(p.customer, beforeSend),
      gate,
    );
    if (!result.ok && result.abandoned) {
      outcomes[p.index] = { id, status: 'abandoned' };
      return;
    }
    if (result.ok) {
      this.ctx.emit({
        type: 'request_accepted',
        itemIds: [id],
        attempt: result.attempt,
        ...(p.omitted.length > 0 ? { omitted: p.omitted } : {}),
      });
      outcomes[p.index] = { id, status: 'accepted', indexingToken: '' };
      return;
    }
    const { error, message } = result;
    if (error instanceof YotpoValidationError) {
      this.ctx.emit({ type: 'item_rejected', id, code: error.code, reason: message });
      outcomes[p.index] = { id, status: 'rejected', code: error.code, reason: message };
      return;
    }
    this.opts.logger.error({ code: error.code, attempt: result.attempt }, 'Yotpo upsert failed');
    this.ctx.emit({ type: 'request_rejected', itemIds: [id], code: error.code, message });
    outcomes[p.index] = { id, status: 'failed', code: error.code, reason: message };
  }

  /** Insert mode off: the changes whose contact exists; the others are settled here, skipped or failed. */
  private async existing(pending: Pending[], outcomes: DestinationOutcome[]): Promise<Pending[]> {
    const cached = await this.cache.get(pending.map((p) => p.identity));
    const found = await this.lookUp(pending.filter((_, i) => cached[i] === undefined));
    return pending.filter((p, i) => {
      const exists = cached[i] ?? found.get(p.identity);
      const id = p.change.id;
      if (exists === undefined) {
        const reason = 'could not tell whether the contact exists: the look-up failed';
        outcomes[p.index] = { id, status: 'failed', code: 'YOTPO_LOOKUP_FAILED', reason };
      } else if (!exists) {
        const reason = `no Yotpo contact with this ${this.opts.matchKey}; insert mode is off`;
        outcomes[p.index] = { id, status: 'skipped', code: 'NOT_FOUND', reason };
      }
      return exists === true;
    });
  }

  /** Asks Yotpo, one request per page of identities, and caches the answers; a failed page stays unknown. */
  private async lookUp(pending: Pending[]): Promise<Map<string, boolean>> {
    const found = new Map<string, boolean>();
    const field = IDENTITY_FIELD[this.opts.matchKey];
    const identities = [...new Set(pending.map((p) => p.identity))];
    for (let i = 0; i < identities.length; i += LOOKUP_PAGE) {
      const page = identities.slice(i, i + LOOKUP_PAGE);
      const ids = pending.filter((p) => page.includes(p.identity)).map((p) => p.change.id);
      const result = await withRetries(this.ctx, ids, (beforeSend) =>
        this.client.findCustomers(field, page, beforeSend),
      );
      if (!result.ok) {
        if (result.abandoned) continue;
        const { code } = result.error;
        this.ctx.emit({ type: 'request_rejected', itemIds: ids, code, message: result.message });
        continue;
      }
      const present = new Set(result.value.map((c) => normalised(field, c[field])));
      for (const identity of page) found.set(identity, present.has(identity));
      await this.cache.set(page.map((identity) => ({ identity, exists: present.has(identity) })));
    }
    return found;
  }
}

function normalised(field: string, value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  return field === 'email' ? value.toLowerCase() : value;
}

/**
 * The rate-limit account of a store: every instance derives the same one, and the store id stays out of
 * Redis key names.
 */
export function accountOf(store: YotpoStore): string {
  return `yotpo:${createHash('sha256').update(store.storeId).digest('hex').slice(0, 24)}`;
}

/** At most `size` tasks at once, the others wait in order. */
class Slots {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly size: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.size) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}
