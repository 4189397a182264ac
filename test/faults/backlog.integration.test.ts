/**
 * Backpressure (issue #14 §4): a backlog builds while Batch answers slowly (the simulator's latency
 * fault); the instance, a child process (`cli.ts start`), keeps a bounded RSS (sampled from /proc, the
 * peak is printed) and its lag drains once Batch recovers, ending with the exact catalog.
 * `npm test` runs 20,000 events; `CATALOG_SYNC_FAULTS=1` (npm run test:faults) runs 2,000,000.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/kafka/client.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import { startSimulator } from '../../tools/simulator/server.js';
import { PROJECT } from '../helpers/pipeline.js';
import { deleteKeys, endpoints, eventually, unique } from '../helpers/services.js';

const CLI = resolve(import.meta.dirname, '../../src/runtime/cli.ts');
const LONG = process.env.CATALOG_SYNC_FAULTS === '1';
const EVENTS = LONG ? 2_000_000 : 20_000;

function row(i: number): Row {
  return { sku: `sku-${i}`, name: `Product ${i}`, price: i + 0.99, in_stock: i % 3 !== 0, tags: ['demo'] };
}

function* rows(): Generator<Row> {
  for (let i = 1; i <= EVENTS; i++) yield row(i);
}

function rssBytes(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

describe('a backlog while Batch answers slowly (integration)', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it(`${EVENTS} events: bounded RSS, lag drains once Batch recovers, exact catalog`, async () => {
    const sim = await startSimulator({
      port: 0,
      batch: { requestsPerSecond: 50, itemsPerSecond: 10_000, indexingDelayMs: 50 },
    });
    cleanups.push(() => sim.close());
    sim.batch.faults.set({ latencyMs: 3000, latencyJitterMs: 1000 });
    const name = unique('backlog');
    cleanups.push(async () => void (await deleteKeys(name)));
    const dir = mkdtempSync(join(tmpdir(), 'catalog-sync-backlog-'));
    cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'config.json');
    const topic = `${name}.cdc`;
    writeFileSync(
      file,
      JSON.stringify({
        instanceId: `${name}-a`,
        logLevel: 'warn',
        kafka: {
          brokers: endpoints().kafkaBrokers,
          groupId: `${name}-group`,
          cdcTopic: topic,
          cdcPartitions: 3,
          statusTopic: `${name}.status`,
          deadLetterTopic: `${name}.dlq`,
          sessionTimeoutMs: 10_000,
        },
        schemaRegistry: { url: endpoints().registryUrl },
        redis: { url: endpoints().redisUrl, keyPrefix: name },
        http: { port: 0 },
        batch: {
          baseUrl: sim.batchUrl,
          projects: {
            demo: { projectKey: { env: 'TEST_BATCH_PROJECT' }, restApiKey: { env: 'TEST_BATCH_KEY' } },
          },
          limits: { requestsPerSecond: 50, itemsPerSecond: 10_000 },
        },
        syncs: [
          {
            id: 'bl',
            destination: { type: 'batch', project: 'demo', catalog: 'backlog' },
            mode: 'full_then_delta',
            operation: 'upsert',
            idColumn: 'sku',
            fields: [
              { source: 'name', attribute: 'name', type: 'string' },
              { source: 'price', attribute: 'price', type: 'float' },
              { source: 'in_stock', attribute: 'in_stock', type: 'bool' },
            ],
            customAttributes: ['tags'],
            flushWaitMs: 100,
          },
        ],
      }),
    );
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', file], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        TEST_BATCH_PROJECT: PROJECT.projectKey,
        TEST_BATCH_KEY: PROJECT.restApiKey,
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    let exited = false;
    child.once('exit', () => {
      exited = true;
    });
    cleanups.push(async () => {
      if (exited) return;
      child.kill('SIGTERM');
      for (let i = 0; i < 300 && !exited; i++) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    });
    let peak = 0;
    const sampler = setInterval(() => {
      const rss = child.pid === undefined ? undefined : rssBytes(child.pid);
      if (rss !== undefined) peak = Math.max(peak, rss);
    }, 250);
    cleanups.push(async () => clearInterval(sampler));

    const kafka = createKafka({ brokers: endpoints().kafkaBrokers });
    const producer = kafka.producer();
    await producer.connect();
    cleanups.push(() => producer.disconnect());
    const registry = new SchemaRegistry({ host: endpoints().registryUrl });
    // The topic exists once the instance started.
    const admin = kafka.admin();
    await admin.connect();
    cleanups.push(() => admin.disconnect());
    await eventually('the instance created its topics', async () =>
      (await admin.listTopics()).includes(topic) ? true : undefined,
    );
    const produced = Date.now();
    await produceRun({
      producer,
      registry,
      topic,
      syncId: 'bl',
      kind: 'FULL',
      idColumn: 'sku',
      rows: rows(),
    });
    const produceMs = Date.now() - produced;
    // The backlog sits while Batch is slow...
    await sleep(LONG ? 60_000 : 15_000);
    const slowPeak = peak;
    const appliedWhileSlow = sim.batch.catalog(PROJECT.projectKey, 'backlog')?.items.size ?? 0;
    // ...and drains once it recovers.
    sim.batch.faults.set({ latencyMs: 0, latencyJitterMs: 0 });
    const recovered = Date.now();
    const high = await admin.fetchTopicOffsets(topic);
    await eventually(
      'the lag to drain (every event committed)',
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: `${name}-group`, topics: [topic] });
        const at = new Map(committed!.partitions.map((p) => [p.partition, p.offset]));
        return high.every((h) => at.get(h.partition) === h.high) ? true : undefined;
      },
      LONG ? 3_600_000 : 180_000,
    );
    const drainMs = Date.now() - recovered;
    clearInterval(sampler);
    const items = sim.batch.catalog(PROJECT.projectKey, 'backlog')!.items;
    expect(items.size).toBe(EVENTS);
    let wrong = 0;
    for (let i = 1; i <= EVENTS; i++) {
      const r = row(i);
      const got = items.get(String(r.sku)) as Record<string, unknown> | undefined;
      if (
        !got ||
        got.name !== r.name ||
        got.price !== r.price ||
        got.in_stock !== r.in_stock ||
        JSON.stringify(got.tags) !== JSON.stringify(r.tags)
      )
        wrong++;
    }
    expect(wrong).toBe(0);
    const mb = (b: number) => Math.round(b / 1048576);
    process.stderr.write(
      `[backlog] ${EVENTS} events produced in ${produceMs} ms; applied while Batch was slow: ${appliedWhileSlow}; ` +
        `peak RSS ${mb(slowPeak)} MB while slow, ${mb(peak)} MB overall; drained in ${drainMs} ms after recovery` +
        '\n',
    );
    // Bounded: the fetch window, not the backlog, sets the memory.
    expect(peak).toBeGreaterThan(0);
    expect(peak).toBeLessThan(1024 * 1048576);
  }, 4_000_000);
});
