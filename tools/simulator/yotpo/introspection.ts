import { BodyError, type RouteModule, readJsonObject, sendJson } from '../http.js';
import type { YotpoSim } from './index.js';

const CUSTOMERS = /^\/_sim\/yotpo\/stores\/([^/]+)\/customers$/;
const RECEIVED = /^\/_sim\/yotpo\/stores\/([^/]+)\/received$/;

/**
 * Routes for other processes (benchmarks), unauthenticated:
 * GET  /_sim/yotpo/stats[?store=ID]
 * GET  /_sim/yotpo/stores/{store}/customers   POST the same path with {customers: [...]} seeds them
 * GET  /_sim/yotpo/stores/{store}/received    bodies of accepted upserts
 * POST /_sim/yotpo/faults {count, status}     POST /_sim/yotpo/reset
 */
export function createYotpoIntrospectionRoutes(sim: YotpoSim): RouteModule {
  return {
    async handle(req, res, url) {
      const path = url.pathname;
      if (!path.startsWith('/_sim/yotpo/')) return false;
      const route = `${req.method} ${path}`;
      try {
        if (route === 'GET /_sim/yotpo/stats') {
          sendJson(res, 200, sim.stats(url.searchParams.get('store') ?? undefined));
        } else if (route === 'POST /_sim/yotpo/reset') {
          sim.reset();
          sendJson(res, 200, {});
        } else if (route === 'POST /_sim/yotpo/faults') {
          const body = await readJsonObject(req);
          sim.failNext(Number(body.count ?? 0), Number(body.status ?? 503));
          sendJson(res, 200, {});
        } else if (req.method === 'GET' && CUSTOMERS.test(path)) {
          const store = decodeURIComponent(CUSTOMERS.exec(path)![1]!);
          const customers = sim.customers(store);
          sendJson(res, 200, { count: customers.length, customers });
        } else if (req.method === 'POST' && CUSTOMERS.test(path)) {
          const store = decodeURIComponent(CUSTOMERS.exec(path)![1]!);
          const body = await readJsonObject(req);
          const customers = Array.isArray(body.customers) ? body.customers : [];
          for (const c of customers) sim.seed(store, c);
          sendJson(res, 200, { seeded: customers.length });
        } else if (req.method === 'GET' && RECEIVED.test(path)) {
          sendJson(res, 200, { received: sim.received(decodeURIComponent(RECEIVED.exec(path)![1]!)) });
        } else {
          sendJson(res, 404, { errors: [{ status: 404, message: `no simulator route ${route}` }] });
        }
      } catch (err) {
        sendJson(res, err instanceof BodyError ? err.status : 400, {
          errors: [{ status: 400, message: (err as Error).message }],
        });
      }
      return true;
    },
  };
}
