/**
 * The admin REST API (`/api/...`, documented in docs/openapi.yaml) and the status page (`/`), on the
 * instance's HTTP port beside /metrics and the probes. Reads come from Redis (view.ts), so any instance
 * answers for the whole group; the operator commands are the service's, the same the CLI runs.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CatalogSyncError, describe } from '../../errors.js';
import type { Logger } from '../../logger.js';
import { SyncPause } from '../../planning/pause.js';
import { type LiveData, renderLive, renderStatusPage } from './page.js';
import { allSyncViews, syncView, type ViewDeps } from './view.js';

/** The operator commands, shared with the CLI (release-deletions, discard-deletions, resync). */
export interface AdminCommands {
  releaseDeletions(syncId: string, runId: string): Promise<{ released: boolean; count: number }>;
  discardDeletions(syncId: string, runId: string): Promise<{ discarded: boolean; count: number }>;
  resync(syncId: string): Promise<void>;
}

export interface AdminDeps extends ViewDeps {
  commands: AdminCommands;
  /** The instance answering, as `by` in pause records. */
  instanceId: string;
  /** `admin.token` (a Secret): absent, mutating routes answer 403. */
  token: { reveal(): string } | undefined;
  protectReads: boolean;
  logger: Logger;
}

const MAX_BODY = 16 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** `params`: the path's captures (sync id, run id), percent-decoded. */
type Handler = (params: string[], req: IncomingMessage, url: URL) => Promise<unknown>;
interface Route {
  method: 'GET' | 'POST';
  pattern: RegExp;
  mutates: boolean;
  handle: Handler;
}

