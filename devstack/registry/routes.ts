import { schemaNotFound } from './errors.js';
import type { Registry } from './registry.js';

export interface RouteContext {
  params: string[];
  query: URLSearchParams;
  body: unknown;
}

/** A handler's answer: a JSON value, or `raw` JSON text sent as is (a schema exactly as stored). */
export type Reply = { json: unknown } | { raw: string };

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  segments: string[];
  /** Reads that miss catch up with the log once before answering 404: a write made through another instance is then visible. */
  read: boolean;
  handle(registry: Registry, ctx: RouteContext): Reply | Promise<Reply>;
}

const flag = (ctx: RouteContext, name: string) => ctx.query.get(name) === 'true';
const p = (ctx: RouteContext, i: number) => ctx.params[i]!;
const json = (value: unknown): Reply => ({ json: value });

function id(ctx: RouteContext): number {
  const raw = p(ctx, 0);
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1) throw schemaNotFound(`Schema ${raw} not found`);
  return n;
}

function route(spec: string, handle: Route['handle'], read = spec.startsWith('GET ')): Route {
  const [method, path] = spec.split(' ') as [Route['method'], string];
  return { method, segments: path.split('/').filter(Boolean), read, handle };
}

/** The part of Confluent Schema Registry's REST API that clients of a development registry use. */
export const ROUTES: Route[] = [
  route('GET /', () => json({})),
  route('GET /schemas/types', () => json(['AVRO'])),
  route('GET /schemas/ids/:id', (r, c) => json(r.schema(id(c)))),
  route('GET /schemas/ids/:id/schema', (r, c) => ({ raw: r.schema(id(c)).schema })),
  route('GET /schemas/ids/:id/versions', (r, c) => json(r.usages(id(c), flag(c, 'deleted')))),
  route('GET /schemas/ids/:id/subjects', (r, c) =>
    json([...new Set(r.usages(id(c), flag(c, 'deleted')).map((u) => u.subject))]),
  ),
  route('GET /subjects', (r, c) => json(r.subjects(flag(c, 'deleted')))),
  route('POST /subjects/:subject', (r, c) => json(r.lookup(p(c, 0), c.body, flag(c, 'deleted'))), true),
  route('DELETE /subjects/:subject', async (r, c) =>
    json(await r.deleteSubject(p(c, 0), flag(c, 'permanent'))),
  ),
  route('GET /subjects/:subject/versions', (r, c) => json(r.versions(p(c, 0), flag(c, 'deleted')))),
  route('POST /subjects/:subject/versions', async (r, c) => json(await r.register(p(c, 0), c.body))),
  route('GET /subjects/:subject/versions/:version', (r, c) =>
    json(r.version(p(c, 0), p(c, 1), flag(c, 'deleted'))),
  ),
  route('DELETE /subjects/:subject/versions/:version', async (r, c) =>
    json(await r.deleteVersion(p(c, 0), p(c, 1), flag(c, 'permanent'))),
  ),
  route('GET /subjects/:subject/versions/:version/schema', (r, c) => ({
    raw: r.version(p(c, 0), p(c, 1), flag(c, 'deleted')).schema,
  })),
  route('GET /subjects/:subject/versions/:version/referencedby', (r, c) => {
    r.version(p(c, 0), p(c, 1), flag(c, 'deleted'));
    return json([]);
  }),
  route('POST /compatibility/subjects/:subject/versions', (r, c) => compatibility(r, c, undefined), true),
  route(
    'POST /compatibility/subjects/:subject/versions/:version',
    (r, c) => compatibility(r, c, p(c, 1)),
    true,
  ),
  route('GET /config', (r) => json({ compatibilityLevel: r.config(null) })),
  route('PUT /config', async (r, c) => json(await r.setConfig(null, c.body))),
  route('DELETE /config', async (r) => json(await r.deleteConfig(null))),
  route('GET /config/:subject', (r, c) =>
    json({ compatibilityLevel: r.config(p(c, 0), flag(c, 'defaultToGlobal')) }),
  ),
  route('PUT /config/:subject', async (r, c) => json(await r.setConfig(p(c, 0), c.body))),
  route('DELETE /config/:subject', async (r, c) => json(await r.deleteConfig(p(c, 0)))),
  route('GET /mode', () => json({ mode: 'READWRITE' })),
];

function compatibility(r: Registry, c: RouteContext, version: string | undefined): Reply {
  const problems = r.compatibility(p(c, 0), version, c.body);
  const answer: { is_compatible: boolean; messages?: string[] } = { is_compatible: problems.length === 0 };
  if (flag(c, 'verbose')) answer.messages = problems;
  return json(answer);
}

export type Match = { route: Route; params: string[] } | { status: 404 | 405 };

export function match(method: string, pathname: string): Match {
  let segments: string[];
  try {
    segments = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { status: 404 };
  }
  let pathMatched = false;
  for (const route of ROUTES) {
    if (route.segments.length !== segments.length) continue;
    const params: string[] = [];
    const ok = route.segments.every((s, i) => {
      if (s.startsWith(':')) return params.push(segments[i]!) > 0;
      return s === segments[i];
    });
    if (!ok) continue;
    if (route.method === method) return { route, params };
    pathMatched = true;
  }
  return { status: pathMatched ? 405 : 404 };
}
