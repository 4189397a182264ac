import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BatchClient, type FieldSpec } from '../../../src/destinations/batch/index.js';
import { createRedis } from '../../../src/redis/connection.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';
import type { SenderConfig, SenderReport } from './fixtures/sender.js';

const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };
const TITLE: FieldSpec[] = [{ name: 'title', type: 'string' }];
const prefixes: string[] = [];
const children = new Set<ChildProcess>();
let sim: Simulator;

// Batch's real limits (the simulator's defaults): 5 requests/s and 1000 items/s per project.
beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
});
beforeEach(() => sim.batch.reset());
afterAll(async () => {
  for (const child of children) child.kill();
  await sim.close();
  const redis = createRedis();
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

/** Starts one process per config, lets them all go at once, and collects their reports. */
async function runProcesses(configs: Omit<SenderConfig, 'batchUrl' | 'projectKey' | 'restApiKey'>[]) {
  const started = configs.map((c) => {
    const child = fork(new URL('./fixtures/sender.ts', import.meta.url), {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, SENDER_CONFIG: JSON.stringify({ ...c, ...PROJECT, batchUrl: sim.batchUrl }) },
    });
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  });
  await Promise.all(started.map((c) => once(c, 'message')));
  const reports = started.map(
    (child) =>
      new Promise<SenderReport>((resolve, reject) => {
        child.once('message', (m) => resolve(m as SenderReport));
        child.once('exit', (code) => reject(new Error(`sender exited with ${code} before reporting`)));
      }),
  );
  const go = () => {
    for (const child of started) child.send('go');
  };
  return { go, reports: Promise.all(reports) };
}

function pushConfig(keyPrefix: string, catalog: string, i: number, items: number) {
  return {
    mode: 'push' as const,
    catalog,
    fields: TITLE,
    keyPrefix,
    idPrefix: `p${i}-`,
    items,
    concurrency: 2,
  };
}

function newPrefix(): string {
  const prefix = `test-${randomUUID()}`;
  prefixes.push(prefix);
  return prefix;
}

describe('three processes sharing one Batch project', () => {
  it('push 30,000 items with zero 429s and every item in the catalog', { timeout: 180_000 }, async () => {
    const prefix = newPrefix();
    const run = await runProcesses([0, 1, 2].map((i) => pushConfig(prefix, 'shared', i, 10_000)));
    run.go();
    const reports = await run.reports;
    for (const r of reports) {
      expect(r.error).toBeUndefined();
      expect(r.notAccepted).toEqual([]);
      expect(r.accepted).toBe(10_000);
    }
    expect(sim.batch.stats(PROJECT.projectKey).rejected429).toBe(0);
    const items = sim.batch.catalog(PROJECT.projectKey, 'shared')?.items;
    expect(items?.size).toBe(30_000);
    for (const i of [0, 1, 2]) for (const n of [0, 4321, 9999]) expect(items?.has(`p${i}-${n}`)).toBe(true);
  });

  it('a forced 429 window pauses every process and loses nothing', { timeout: 120_000 }, async () => {
    const prefix = newPrefix();
    const run = await runProcesses([0, 1, 2].map((i) => pushConfig(prefix, 'throttled', i, 1000)));
    const windowEndsAtMs = Date.now() + 2500;
    sim.batch.faults.set({ force429UntilMs: windowEndsAtMs });
    try {
      run.go();
      const reports = await run.reports;
      for (const r of reports) {
        expect(r.error).toBeUndefined();
        expect(r.notAccepted).toEqual([]);
        expect(r.accepted).toBe(1000);
        expect(r.firstAcceptedAtMs).toBeGreaterThanOrEqual(windowEndsAtMs);
      }
      const rejected = sim.batch.stats(PROJECT.projectKey).rejected429;
      expect(rejected).toBeGreaterThan(0);
      // The shared pause outlasts the window, so each of the 6 lanes meets at most one 429.
      expect(rejected).toBeLessThanOrEqual(6);
      expect(reports.reduce((n, r) => n + r.retried429, 0)).toBe(rejected);
      expect(sim.batch.catalog(PROJECT.projectKey, 'throttled')?.items.size).toBe(3000);
    } finally {
      sim.batch.faults.clear();
    }
  });

  it('auto-creating the same catalog ends with one catalog, every field, and no error', {
    timeout: 120_000,
  }, async () => {
    const prefix = newPrefix();
    const fieldsOf = (i: number): FieldSpec[] => [...TITLE, { name: `extra_${i}`, type: 'integer' }];
    const run = await runProcesses(
      [0, 1, 2].map((i) => ({
        ...pushConfig(prefix, 'raced', i, 0),
        mode: 'ensure' as const,
        fields: fieldsOf(i),
      })),
    );
    run.go();
    const reports = await run.reports;
    for (const r of reports) expect(r.error).toBeUndefined();
    const client = new BatchClient({ ...PROJECT, baseUrl: sim.batchUrl });
    expect((await client.listCatalogs()).filter((n) => n === 'raced')).toHaveLength(1);
    const view = await client.viewCatalog('raced');
    expect(view.fields.map((f) => f.name).sort()).toEqual(['extra_0', 'extra_1', 'extra_2', 'title']);
  });
});
