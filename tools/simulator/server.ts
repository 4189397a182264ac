import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BatchSim, type BatchSimOptions, createBatchSim } from './batch/index.js';
import { type RouteModule, sendJson } from './http.js';
import { createYotpoSim, type YotpoSim, type YotpoSimOptions } from './yotpo/index.js';

export type { BatchFaults, BatchSim, BatchSimOptions, BatchSimStats, EditLogEntry } from './batch/index.js';
export type { RouteModule } from './http.js';
export type { SimCustomer, YotpoSim, YotpoSimOptions, YotpoSimStats } from './yotpo/index.js';

export const BATCH_API_VERSION = '2.11';

export interface SimulatorOptions {
  /** 0 picks a free port (tests); the CLI defaults to 18080. */
  port?: number;
  host?: string;
  batch?: BatchSimOptions;
  yotpo?: YotpoSimOptions;
}

export interface Simulator {
  url: string;
  /** Base URL for the Batch client, version included. */
  batchUrl: string;
  batch: BatchSim;
  /** Base URL for the Yotpo client: `<url>/core/v3`. */
  yotpoUrl: string;
  yotpo: YotpoSim;
  close(): Promise<void>;
}

/** One HTTP server for every simulated API; each API is a set of route modules tried in order. */
export async function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const batch = createBatchSim(opts.batch);
  const yotpo = createYotpoSim(opts.yotpo);
  const modules: RouteModule[] = [...yotpo.routes, ...batch.routes];

  const server = createServer((req, res) => {
    void route(modules, req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

  return {
    url,
    batchUrl: `${url}/${BATCH_API_VERSION}`,
    batch: batch.sim,
    yotpoUrl: `${url}/core/v3`,
    yotpo: yotpo.sim,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}

async function route(modules: RouteModule[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://simulator');
    for (const module of modules) {
      if (await module.handle(req, res, url)) return;
    }
    sendJson(res, 404, { error_code: 20, error_message: `no route ${req.method} ${url.pathname}` });
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    sendJson(res, 500, { error_code: 1, error_message: `simulator failure: ${(err as Error).message}` });
  }
}
