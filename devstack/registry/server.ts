import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createLogger, type Logger } from '../../src/logger.js';
import { RegistryError } from './errors.js';
import { Registry } from './registry.js';
import { match, type Reply, type Route } from './routes.js';
import { type Outcome, RegistryState } from './state.js';
import { openLogStore } from './store.js';

export interface RegistryOptions {
  /** 0 picks a free port (tests). */
  port?: number;
  host?: string;
  brokers: string[];
  /** The compacted topic holding the registry's state; Confluent's default name. */
  topic?: string;
  logger?: Logger;
}

export interface RunningRegistry {
  url: string;
  port: number;
  close(): Promise<void>;
}

const VND = 'application/vnd.schemaregistry.v1+json';
const ACCEPTED_BODIES = new Set([
  VND,
  'application/vnd.schemaregistry+json',
  'application/json',
  'application/octet-stream',
]);
const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * A development schema registry speaking the Confluent REST subset that @kafkajs/confluent-schema-registry
 * uses. It listens only once the state is rebuilt from the topic, so the first answer is a complete one.
 */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  const logger = opts.logger ?? createLogger({ name: 'schema-registry' });
  const topic = opts.topic ?? '_schemas';
  const host = opts.host ?? '127.0.0.1';
  const state = new RegistryState();
  const store = await openLogStore<Outcome>({
    brokers: opts.brokers,
    topic,
    logger,
    apply: (key, value) => state.apply(key, value),
  });
  const registry = new Registry(state, store, logger);
  const server = createServer((req, res) => void serve(registry, logger, req, res));
  try {
    await listen(server, opts.port ?? 8081, host);
  } catch (err) {
    await store.close();
    throw err;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  logger.info({ url, topic }, 'development schema registry listening');
  return {
    url,
    port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await store.close();
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function serve(
  registry: Registry,
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://registry');
  let status = 200;
  let reply: Reply;
  try {
    reply = await dispatch(registry, req, url);
  } catch (err) {
    const error =
      err instanceof RegistryError
        ? err
        : new RegistryError(50001, 'Error in the backend data store', { cause: err });
    if (!(err instanceof RegistryError) || error.status >= 500) logger.error({ err }, 'request failed');
    status = error.status;
    reply = { json: error.toJSON() };
  }
  const body = 'raw' in reply ? reply.raw : JSON.stringify(reply.json);
  res.writeHead(status, {
    'content-type': responseType(req.headers.accept),
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
  logger.debug({ method: req.method, path: url.pathname, status }, 'request');
}

async function dispatch(registry: Registry, req: IncomingMessage, url: URL): Promise<Reply> {
  const found = match(req.method ?? 'GET', url.pathname);
  if ('status' in found) {
    throw new RegistryError(
      found.status,
      found.status === 404 ? 'HTTP 404 Not Found' : 'HTTP 405 Method Not Allowed',
    );
  }
  const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : undefined;
  const ctx = { params: found.params, query: url.searchParams, body };
  try {
    return await found.route.handle(registry, ctx);
  } catch (err) {
    if (!retryAfterSync(found.route, err)) throw err;
    await registry.sync();
    return await found.route.handle(registry, ctx);
  }
}

function retryAfterSync(route: Route, err: unknown): boolean {
  return route.read && err instanceof RegistryError && err.status === 404;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  if (type !== undefined && type !== '' && !ACCEPTED_BODIES.has(type)) {
    req.resume();
    throw new RegistryError(415, 'HTTP 415 Unsupported Media Type');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new RegistryError(413, `Request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RegistryError(400, `Malformed JSON in the request body: ${(err as Error).message}`);
  }
}

/** Confluent answers in its own media type unless the client asks for plain JSON first. */
function responseType(accept: string | undefined): string {
  const first = accept
    ?.split(',')
    .map((t) => t.split(';')[0]!.trim().toLowerCase())
    .find((t) => t === 'application/json' || t.startsWith('application/vnd.schemaregistry'));
  return first === 'application/json' ? 'application/json' : VND;
}
