import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyError, type RouteModule, readJsonObject, sendJson } from '../http.js';
import type { BatchSim } from './index.js';

const CATALOG_PATH = /^\/_sim\/batch\/catalogs\/([^/]+)\/([^/]+)$/;

/**
 * Routes for other processes (benchmarks, multi-process tests), unauthenticated:
 * GET  /_sim/batch/stats[?project=KEY]
 * GET  /_sim/batch/catalogs/{project}/{name}[?limit=N][&id=ID...]  items as {id: attributes}
 * POST /_sim/batch/faults  (partial faults, merged)   DELETE /_sim/batch/faults  (clear)
 * POST /_sim/batch/reset
 */
export function createIntrospectionRoutes(sim: BatchSim): RouteModule {
  return {
    async handle(req, res, url) {
      const path = url.pathname;
      if (!path.startsWith('/_sim/batch/')) return false;
      const route = `${req.method} ${path}`;
      if (route === 'GET /_sim/batch/stats') {
        sendJson(res, 200, sim.stats(url.searchParams.get('project') ?? undefined));
      } else if (route === 'POST /_sim/batch/faults') {
        await setFaults(sim, req, res);
      } else if (route === 'DELETE /_sim/batch/faults') {
        sim.faults.clear();
        sendJson(res, 200, { faults: sim.faults.current() });
      } else if (route === 'POST /_sim/batch/reset') {
        sim.reset();
        sendJson(res, 200, {});
      } else if (req.method === 'GET' && CATALOG_PATH.test(path)) {
        const [, project, name] = CATALOG_PATH.exec(path)!.map(decodeURIComponent);
        sendCatalog(sim, project!, name!, url, res);
      } else {
        sendJson(res, 404, { error_code: 20, error_message: `no simulator route ${route}` });
      }
      return true;
    },
  };
}

async function setFaults(sim: BatchSim, req: IncomingMessage, res: ServerResponse) {
  try {
    sim.faults.set(await readJsonObject(req));
    sendJson(res, 200, { faults: sim.faults.current() });
  } catch (err) {
    const status = err instanceof BodyError ? err.status : 400;
    sendJson(res, status, { error_code: 32, error_message: `invalid faults: ${(err as Error).message}` });
  }
}

function sendCatalog(sim: BatchSim, project: string, name: string, url: URL, res: ServerResponse) {
  const catalog = sim.catalog(project, name);
  if (!catalog) {
    sendJson(res, 404, { error_code: 40, error_message: `no catalog "${name}" in project "${project}"` });
    return;
  }
  const ids = url.searchParams.getAll('id');
  const limit = Number(url.searchParams.get('limit') ?? Number.POSITIVE_INFINITY);
  const items: Record<string, unknown> = Object.create(null);
  if (ids.length > 0) {
    for (const id of ids) if (catalog.items.has(id)) items[id] = catalog.items.get(id);
  } else {
    let n = 0;
    for (const [id, attributes] of catalog.items) {
      if (!(n++ < limit)) break;
      items[id] = attributes;
    }
  }
  sendJson(res, 200, {
    name,
    fields: catalog.fields,
    count: catalog.items.size,
    items,
  });
}
