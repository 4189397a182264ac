/**
 * `npm run demo -- --debezium`: a live Postgres table → Debezium (Kafka Connect) → catalog-sync → the Batch
 * simulator. The initial snapshot is a full run of a Mirror sync; INSERT/UPDATE/DELETE statements then
 * stream as changes. Ends with the figures and a check that the catalog equals the table.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import {
  debeziumPaths,
  fetchDebezium,
  type Postgres,
  startConnect,
  startPostgres,
} from '../../devstack/debezium.js';
import { freePort } from '../../devstack/process.js';
import { ROOT, stackUp } from '../../devstack/stack.js';
import { parseConfig } from '../../src/config/config.js';
import { connectionOf, createKafka } from '../../src/kafka/client.js';
import { ensureTopics, serviceTopics } from '../../src/kafka/topics.js';
import { readStatus } from '../../src/status/reader.js';
import type { StatusEventDecoded } from '../../src/status/types.js';
import { startSimulator } from '../simulator/server.js';
import { exited, startInstance, waitReady } from './instances.js';
import { type Resources, removeDemoState } from './lifecycle.js';
import type { Progress } from './progress.js';
import type { Check } from './summary.js';
import { StatusTracker } from './tracker.js';

const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };
const SECRETS = { DEMO_BATCH_PROJECT_KEY: PROJECT.projectKey, DEMO_BATCH_REST_API_KEY: PROJECT.restApiKey };
const SYNC = 'products';
const n = (v: number) => v.toLocaleString('en-US');

export interface DebeziumOptions {
  products: number;
  instances: number;
  keep: boolean;
  runTimeout: number;
}

type Row = { name: string; price: number; stock: number };

/** id → attributes, as the catalog must hold the table. */
function tableRows(pg: Postgres): Map<string, Row> {
  const out = new Map<string, Row>();
  const text = pg.sql('SELECT id, name, price, stock FROM products ORDER BY id');
  for (const line of text ? text.split('\n') : []) {
    const [id, name, price, stock] = line.split('|');
    out.set(id!, { name: name!, price: Number(price), stock: Number(stock) });
  }
  return out;
}

function sameRow(want: Row | undefined, have: Record<string, unknown> | undefined): boolean {
  if (!want || !have) return want === undefined && have === undefined;
  return have.name === want.name && have.price === want.price && have.stock === want.stock;
}

