/**
 * What the fault tests share: an instance as a child process (`catalog-sync start`, so a signal or a
 * crash is real), the catalog a list of rows must leave in the simulator (content, not counts), and
 * the simulator's request log of accepted items/edit calls.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Row } from '../../src/runtime/produce.js';
import type { EditLogEntry } from '../../tools/simulator/server.js';
import type { pipelineFixture } from './pipeline.js';
import { eventually } from './services.js';

type Fixture = Awaited<ReturnType<typeof pipelineFixture>>;

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

/** Whether the fault tests run every case (`npm run test:faults`) or one short case of each kind (CI). */
export const ALL_FAULTS = process.env.CATALOG_SYNC_FAULTS === '1';

/** The attributes productSync() maps a products() row to, by item id: the catalog to expect. */
export function expectedCatalog(rows: Iterable<Row>): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of rows) {
    out[String(r.sku)] = { name: r.name, price: r.price, in_stock: r.in_stock, tags: r.tags };
  }
  return out;
}

/** The simulator's catalog as a plain object (id → attributes), for toEqual with expectedCatalog. */
export function catalogOf(fx: Fixture, catalog: string): Record<string, Record<string, unknown>> {
  return Object.fromEntries(fx.items(catalog));
}

/** Records every accepted items/edit call; `sentTwice` counts item sends beyond the first per id. */
export function editLog(fx: Fixture) {
  const entries: EditLogEntry[] = [];
  const off = fx.sim.batch.onEdit((e) => entries.push(e));
  return {
    entries,
    stop: off,
    /** Item sends (add or remove) beyond the first of each (id, action). */
    sentTwice(): number {
      const seen = new Map<string, number>();
      for (const e of entries)
        for (const i of e.items) seen.set(`${i.action}:${i.id}`, (seen.get(`${i.action}:${i.id}`) ?? 0) + 1);
      let extra = 0;
      for (const n of seen.values()) extra += n - 1;
      return extra;
    },
  };
}

export interface ChildInstance {
  child: ChildProcess;
  /** The ops endpoint (`http://127.0.0.1:<port>`), once the listening line is out. */
  url: string;
  stderr(): string;
  readonly exited: boolean;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readiness(): Promise<{ status: number; body: { ready: boolean; reasons: string[] } } | undefined>;
}

/** `catalog-sync start` with the fixture's configuration as a child process; resolves once it listens. */
export async function startChild(
  fx: Fixture,
  suffix: string,
  overrides: Record<string, unknown> = {},
): Promise<ChildInstance> {
  const file = join(tmpdir(), `${fx.name}-${suffix}.json`);
  writeFileSync(file, JSON.stringify({ ...fx.raw, instanceId: `${fx.name}-${suffix}`, ...overrides }));
  const env: NodeJS.ProcessEnv = {
    ...fx.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn',
    LOG_PRETTY: '0',
  };
  delete env.KAFKA_BROKERS;
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', file], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let exited = false;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => {
      exited = true;
      done({ code, signal });
    }),
  );
  child.stdout!.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr!.on('data', (d) => {
    stderr += String(d);
  });
  const port = await eventually(
    `${suffix} to listen`,
    () => {
      if (exited) throw new Error(`${suffix} exited:\n${stderr}`);
      const m = /"event":"listening","port":(\d+)/.exec(stdout);
      return m ? Number(m[1]) : undefined;
    },
    180_000,
  );
  const url = `http://127.0.0.1:${port}`;
  return {
    child,
    url,
    stderr: () => stderr,
    get exited() {
      return exited;
    },
    exit,
    async readiness() {
      try {
        const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
        return { status: res.status, body: (await res.json()) as { ready: boolean; reasons: string[] } };
      } catch {
        return undefined;
      }
    },
  };
}

/** Resolves once the child's /readyz answers 200. */
export function childReady(c: ChildInstance, timeoutMs = 90_000) {
  return eventually(
    'the instance to be ready',
    async () => {
      if (c.exited) throw new Error(`the instance exited:\n${c.stderr()}`);
      return (await c.readiness())?.status === 200 ? true : undefined;
    },
    timeoutMs,
  );
}
