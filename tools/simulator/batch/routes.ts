import type { IncomingMessage } from 'node:http';
import { BodyError, type RouteModule, readJsonObject, sendJson } from '../http.js';
import { BatchApiError, fromBodyError, sendBatchError } from './errors.js';
import type { FaultInjector } from './faults.js';
import type { EditRateLimiter } from './rate-limit.js';
import { parseCreate, parseEdit, parseUpdate } from './requests.js';
import type { StatsRecorder } from './stats.js';
import { decodeCursor, type ProjectCatalogs } from './store.js';

export interface ProjectState {
  restApiKey: string;
  catalogs: ProjectCatalogs;
  limiter: EditRateLimiter;
  stats: StatsRecorder;
}

/** One accepted items/edit call, as the request log reports it. */
export interface EditLogEntry {
  projectKey: string;
  catalog: string;
  atMs: number;
  items: { id: string; action: 'add' | 'remove' }[];
}

export interface ApiContext {
  projects: ReadonlyMap<string, ProjectState>;
  faults: FaultInjector;
  stats: StatsRecorder;
  indexingDelayMs: number;
  /** Told of every accepted items/edit call (the request log). */
  editListeners?: ReadonlySet<(e: EditLogEntry) => void>;
}

interface Reply {
  status: number;
  body: unknown;
  /** The call changed state, so a dropped reply must leave the change in place. */
  mutating?: boolean;
}

// Every documented version (2.6 .. 2.11) serves the same catalog routes.
const API_PATH = /^\/2\.(?:[6-9]|1[01])(\/catalogs\/(?:create|view|list|update|items\/edit))$/;
const VERSIONED_PATH = /^\/\d+\.\d+\//;
const METHODS: Record<string, 'GET' | 'POST'> = {
  '/catalogs/create': 'POST',
  '/catalogs/view': 'GET',
  '/catalogs/list': 'GET',
  '/catalogs/update': 'POST',
  '/catalogs/items/edit': 'POST',
};
const DEFAULT_LIST_LIMIT = 10;

export function createApiRoutes(ctx: ApiContext): RouteModule {
  return {
    async handle(req, res, url) {
      const route = API_PATH.exec(url.pathname)?.[1];
      if (route === undefined && !VERSIONED_PATH.test(url.pathname)) return false;
      const project = ctx.projects.get(header(req, 'x-batch-project') ?? '');
      const recorders = project ? [ctx.stats, project.stats] : [ctx.stats];
      for (const r of recorders) r.request();
      let status: number;
      try {
        await ctx.faults.delay();
        if (route === undefined) throw new BatchApiError('ROUTE_NOT_FOUND', `no route ${url.pathname}`);
        const method = METHODS[route]!;
        if (req.method !== method) {
          throw new BatchApiError('METHOD_NOT_ALLOWED', `${route} accepts ${method} only`, { allow: method });
        }
        const authorized = authenticate(req, ctx.projects);
        const injected = ctx.faults.serverError();
        if (injected) {
          throw new BatchApiError(
            injected === 500 ? 'INTERNAL' : 'UNAVAILABLE',
            'injected server error, retry later',
          );
        }
        const reply = await dispatch(route, req, url, authorized, ctx);
        status = reply.status;
        if (reply.mutating && ctx.faults.dropAfterApply()) {
          for (const r of recorders) r.droppedAfterApply();
          req.socket.destroy();
          return true;
        }
        sendJson(res, reply.status, reply.body);
      } catch (err) {
        const apiError = toApiError(err);
        status = apiError.status;
        sendBatchError(res, apiError);
      }
      for (const r of recorders) r.status(status);
      return true;
    },
  };
}