async function until<T>(what: string, fn: () => T | undefined, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not seen after ${timeoutMs / 1000}s`);
    await sleep(25);
  }
}

export async function runDebezium(o: DebeziumOptions, res: Resources, progress: Progress): Promise<boolean> {
  const say = (s: string) => progress.log(s);
  const started = Date.now();
  const id = `demo-dbz-${randomUUID().slice(0, 8)}`;
  const prefix = id.replace(/-/g, '_');
  const topic = `${prefix}.public.products`;

  fetchDebezium(debeziumPaths(ROOT), say);
  say('starting the local stack (Kafka, schema registry, Redis)...');
  res.stack = await stackUp({ say });
  const stack = res.stack;
  // Under ROOT, not the temp folder: as root the server runs as the postgres user, which must reach it.
  const dir = join(ROOT, '.devstack', id);
  mkdirSync(dir, { recursive: true });
  say(`starting a throwaway PostgreSQL 15 with a products table of ${n(o.products)} rows...`);
  const pg = await startPostgres(join(dir, 'pg'), await freePort('127.0.0.1', 25432));
  res.processes.push({ name: 'postgres', stop: () => pg.stop() });
  pg.sql(
    'CREATE TABLE products (id integer PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL, ' +
      'stock integer NOT NULL); ALTER TABLE products REPLICA IDENTITY FULL',
  );
  pg.sql(
    `INSERT INTO products SELECT i, 'Product ' || i, (i % 500) + 0.99, i % 37 FROM generate_series(1, ${o.products}) AS i`,
  );
  say(`postgres: 127.0.0.1:${pg.port}, table public.products (REPLICA IDENTITY FULL)`);
  res.sim = await startSimulator({ port: 0, batch: { projects: [PROJECT] } });
  const sim = res.sim;
  say(`Batch simulator: ${sim.batchUrl}`);

  const template = parseYaml(readFileSync(join(ROOT, 'examples/demo-config.yaml'), 'utf8'));
  const raw = {
    ...template,
    kafka: {
      ...template.kafka,
      brokers: stack.kafkaBrokers,
      groupId: `${id}-group`,
      cdcTopic: `${id}.cdc`,
      statusTopic: `${id}.status`,
      deadLetterTopic: `${id}.dead-letter`,
    },
    schemaRegistry: { url: stack.registryUrl },
    redis: { url: stack.redisUrl, keyPrefix: id },
    batch: { ...template.batch, baseUrl: sim.batchUrl },
    syncs: [
      {
        id: SYNC,
        destination: { type: 'batch', project: 'demo', catalog: 'products' },
        mode: 'full_then_delta',
        operation: 'mirror',
        idColumn: 'id',
        fields: [
          { source: 'name', attribute: 'name', type: 'string' },
          { source: 'price', attribute: 'price', type: 'float' },
          { source: 'stock', attribute: 'stock', type: 'integer' },
        ],
        flushWaitMs: 50,
        input: { topic, envelope: 'debezium' },
      },
    ],
  };
  const env = {
    ...process.env,
    ...SECRETS,
    KAFKA_BROKERS: stack.kafkaBrokers,
    SCHEMA_REGISTRY_URL: stack.registryUrl,
    REDIS_URL: stack.redisUrl,
    REDIS_KEY_PREFIX: id,
    BATCH_API_URL: sim.batchUrl,
    LOG_LEVEL: 'warn',
  };
  const config = parseConfig(raw, env);
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, toYaml(raw));
  say(`configuration: ${configFile} (sync ${SYNC}: Mirror, input ${topic}, envelope debezium)`);

  const kafka = createKafka({ ...connectionOf(config.kafka), clientId: id });
  const k = config.kafka;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, serviceTopics(k));
    // Three partitions: the snapshot's rows spread over them, its end marker lands on one.
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  } finally {
    await admin.disconnect();
  }
  res.cleanup.push(() =>
    removeDemoState(stack, kafka, [k.cdcTopic, k.statusTopic, k.deadLetterTopic, topic], id),
  );

  const events: StatusEventDecoded[] = [];
  const tracker = new StatusTracker();
  res.readers.push(
    await readStatus({
      kafka,
      registry: new SchemaRegistry({ host: stack.registryUrl, clientId: id }),
      topic: k.statusTopic,
      fromBeginning: true,
      onEvent: (e) => {
        events.push(e);
        tracker.onEvent(e);
      },
    }),
  );
  for (let i = 0; i < o.instances; i++) {
    res.instances.push(
      await startInstance({
        root: ROOT,
        name: `${id}-${String.fromCharCode(97 + i)}`,
        configFile,
        logDir: dir,
        env,
      }),
    );
  }
  say(`starting ${o.instances} consumer instances (${res.instances.map((i) => i.name).join(', ')})...`);
  await waitReady(res.instances, 120_000);
  say('instances ready');

  say(`starting Kafka Connect with Debezium (topic prefix ${prefix}); it snapshots the table first...`);
  const connect = await startConnect(debeziumPaths(ROOT), {
    dir: join(dir, 'connect'),
    brokers: stack.kafkaBrokers,
    registryBase: stack.registryUrl.replace(/\/apis\/.*$/, ''),
    restPort: await freePort('127.0.0.1', 28083),
    pg: { port: pg.port },
    topicPrefix: prefix,
    tables: ['public.products'],
    slot: `${prefix}_slot`,
    publication: `${prefix}_pub`,
    offsetsFile: join(dir, 'connect', 'offsets.dat'),
  });
  res.processes.push({ name: 'kafka connect', stop: () => connect.stop() });
  say(`Kafka Connect up (log ${connect.log})`);

  const limit = config.destinations.batch!.limits.itemsPerSecond;
  progress.attach({ stats: () => sim.batch.stats(PROJECT.projectKey), tracker, limit, totalRuns: 1 });
  progress.phase('snapshot run');
  const dead = () => {
    const d = res.instances.find(exited);
    return d && `instance ${d.name} exited:\n${d.tail()}`;
  };
  const snapshotId = (
    await until(
      'RUN_STARTED of the snapshot',
      () => {
        const why = dead();
        if (why) throw new Error(why);
        return [...tracker.runs.values()].find((r) => r.runId.startsWith('snapshot-'));
      },
      120_000,
    )
  ).runId;
  say(`snapshot run ${snapshotId} started`);
  const snapshot = await tracker.waitRun(SYNC, snapshotId, o.runTimeout * 1000 + o.products * 5, dead);
  progress.detach();
  const took = ((snapshot.completedAt! - snapshot.startedAt!) / 1000).toFixed(1);
  say(`snapshot run completed: ${n(snapshot.counts?.upserted ?? 0)} upserted in ${took} s`);

  const items = () => sim.batch.catalog(PROJECT.projectKey, 'products')?.items ?? new Map();
  /** Runs one statement and waits until every id it touched reads in the catalog as in the table. */
  const change = async (label: string, sql: string, ids: number[]) => {
    const t0 = Date.now();
    pg.sql(sql);
    const want = tableRows(pg);
    await until(
      label,
      () => (ids.every((i) => sameRow(want.get(String(i)), items().get(String(i)))) ? true : undefined),
      30_000,
    );
    say(`${label}: applied in the catalog after ${Date.now() - t0} ms`);
    return ids.length;
  };
  const max = o.products;
  let applied = 0;
  applied += await change(
    `INSERT ids ${max + 1}, ${max + 2}`,
    `INSERT INTO products VALUES (${max + 1}, 'New product A', 12.5, 3), (${max + 2}, 'New product B', 7.25, 9)`,
    [max + 1, max + 2],
  );
  applied += await change(
    'UPDATE id 3 (name, price)',
    "UPDATE products SET name = 'Renamed 3', price = 99.99 WHERE id = 3",
    [3],
  );
  applied += await change(
    'UPDATE ids 10..19 (stock = 0)',
    'UPDATE products SET stock = 0 WHERE id BETWEEN 10 AND 19',
    [...Array(10).keys()].map((i) => 10 + i),
  );
  applied += await change('DELETE ids 5, 6', 'DELETE FROM products WHERE id IN (5, 6)', [5, 6]);

  // One UPDATE: when its request was accepted by Batch, and when its indexing token reached APPLIED.
  const t0 = Date.now();
  pg.sql("UPDATE products SET name = 'Latency probe' WHERE id = 8");
  const probe = (type: string) => () =>
    events.find((e) => e.type === type && e.itemIds.includes('8') && e.at >= t0);
  const indexed = await until('INDEXING_APPLIED of the probe', probe('INDEXING_APPLIED'), 30_000);
  const accepted = probe('REQUEST_ACCEPTED')();
  applied += 1;
  const latency = `${accepted ? accepted.at - t0 : '?'} ms to REQUEST_ACCEPTED, ${indexed.at - t0} ms to INDEXING_APPLIED`;
  say(`UPDATE id 8: ${latency}`);

  // The whole catalog against the whole table, attribute by attribute.
  const want = tableRows(pg);
  const equal = () => {
    const have = items();
    if (have.size !== want.size) return false;
    for (const [key, row] of want) if (!sameRow(row, have.get(key))) return false;
    return true;
  };
  await until('the catalog equals the table', () => (equal() ? true : undefined), 30_000).catch(
    () => undefined,
  );
  const have = items();
  const differ = [...new Set([...want.keys(), ...have.keys()])].filter(
    (key) => !sameRow(want.get(key), have.get(key)),
  );
  const f = tracker.figures(SYNC);
  const checks: Check[] = [
    {
      ok: differ.length === 0,
      line:
        `check: catalog products equals table public.products (${n(have.size)} items, ${n(want.size)} rows, ` +
        `name/price/stock compared): ${differ.length === 0 ? 'yes' : `FAILED (${n(differ.length)} differ: ${differ.slice(0, 5).join(', ')})`}`,
    },
    {
      ok: (snapshot.counts?.upserted ?? 0) === o.products,
      line: `check: the snapshot run upserted every row: ${n(snapshot.counts?.upserted ?? 0)} of ${n(o.products)}`,
    },
    {
      ok: f.deadLetters === 0 && f.rejections.length === 0,
      line: `check: no dead letters or rejected items: ${f.deadLetters === 0 && f.rejections.length === 0 ? 'yes' : `NO (${f.deadLetters} dead letters, ${f.rejections.length} rejected)`}`,
    },
  ];
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const out = [
    '',
    `catalog-sync Debezium demo ${id}: table public.products (${n(o.products)} rows) → Debezium → ` +
      `${o.instances} instances → Batch simulator, done in ${seconds} s`,
    '',
    `${SYNC}  (full_then_delta / mirror → batch:products, input ${topic}, envelope debezium)`,
    `  snapshot run ${snapshotId}: ${n(snapshot.counts?.upserted ?? 0)} upserted, ${n(snapshot.counts?.removed ?? 0)} removed, took ${took} s`,
    `  stream: ${applied} row changes applied (2 inserts, 12 updates, 2 deletes), each checked in the catalog`,
    `  single UPDATE: ${latency} (flushWaitMs 50)`,
    `  requests accepted: ${n(f.acceptedTokens.size)} (${n(f.acceptedItems)} items), indexing tokens APPLIED: ${n(f.appliedTokens.size)}, retries: ${f.retries}`,
    '',
    ...checks.map((c) => c.line),
    '',
    o.keep
      ? `kept running until Ctrl-C: psql -h 127.0.0.1 -p ${pg.port} -U postgres, config ${configFile}, logs ${dir}`
      : 'next: `npm run demo -- --debezium --keep` leaves Postgres, Connect and the instances running to try your own SQL',
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  const ok = checks.every((c) => c.ok);
  if (ok && !o.keep) res.cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  return ok;
}
