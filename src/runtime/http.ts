/**
 * The operations endpoint: `/healthz` (the process answers), `/readyz` (connected and consuming) and
 * `/metrics` (Prometheus text format).
 */
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../logger.js';

export interface Readiness {
  ready: boolean;
  /** Each dependency: true, or why it is not ready. */
  checks: Record<string, true | string>;
  /** The failing checks' reasons, empty when ready. */
  reasons?: string[];
  /** Partitions of the CDC topic this instance holds (none for an idle member: still ready). */
  partitions?: number[];
}

export interface OpsServerOptions {
  port: number;
  host: string;
  registry: Registry;
  readiness: () => Promise<Readiness>;
  logger: Logger;
  /** More routes (the admin API and status page): answers true when it took the request. */
  routes?: (req: IncomingMessage, res: ServerResponse, path: string) => boolean;
}

export interface OpsServer {
  /** The bound port: the configured one, or the one the OS picked for port 0. */
  readonly port: number;
  close(): Promise<void>;
}

export async function startOpsServer(opts: OpsServerOptions): Promise<OpsServer> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (opts.routes?.(req, res, path)) return;
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: 'method not allowed' });
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      opts.readiness().then(
        (r) => json(res, r.ready ? 200 : 503, { status: r.ready ? 'ready' : 'not ready', ...r }),
        (err: unknown) => json(res, 503, { status: 'not ready', reason: String(err) }),
      );
      return;
    }
    if (path === '/metrics') {
      opts.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': opts.registry.contentType });
          res.end(text);
        },
        (err: unknown) => {
          opts.logger.warn({ err }, 'collecting metrics failed');
          json(res, 500, { error: 'collecting metrics failed' });
        },
      );
      return;
    }
    json(res, 404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics'] });
  });
  // Probes must not keep a stopping process alive.
  server.keepAliveTimeout = 1000;
  server.listen(opts.port, opts.host);
  await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => Promise.reject(err))]);
  const port = (server.address() as AddressInfo).port;
  opts.logger.info({ port, host: opts.host }, 'metrics and health probes listening');
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body)}\n`);
}