function toApiError(err: unknown): BatchApiError {
  if (err instanceof BatchApiError) return err;
  if (err instanceof BodyError) return fromBodyError(err);
  return new BatchApiError(
    'INTERNAL',
    `simulator failure: ${err instanceof Error ? err.message : String(err)}`,
  );
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function authenticate(req: IncomingMessage, projects: ApiContext['projects']): ProjectState {
  const authorization = header(req, 'authorization');
  if (!authorization) {
    throw new BatchApiError(
      'AUTHENTICATION_MISSING',
      'missing header "Authorization: Bearer <REST API key>"',
    );
  }
  const key = /^Bearer +(\S+)$/i.exec(authorization)?.[1];
  if (!key)
    throw new BatchApiError(
      'AUTHENTICATION_INVALID',
      'the Authorization header must read "Bearer <REST API key>"',
    );
  const projectKey = header(req, 'x-batch-project');
  if (!projectKey)
    throw new BatchApiError('AUTHENTICATION_MISSING', 'missing header "X-Batch-Project: <project key>"');
  // One answer for an unknown project and a wrong key, as an API does not reveal which projects exist.
  const project = projects.get(projectKey);
  if (!project || project.restApiKey !== key) {
    throw new BatchApiError(
      'AUTHENTICATION_INVALID',
      'the REST API key is not valid for the project in X-Batch-Project',
    );
  }
  return project;
}

async function dispatch(
  route: string,
  req: IncomingMessage,
  url: URL,
  project: ProjectState,
  ctx: ApiContext,
): Promise<Reply> {
  switch (route) {
    case '/catalogs/create':
      project.catalogs.create(parseCreate(await readJsonObject(req)));
      return { status: 201, body: {}, mutating: true };
    case '/catalogs/update':
      project.catalogs.update(parseUpdate(await readJsonObject(req)));
      return { status: 200, body: {}, mutating: true };
    case '/catalogs/items/edit':
      return edit(req, project, ctx);
    case '/catalogs/view':
      return view(url, project, ctx.indexingDelayMs);
    default:
      return { status: 200, body: list(url, project) };
  }
}

/**
 * Only items/edit is rate limited (seed 002). The buckets are taken once the body is known to be a
 * well-formed edit, so a request later refused for a bad attribute or a missing catalog still costs budget.
 */
async function edit(req: IncomingMessage, project: ProjectState, ctx: ApiContext): Promise<Reply> {
  const request = parseEdit(await readJsonObject(req));
  const forcedMs = ctx.faults.forced429RetryAfterMs();
  if (forcedMs !== undefined)
    throw tooManyRequests(forcedMs, 'the API is throttling this project (injected)');
  if (request.items.length > project.limiter.itemCapacity) {
    throw new BatchApiError(
      'LIMIT_EXCEEDED',
      `${request.items.length} items exceed the ${project.limiter.itemCapacity} items/s budget of one request`,
    );
  }
  const taken = project.limiter.take(request.items.length);
  if (!taken.ok) {
    const { requestsPerSecond, itemsPerSecond } = project.limiter;
    const why = `rate limit exceeded: ${requestsPerSecond} requests and ${itemsPerSecond} items per second per project`;
    throw tooManyRequests(taken.retryAfterMs, why);
  }
  const token = project.catalogs.edit(request);
  for (const r of [ctx.stats, project.stats]) r.edit(request.items.length);
  if (ctx.editListeners?.size) {
    const entry: EditLogEntry = {
      projectKey: header(req, 'x-batch-project') ?? '',
      catalog: request.name,
      atMs: Date.now(),
      items: request.items.map((i) => ({ id: i.id, action: i.action })),
    };
    for (const listener of ctx.editListeners) listener(entry);
  }
  return { status: 202, body: { indexing_token: token }, mutating: true };
}

function tooManyRequests(retryAfterMs: number, why: string): BatchApiError {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new BatchApiError('TOO_MANY_REQUESTS', `${why}; retry in ${seconds} s`, {
    'retry-after': String(seconds),
  });
}

function view(url: URL, project: ProjectState, indexingDelayMs: number): Reply {
  const name = url.searchParams.get('name');
  if (!name) throw new BatchApiError('MISSING_PARAMETER', 'query parameter "name" is required');
  const catalog = project.catalogs.get(name);
  const token = url.searchParams.get('indexing_token');
  if (token === null) return { status: 200, body: catalog.describe() };
  const state = catalog.indexingState(token, indexingDelayMs);
  if (!state) {
    throw new BatchApiError(
      'UNKNOWN_INDEXING_TOKEN',
      `indexing_token is not a token issued for catalog "${name}"`,
    );
  }
  return { status: 200, body: { ...catalog.describe(), indexing_state: state } };
}

function list(url: URL, project: ProjectState) {
  const rawLimit = url.searchParams.get('limit');
  const limit =
    rawLimit === null ? DEFAULT_LIST_LIMIT : /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
  if (!(limit >= 1 && limit <= 100)) {
    throw new BatchApiError('INVALID_PARAMETER', 'query parameter "limit" must be an integer from 1 to 100');
  }
  const rawFrom = url.searchParams.get('from');
  const from = rawFrom === null ? undefined : decodeCursor(rawFrom);
  if (rawFrom !== null && from === undefined) {
    throw new BatchApiError(
      'INVALID_PARAMETER',
      'query parameter "from" must be a next_from value from a previous page',
    );
  }
  return project.catalogs.list(limit, from);
}
