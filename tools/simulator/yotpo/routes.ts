import type { IncomingMessage } from 'node:http';
import { BodyError, type RouteModule, readJsonObject, sendJson } from '../http.js';
import type { YotpoStatsRecorder } from './stats.js';
import type { IdentityKey, SimCustomer, StoreCustomers } from './store.js';
import { checkCustomer } from './validate.js';

export interface StoreState {
  token: string;
  customers: StoreCustomers;
  limiter: { take(): { ok: true } | { ok: false; retryAfterMs: number } };
  stats: YotpoStatsRecorder;
  /** Bodies of accepted upserts, oldest first (tests inspect what was sent). */
  received: Record<string, unknown>[];
}

export interface ApiContext {
  stores: Map<string, StoreState>;
  readonly stats: YotpoStatsRecorder;
  /** Answers the next N API calls with this status (fault injection). */
  failures: { count: number; status: number };
  maxLookupIds: number;
}

const PATH = /^\/core\/v3\/stores\/([^/]+)\/customers$/;
const LOOKUP_PARAMS: [string, IdentityKey][] = [
  ['external_ids', 'external_id'],
  ['emails', 'email'],
  ['phone_numbers', 'phone_number'],
];
const RECEIVED_KEPT = 10_000;

/**
 * POST /core/v3/stores/{store_id}/customers   create or update one customer
 * GET  /core/v3/stores/{store_id}/customers?external_ids=a,b | emails= | phone_numbers=   look-up
 */
export function createApiRoutes(ctx: ApiContext): RouteModule {
  return {
    async handle(req, res, url) {
      const match = PATH.exec(url.pathname);
      if (!match) return false;
      const store = ctx.stores.get(decodeURIComponent(match[1]!));
      const answer = (status: number, body: unknown, headers?: Record<string, string>) => {
        ctx.stats.status(status);
        store?.stats.status(status);
        sendJson(res, status, body, headers);
      };
      ctx.stats.request();
      store?.stats.request();
      if (!store) {
        req.resume();
        answer(404, errors(404, 'store not found'));
        return true;
      }
      if (req.headers['x-yotpo-token'] !== store.token) {
        req.resume();
        answer(401, errors(401, 'invalid or missing X-Yotpo-Token'));
        return true;
      }
      const taken = store.limiter.take();
      if (!taken.ok) {
        req.resume();
        answer(429, errors(429, 'rate limit exceeded'), {
          'retry-after': String(Math.max(1, Math.ceil(taken.retryAfterMs / 1000))),
        });
        return true;
      }
      if (ctx.failures.count > 0) {
        ctx.failures.count--;
        req.resume();
        answer(ctx.failures.status, errors(ctx.failures.status, 'injected failure'));
        return true;
      }
      if (req.method === 'POST') await upsert(ctx, store, req, answer);
      else if (req.method === 'GET') lookup(ctx, store, url, answer);
      else {
        req.resume();
        answer(405, errors(405, `method ${req.method} not allowed`));
      }
      return true;
    },
  };
}

type Answer = (status: number, body: unknown, headers?: Record<string, string>) => void;

async function upsert(ctx: ApiContext, store: StoreState, req: IncomingMessage, answer: Answer) {
  let body: Record<string, unknown>;
  try {
    body = await readJsonObject(req);
  } catch (err) {
    answer(err instanceof BodyError ? err.status : 400, errors(400, (err as Error).message));
    return;
  }
  const checked = checkCustomer(body);
  if (!checked.ok) {
    answer(400, errors(400, checked.message, checked.field));
    return;
  }
  const created = store.customers.upsert(checked.key, structuredClone(checked.customer));
  store.received.push(body);
  if (store.received.length > RECEIVED_KEPT) store.received.shift();
  ctx.stats.upsert(created);
  store.stats.upsert(created);
  answer(200, { customer: store.customers.find(checked.key, checked.customer[checked.key] as string) });
}

function lookup(ctx: ApiContext, store: StoreState, url: URL, answer: Answer) {
  const given = LOOKUP_PARAMS.filter(([param]) => url.searchParams.has(param));
  if (given.length !== 1) {
    answer(400, errors(400, 'give exactly one of external_ids, emails, phone_numbers'));
    return;
  }
  const [param, key] = given[0]!;
  const values = url.searchParams
    .get(param)!
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (values.length === 0 || values.length > ctx.maxLookupIds) {
    answer(400, errors(400, `${param} takes 1 to ${ctx.maxLookupIds} comma-separated values`, param));
    return;
  }
  const found: SimCustomer[] = [];
  for (const v of new Set(values)) {
    const c = store.customers.find(key, v);
    if (c) found.push(c);
  }
  ctx.stats.lookup();
  store.stats.lookup();
  answer(200, { customers: found });
}

function errors(status: number, message: string, field?: string) {
  return { errors: [{ status, message, ...(field ? { field } : {}) }] };
}