/** `(req, res, path) => handled`, for startOpsServer's `routes`. */
export function adminRoutes(deps: AdminDeps) {
  // Read once at start: a missing secret fails the start, not the first request.
  const token = deps.token?.reveal();
  const tokenDigest = token ? createHash('sha256').update(token).digest() : undefined;
  const known = (syncId: string) => {
    if (!deps.config.syncs.some((s) => s.id === syncId))
      throw new HttpError(404, 'UNKNOWN_SYNC', `no sync "${syncId}" in the configuration`);
    return syncId;
  };
  const notPaused = async (syncId: string) => {
    const paused = await new SyncPause(deps.redis, deps.keys, syncId).get();
    if (paused)
      throw new HttpError(409, 'SYNC_PAUSED', `sync ${syncId} is paused: resume it before sending anything`);
  };
  const limit = (url: URL) => {
    const n = Number(url.searchParams.get('limit') ?? 50);
    if (!Number.isInteger(n) || n < 1 || n > 200)
      throw new HttpError(400, 'BAD_REQUEST', 'limit must be an integer from 1 to 200');
    return n;
  };
  const sync = '([^/]+)';
  const routes: Route[] = [
    {
      method: 'GET',
      pattern: /^\/api\/syncs$/,
      mutates: false,
      handle: async () => ({ syncs: await allSyncViews(deps) }),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/api/syncs/${sync}$`),
      mutates: false,
      handle: ([syncId = '']) => syncView(deps, known(syncId)),
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/api/syncs/${sync}/runs$`),
      mutates: false,
      handle: async ([sync = ''], _req, url) => {
        const syncId = known(sync);
        const n = limit(url);
        const [view, history] = await Promise.all([syncView(deps, syncId), deps.journal.history(syncId, n)]);
        return { syncId, inProgress: view.runs, history };
      },
    },
    {
      method: 'GET',
      pattern: new RegExp(`^/api/syncs/${sync}/rejections$`),
      mutates: false,
      handle: async ([sync = ''], _req, url) => {
        const syncId = known(sync);
        return { syncId, rejections: await deps.journal.rejections(syncId, limit(url)) };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/syncs/${sync}/runs/([^/]+)/release$`),
      mutates: true,
      handle: async ([sync = '', runId = '']) => {
        const syncId = known(sync);
        await notPaused(syncId);
        const r = await deps.commands.releaseDeletions(syncId, runId);
        deps.logger.info({ sync: syncId, run: runId, ...r }, 'admin API: release-deletions');
        return { syncId, runId, ...r };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/syncs/${sync}/runs/([^/]+)/discard$`),
      mutates: true,
      handle: async ([sync = '', runId = '']) => {
        const syncId = known(sync);
        const r = await deps.commands.discardDeletions(syncId, runId);
        deps.logger.info({ sync: syncId, run: runId, ...r }, 'admin API: discard-deletions');
        return { syncId, runId, ...r };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/syncs/${sync}/resync$`),
      mutates: true,
      handle: async ([sync = '']) => {
        const syncId = known(sync);
        await deps.commands.resync(syncId);
        deps.logger.info({ sync: syncId }, 'admin API: resync');
        return { syncId, fingerprintsCleared: true };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/syncs/${sync}/pause$`),
      mutates: true,
      handle: async ([sync = ''], req) => {
        const syncId = known(sync);
        const body = (await readJson(req)) as { reason?: unknown };
        const reason = typeof body.reason === 'string' ? body.reason.slice(0, 500) : null;
        const paused = await new SyncPause(deps.redis, deps.keys, syncId).pause(
          `admin-api@${deps.instanceId}`,
          reason,
        );
        deps.logger.warn({ sync: syncId, reason }, 'admin API: sync paused');
        return { syncId, paused };
      },
    },
    {
      method: 'POST',
      pattern: new RegExp(`^/api/syncs/${sync}/resume$`),
      mutates: true,
      handle: async ([sync = '']) => {
        const syncId = known(sync);
        const wasPaused = await new SyncPause(deps.redis, deps.keys, syncId).resume();
        deps.logger.warn({ sync: syncId, wasPaused }, 'admin API: sync resumed');
        return { syncId, paused: null, wasPaused };
      },
    },
  ];

  const liveData = async (): Promise<LiveData> => {
    const [syncs, rejections] = await Promise.all([
      allSyncViews(deps),
      Promise.all(
        deps.config.syncs.map(async (s) => [s.id, await deps.journal.rejections(s.id, 10)] as const),
      ),
    ]);
    return { syncs, rejections: new Map(rejections) };
  };

  const authorize = (req: IncomingMessage, mutates: boolean) => {
    if (!mutates && !deps.protectReads) return;
    if (!tokenDigest)
      throw new HttpError(
        403,
        'ADMIN_DISABLED',
        'the admin API has no token: set admin.token in the configuration',
      );
    const m = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256')
      .update(m?.[1]?.trim() ?? '')
      .digest();
    if (!m || !timingSafeEqual(given, tokenDigest))
      throw new HttpError(
        401,
        'UNAUTHORIZED',
        'a valid "Authorization: Bearer <admin.token>" header is needed',
      );
  };

  return (req: IncomingMessage, res: ServerResponse, path: string): boolean => {
    if (path === '/' || path === '/status/live') {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      const page = path === '/';
      (async () => {
        // With protectReads the page comes without data; its script loads /status/live with the token.
        if (page && deps.protectReads) return renderStatusPage(null, { instanceId: deps.instanceId });
        authorize(req, false);
        const data = await liveData();
        return page ? renderStatusPage(data, { instanceId: deps.instanceId }) : renderLive(data);
      })().then(
        (html) => send(res, 200, 'text/html; charset=utf-8', html),
        (err: unknown) => fail(res, err, deps.logger),
      );
      return true;
    }
    if (!path.startsWith('/api/')) return false;
    const url = new URL(req.url ?? '/', 'http://localhost');
    for (const route of routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      if (req.method !== route.method) {
        sendJson(
          res,
          405,
          { error: `use ${route.method}`, code: 'METHOD_NOT_ALLOWED' },
          { allow: route.method },
        );
        return true;
      }
      (async () => {
        authorize(req, route.mutates);
        const params = m.slice(1).map((p) => decodeURIComponent(p ?? ''));
        return route.handle(params, req, url);
      })().then(
        (body) => sendJson(res, 200, body),
        (err: unknown) => fail(res, err, deps.logger),
      );
      return true;
    }
    sendJson(res, 404, { error: `no route ${path}`, code: 'NOT_FOUND' });
    return true;
  };
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpError(413, 'BODY_TOO_LARGE', `a body of at most ${MAX_BODY} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) return {};
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v;
  } catch {
    // answered below
  }
  throw new HttpError(400, 'BAD_REQUEST', 'the body must be a JSON object');
}

function fail(res: ServerResponse, err: unknown, logger: Logger): void {
  if (err instanceof HttpError) {
    const headers: Record<string, string> = err.status === 401 ? { 'www-authenticate': 'Bearer' } : {};
    sendJson(res, err.status, { error: err.message, code: err.code }, headers);
    return;
  }
  if (err instanceof URIError) {
    sendJson(res, 400, { error: 'bad percent-encoding in the path', code: 'BAD_REQUEST' });
    return;
  }
  logger.warn({ err: describe(err) }, 'admin API request failed');
  const code = err instanceof CatalogSyncError ? err.code : 'INTERNAL';
  const status = err instanceof CatalogSyncError && err.retriable ? 503 : 500;
  sendJson(res, status, { error: err instanceof Error ? err.message : String(err), code });
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  send(res, status, 'application/json', `${JSON.stringify(body)}\n`, headers);
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) return;
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...headers });
  res.end(body);
}
