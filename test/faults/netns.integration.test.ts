/**
 * Network partitions (issue #14 §3): an instance runs as a child process (`cli.ts start`) in a network
 * namespace of its own and is cut off, with `tc` drop filters, from Kafka, Redis or the Batch API.
 * Its Kafka broker, Redis and a recording relay to the simulator are private and listen on the
 * host-side address of the veth pair; the shared schema registry is reached through a TCP relay.
 * Every scenario ends with the exact catalog (content compared). Skipped, with the reason, where root
 * and `ip netns` are unavailable.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka, type Producer } from '../../src/kafka/client.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import { type Simulator, startSimulator } from '../../tools/simulator/server.js';
import {
  createNetHost,
  type NetHost,
  netnsUnavailable,
  recordingRelay,
  startPrivateKafka,
  startPrivateRedis,
  tcpRelay,
} from '../helpers/netns.js';
import { PROJECT, products } from '../helpers/pipeline.js';
import { endpoints, eventually, unique } from '../helpers/services.js';

const CLI = resolve(import.meta.dirname, '../../src/runtime/cli.ts');
const LONG = process.env.CATALOG_SYNC_FAULTS === '1';
const unavailable = netnsUnavailable();
if (unavailable) console.warn(`[netns] skipped: ${unavailable}`);

interface Stack {
  host: NetHost;
  kafka: Awaited<ReturnType<typeof startPrivateKafka>>;
  redis: Awaited<ReturnType<typeof startPrivateRedis>>;
  registry: Awaited<ReturnType<typeof tcpRelay>>;
  sim: Simulator;
  relay: Awaited<ReturnType<typeof recordingRelay>>;
  producer: Producer;
  schemas: SchemaRegistry;
  dir: string;
}

interface Instance {
  name: string;
  child: ChildProcess;
  logs: Record<string, unknown>[];
  metricsUrl: string;
  stop(): Promise<void>;
}

describe.skipIf(unavailable !== undefined)('network partitions in a namespace (integration)', () => {
  let s: Stack;
  const instances: Instance[] = [];

  beforeAll(async () => {
    const host = createNetHost();
    const started: { stop(): Promise<void> }[] = [];
    try {
      // One after the other: the broker's storage format blocks the event loop for seconds.
      const redis = await startPrivateRedis(host.hostIp);
      started.push(redis);
      const kafka = await startPrivateKafka(host.hostIp);
      started.push(kafka);
      const reg = new URL(endpoints().registryUrl);
      const registry = await tcpRelay(host.hostIp, { host: reg.hostname, port: Number(reg.port) });
      const sim = await startSimulator({ port: 0, host: host.hostIp });
      const relay = await recordingRelay(host.hostIp, sim.url);
      const producer = createKafka({ brokers: kafka.brokers }).producer({ maxInFlightRequests: 1 });
      await producer.connect();
      const schemas = new SchemaRegistry({ host: endpoints().registryUrl });
      const dir = mkdtempSync(join(tmpdir(), 'catalog-sync-netns-'));
      s = { host, kafka, redis, registry, sim, relay, producer, schemas, dir };
    } catch (err) {
      for (const x of started) await x.stop().catch(() => undefined);
      host.close();
      throw err;
    }
  }, 180_000);

  afterAll(async () => {
    for (const i of instances) await i.stop();
    if (!s) return;
    await s.producer.disconnect().catch(() => undefined);
    await s.relay.close();
    await s.sim.close();
    await s.registry.close();
    await s.redis.stop();
    await s.kafka.stop();
    s.host.close();
    rmSync(s.dir, { recursive: true, force: true });
  }, 60_000);

  function scenario(partitions = 3) {
    const name = unique('netns');
    const catalog = name.replace(/[^A-Za-z0-9_-]/g, '_');
    const raw = (instance: string, httpPort: number) => ({
      instanceId: `${name}-${instance}`,
      logLevel: 'info',
      kafka: {
        brokers: s.kafka.brokers,
        groupId: `${name}-group`,
        cdcTopic: `${name}.cdc`,
        cdcPartitions: partitions,
        statusTopic: `${name}.status`,
        deadLetterTopic: `${name}.dlq`,
        sessionTimeoutMs: 10_000,
      },
      schemaRegistry: { url: `http://${s.host.hostIp}:${s.registry.port}/apis/ccompat/v7` },
      redis: { url: s.redis.url, keyPrefix: name },
      http: { port: httpPort, host: '0.0.0.0' },
      batch: {
        baseUrl: `http://${s.host.hostIp}:${s.relay.port}/2.11`,
        projects: {
          demo: { projectKey: { env: 'TEST_BATCH_PROJECT' }, restApiKey: { env: 'TEST_BATCH_KEY' } },
        },
      },
      syncs: [
        {
          id: 'nn',
          destination: { type: 'batch', project: 'demo', catalog },
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
    });

    /** `inNamespace`: the cut-off host; otherwise this one. */
    const start = (instance: string, inNamespace: boolean): Instance => {
      const httpPort = 33_000 + Math.floor(Math.random() * 2000);
      const file = join(s.dir, `${name}-${instance}.json`);
      writeFileSync(file, JSON.stringify(raw(instance, httpPort)));
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        TEST_BATCH_PROJECT: PROJECT.projectKey,
        TEST_BATCH_KEY: PROJECT.restApiKey,
      };
      const argv = [process.execPath, '--import', 'tsx', CLI, 'start', '--config', file];
      const [cmd, ...args] = inNamespace ? [...s.host.exec, ...argv] : argv;
      const child = spawn(cmd!, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const logs: Record<string, unknown>[] = [];
      let rest = '';
      child.stdout!.on('data', (d: Buffer) => {
        const lines = (rest + d.toString('utf8')).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) {
          try {
            logs.push(JSON.parse(line) as Record<string, unknown>);
          } catch {}
        }
      });
      child.stderr!.on('data', () => undefined);
      let exited = false;
      child.once('exit', () => {
        exited = true;
      });
      const inst: Instance = {
        name: instance,
        child,
        logs,
        metricsUrl: `http://${inNamespace ? s.host.nsIp : '127.0.0.1'}:${httpPort}/metrics`,
        async stop() {
          if (exited || child.pid === undefined) return;
          child.kill('SIGTERM');
          for (let i = 0; i < 300 && !exited; i++) await sleep(100);
          if (!exited) child.kill('SIGKILL');
        },
      };
      instances.push(inst);
      return inst;
    };

    const produce = (kind: 'FULL' | 'DELTA', rows: Row[]) =>
      produceRun({
        producer: s.producer,
        registry: s.schemas,
        topic: `${name}.cdc`,
        syncId: 'nn',
        kind,
        idColumn: 'sku',
        rows,
      });

    const items = () => s.sim.batch.catalog(PROJECT.projectKey, catalog)?.items ?? new Map();
    const content = () =>
      new Map(
        [...items()].map(([k, v]: [string, Record<string, unknown>]) => [
          k,
          { name: v.name, price: v.price, in_stock: v.in_stock, tags: v.tags },
        ]),
      );
    const expected = (rows: Row[]) =>
      new Map(
        rows.map((r) => [
          String(r.sku),
          { name: r.name, price: r.price, in_stock: r.in_stock, tags: r.tags },
        ]),
      );
    /** Waits for the exact catalog, then compares it (content, not counts). */
    const exact = async (rows: Row[], timeoutMs: number) => {
      const want = expected(rows);
      await eventually(
        'the exact catalog',
        () => {
          const got = content();
          if (got.size !== want.size) return undefined;
          for (const [k, v] of want) {
            const g = got.get(k);
            if (!g || JSON.stringify(g) !== JSON.stringify(v)) return undefined;
          }
          return true;
        },
        timeoutMs,
      ).catch(() => undefined);
      expect(content()).toEqual(want);
    };
    const ready = (inst: Instance) =>
      eventually(
        `${inst.name} joined`,
        () => inst.logs.find((l) => l.msg === 'partitions assigned' && (l.partitions as number[]).length > 0),
        90_000,
      );
    const metric = async (inst: Instance, name: string) => {
      const text = await (await fetch(inst.metricsUrl)).text();
      return text
        .split('\n')
        .filter((l) => l.startsWith(name))
        .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    };
    /** Which partition each item id went to, from the instances' log of what they consumed. */
    const partitionOf = async () => {
      const consumer = createKafka({ brokers: s.kafka.brokers }).consumer({ groupId: unique('reader') });
      const map = new Map<string, number>();
      await consumer.connect();
      await consumer.subscribe({ topics: [`${name}.cdc`], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ partition, message }) => {
          if (message.key) map.set(message.key.toString(), partition);
        },
      });
      return { map, stop: () => consumer.disconnect() };
    };
    return { name, start, produce, exact, ready, metric, partitionOf, items };
  }

  it('cut from Kafka only: the expelled owner sends nothing for a partition after its new owner did', async () => {
    // Slow enough that the cut-off owner still holds requests when its partitions move.
    s.sim.batch.faults.set({ latencyMs: 3000 });
    const sc = scenario(3);
    const a = sc.start('a', true);
    await sc.ready(a);
    const b = sc.start('b', false);
    await sc.ready(b);
    await eventually(
      'a rebalance that leaves a some partitions',
      () => {
        const joins = a.logs.filter((l) => l.msg === 'partitions assigned');
        return joins.length >= 2 && (joins.at(-1)!.partitions as number[]).length > 0 ? true : undefined;
      },
      60_000,
    );
    const rows = products(1, LONG ? 20_000 : 4000);
    const run = sc.produce('FULL', rows);
    await eventually('a few items applied', () => (sc.items().size >= 400 ? true : undefined), 120_000);
    const cutAt = Date.now();
    s.host.cut(Number(s.kafka.brokers.split(':')[1]));
    // b takes over once a's session times out; a keeps sending what it holds until fenced.
    await sleep(LONG ? 45_000 : 25_000);
    s.host.heal(Number(s.kafka.brokers.split(':')[1]));
    await run;
    s.sim.batch.faults.set({ latencyMs: 0 });
    await sc.exact(rows, 240_000);

    const { map, stop } = await sc.partitionOf();
    await eventually('every key read', () => (map.size >= rows.length ? true : undefined), 60_000);
    await stop();
    const edits = s.relay.log.filter((r) => r.at >= cutAt && r.ids.length > 0);
    const fromA = edits.filter((r) => r.from.endsWith(s.host.nsIp));
    const fromB = edits.filter((r) => !r.from.endsWith(s.host.nsIp));
    let checked = 0;
    for (let p = 0; p < 3; p++) {
      const firstOfB = fromB.find((r) => r.ids.some((id) => map.get(id) === p));
      if (!firstOfB) continue;
      const late = fromA.filter((r) => r.at > firstOfB.at && r.ids.some((id) => map.get(id) === p));
      expect(late, `partition ${p}: requests of the old owner after the new owner's first`).toEqual([]);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
    const fenced = await sc.metric(a, 'catalog_sync_generation_fenced_total').catch(() => Number.NaN);
    process.stderr.write(
      `[netns] kafka cut: ${fromA.length} requests from the cut-off owner after the cut, ${fenced} refused by the generation fence` +
        '\n',
    );
    await a.stop();
    await b.stop();
  }, 600_000);

  it('cut from Redis only: stops sending while cut, recovers when the link returns', async () => {
    const sc = scenario(2);
    const a = sc.start('a', true);
    await sc.ready(a);
    const rows = products(1, LONG ? 20_000 : 3000);
    const run = sc.produce('FULL', rows);
    await eventually('a few items applied', () => (sc.items().size >= 200 ? true : undefined), 120_000);
    s.host.cut(s.redis.port);
    const cutAt = Date.now();
    await sleep(LONG ? 40_000 : 15_000);
    const healAt = Date.now();
    s.host.heal(s.redis.port);
    await run;
    await sc.exact(rows, 240_000);
    // In-flight requests may finish just after the cut; nothing new leaves without Redis.
    const during = s.relay.log.filter(
      (r) => r.from.endsWith(s.host.nsIp) && r.ids.length > 0 && r.at > cutAt + 3000 && r.at < healAt,
    );
    expect(during).toEqual([]);
    await a.stop();
  }, 600_000);

  it('cut from the Batch API only (replies dropped): requests time out, retries are idempotent, reported', async () => {
    const sc = scenario(2);
    const a = sc.start('a', true);
    await sc.ready(a);
    const rows = products(1, LONG ? 10_000 : 2000);
    const run = sc.produce('FULL', rows);
    await eventually('a few items applied', () => (sc.items().size >= 200 ? true : undefined), 120_000);
    // The requests reach the simulator (and are applied) but no reply comes back.
    s.host.cut(s.relay.port, 'back');
    await sleep(LONG ? 50_000 : 22_000);
    s.host.heal(s.relay.port, 'back');
    await run;
    await sc.exact(rows, 240_000);
    const retries = await sc.metric(a, 'catalog_sync_destination_retries_total');
    expect(retries).toBeGreaterThan(0);
    const failures = a.logs.filter((l) => l.msg === 'Batch request failed; retrying');
    const timeouts = failures.filter((l) => l.code === 'BATCH_TIMEOUT');
    expect(timeouts.length).toBeGreaterThan(0);
    // The 15 s HTTP timeout is honoured: no attempt is given up on before it.
    for (const t of timeouts) expect(Number(t.elapsedMs)).toBeGreaterThanOrEqual(15_000);
    // and the retry budget (6 attempts) is never spent by a 22 s cut: no request is failed for good.
    expect(a.logs.filter((l) => l.msg === 'Batch request failed')).toEqual([]);
    const slow = await sc.metric(a, 'catalog_sync_destination_request_duration_seconds_count');
    process.stderr.write(
      `[netns] batch cut: ${retries} retries, codes ${[...new Set(failures.map((l) => l.code))].join(',')}, ` +
        `attempts given up after ${timeouts.map((l) => l.elapsedMs).join(', ')} ms, ${slow} requests timed` +
        '\n',
    );
    await a.stop();
  }, 600_000);
});
