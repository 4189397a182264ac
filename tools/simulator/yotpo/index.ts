import { z } from 'zod';
import { EditRateLimiter } from '../batch/rate-limit.js';
import type { RouteModule } from '../http.js';
import { createYotpoIntrospectionRoutes } from './introspection.js';
import { type ApiContext, createApiRoutes, type StoreState } from './routes.js';
import { type YotpoSimStats, YotpoStatsRecorder } from './stats.js';
import { type SimCustomer, StoreCustomers } from './store.js';

export type { YotpoSimStats } from './stats.js';
export type { SimCustomer } from './store.js';

const optionsSchema = z.strictObject({
  stores: z
    .array(z.strictObject({ storeId: z.string().min(1), token: z.string().min(1) }))
    .min(1)
    .default([{ storeId: 'store_demo', token: 'yotpo_demo_token' }])
    .describe('stores the simulator knows, each with the access token that authenticates it'),
  requestsPerSecond: z
    .number()
    .positive()
    .default(10)
    .describe('API calls per second per store (bucket capacity too)'),
  maxLookupIds: z.int().positive().default(100).describe('identifiers one look-up takes'),
});

export interface YotpoSimOptions {
  stores?: { storeId: string; token: string }[];
  requestsPerSecond?: number;
  maxLookupIds?: number;
}

export interface YotpoSim {
  /** Live customers of a store (do not mutate). */
  customers(storeId: string): SimCustomer[];
  /** Bodies of the upserts a store accepted, oldest first. */
  received(storeId: string): Record<string, unknown>[];
  /** Puts a customer in a store directly, as if it existed before (no request counted). */
  seed(storeId: string, customer: SimCustomer): void;
  stats(storeId?: string): YotpoSimStats;
  /** The next `count` API calls (after auth and rate limit) answer `status`. */
  failNext(count: number, status?: number): void;
  reset(): void;
}

export function createYotpoSim(options: YotpoSimOptions = {}): { sim: YotpoSim; routes: RouteModule[] } {
  const opts = optionsSchema.parse(options);
  const stores = new Map<string, StoreState>();
  let stats = new YotpoStatsRecorder();
  const ctx: ApiContext = {
    stores,
    get stats() {
      return stats;
    },
    failures: { count: 0, status: 503 },
    maxLookupIds: opts.maxLookupIds,
  };
  const reset = () => {
    stats = new YotpoStatsRecorder();
    stores.clear();
    ctx.failures = { count: 0, status: 503 };
    for (const { storeId, token } of opts.stores) {
      const limiter = new EditRateLimiter(opts.requestsPerSecond, Number.MAX_SAFE_INTEGER);
      stores.set(storeId, {
        token,
        customers: new StoreCustomers(),
        limiter: { take: () => limiter.take(0) },
        stats: new YotpoStatsRecorder(),
        received: [],
      });
    }
  };
  reset();

  const store = (storeId: string) => {
    const s = stores.get(storeId);
    if (!s) throw new Error(`no simulated Yotpo store ${storeId}`);
    return s;
  };
  const sim: YotpoSim = {
    customers: (storeId) => stores.get(storeId)?.customers.all() ?? [],
    received: (storeId) => stores.get(storeId)?.received ?? [],
    seed(storeId, customer) {
      const key = customer.external_id ? 'external_id' : customer.email ? 'email' : 'phone_number';
      if (!customer[key]) throw new Error('a seeded customer needs external_id, email or phone_number');
      store(storeId).customers.upsert(key, structuredClone(customer));
    },
    stats(storeId) {
      if (storeId === undefined) return stats.snapshot();
      return (stores.get(storeId)?.stats ?? new YotpoStatsRecorder()).snapshot();
    },
    failNext(count, status = 503) {
      ctx.failures = { count, status };
    },
    reset,
  };
  return { sim, routes: [createApiRoutes(ctx), createYotpoIntrospectionRoutes(sim)] };
}
