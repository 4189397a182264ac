/**
 * `npm run demo`: the local stack, the Batch simulator, two consumer instances, then a products sync
 * (Full then Delta / Mirror: full, delta, full with ≈2% missing) and an offers sync (Full Only / Upsert),
 * with live progress on stderr and a summary with checks on stdout. Exit 0 when every check passes.
 * `--debezium`: a live Postgres table through Debezium instead (tools/demo/debezium.ts).
 */

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Command, InvalidArgumentError } from 'commander';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { debeziumMissing } from '../../devstack/debezium.js';
import { ROOT, stackUp } from '../../devstack/stack.js';
import { type Config, parseConfig } from '../../src/config/config.js';
import { describe } from '../../src/errors.js';
import { connectionOf, createKafka } from '../../src/kafka/client.js';
import { ensureTopics, serviceTopics } from '../../src/kafka/topics.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import { readStatus } from '../../src/status/reader.js';
import { startSimulator } from '../simulator/server.js';
import * as data from './data.js';
import { runDebezium } from './debezium.js';
import { exited, startInstance, waitReady } from './instances.js';
import { cliCommands, Resources, removeDemoState } from './lifecycle.js';
import { Progress } from './progress.js';
import { type Check, catalogCheck, nextSteps, projectSummary, syncSummary } from './summary.js';
import { type RunRecord, StatusTracker } from './tracker.js';

const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };
const SECRETS = { DEMO_BATCH_PROJECT_KEY: PROJECT.projectKey, DEMO_BATCH_REST_API_KEY: PROJECT.restApiKey };

interface Options {
  products: number;
  offers?: number;
  instances: number;
  keep: boolean;
  runTimeout: number;
  debezium: boolean;
}

function count(min: number) {
  return (value: string) => {
    const v = Number(value);
    if (!Number.isSafeInteger(v) || v < min) throw new InvalidArgumentError(`must be an integer >= ${min}`);
    return v;
  };
}

async function run(o: Options, res: Resources, progress: Progress): Promise<boolean> {
  const say = (s: string) => progress.log(s);
  const started = Date.now();
  const s = data.scenario(o.products, o.offers ?? Math.max(50, Math.round(o.products / 5)));
  const id = `demo-${randomUUID().slice(0, 8)}`;

  say('starting the local stack (Kafka, schema registry, Redis)...');
  res.stack = await stackUp({ say });
  say(
    `stack: kafka ${res.stack.kafkaBrokers}, registry ${res.stack.registryUrl}, redis ${res.stack.redisUrl}` +
      (res.stack.started.length ? ` (started ${res.stack.started.join(', ')})` : ' (already running)'),
  );
  res.sim = await startSimulator({ port: 0, batch: { projects: [PROJECT] } });
  say(`Batch simulator: ${res.sim.batchUrl}`);

  const template = parseYaml(readFileSync(join(ROOT, 'examples/demo-config.yaml'), 'utf8'));
  const raw = {
    ...template,
    kafka: {
      ...template.kafka,
      brokers: res.stack.kafkaBrokers,
      groupId: `${id}-group`,
      cdcTopic: `${id}.cdc`,
      statusTopic: `${id}.status`,
      deadLetterTopic: `${id}.dead-letter`,
    },
    schemaRegistry: { url: res.stack.registryUrl },
    redis: { url: res.stack.redisUrl, keyPrefix: id },
    batch: { ...template.batch, baseUrl: res.sim.batchUrl },
  };
  // Set explicitly: a BATCH_API_URL or REDIS_KEY_PREFIX left in the shell would override the file.
  const env = {
    ...process.env,
    ...SECRETS,
    KAFKA_BROKERS: res.stack.kafkaBrokers,
    SCHEMA_REGISTRY_URL: res.stack.registryUrl,
    REDIS_URL: res.stack.redisUrl,
    REDIS_KEY_PREFIX: id,
    BATCH_API_URL: res.sim.batchUrl,
    LOG_LEVEL: 'warn',
  };
  const config: Config = parseConfig(raw, env);
  const dir = mkdtempSync(join(tmpdir(), `catalog-sync-${id}-`));
  const configFile = join(dir, 'config.yaml');
  writeFileSync(configFile, toYaml(raw));
  say(`configuration: ${configFile}`);

  // The template's kafka.tls / kafka.sasl, if any, apply to the demo's own clients as to the instances.
  const kafka = createKafka({ ...connectionOf(config.kafka), clientId: id });
  const k = config.kafka;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, serviceTopics(k));
  } finally {
    await admin.disconnect();
  }
  res.cleanup.push(() =>
    removeDemoState(res.stack!, kafka, [k.cdcTopic, k.statusTopic, k.deadLetterTopic], id),
  );

  const registry = new SchemaRegistry({ host: res.stack.registryUrl, clientId: id });
  const tracker = new StatusTracker();
  res.readers.push(
    await readStatus({
      kafka,
      registry,
      topic: k.statusTopic,
      fromBeginning: true,
      onEvent: tracker.onEvent,
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
  say(`instances ready; ${k.cdcPartitions} partitions shared by the group ${k.groupId}`);

  res.producer = kafka.producer({ allowAutoTopicCreation: false });
  await res.producer.connect();
  const sim = res.sim;
  const limit = config.destinations.batch!.limits.itemsPerSecond;
  progress.attach({ stats: () => sim.batch.stats(PROJECT.projectKey), tracker, limit, totalRuns: 4 });

  let seq = Date.now();
  const runCount: Record<string, number> = {};
  const produce = async (
    syncId: string,
    kind: 'FULL' | 'DELTA',
    label: string,
    rows: Iterable<Row>,
    deletions: string[] = [],
  ) => {
    const sync = config.syncs.find((x) => x.id === syncId)!;
    const runNumber = (runCount[syncId] ?? 0) + 1;
    runCount[syncId] = runNumber;
    progress.phase(label);
    const r = await produceRun({
      producer: res.producer!,
      registry,
      topic: k.cdcTopic,
      syncId,
      kind,
      idColumn: sync.idColumn,
      rows,
      deletedIds: deletions,
      runSeq: ++seq,
      runId: `${kind.toLowerCase()}-${runNumber}`,
      onProgress: (n) => progress.produced(n),
    });
    say(
      `${label}: produced ${r.rows.toLocaleString('en-US')} rows and ${r.deletions} deletions (run ${r.runId})`,
    );
    return r;
  };
  const wait = (syncId: string, runId: string, items: number) =>
    tracker.waitRun(syncId, runId, o.runTimeout * 1000 + items * 5, () => {
      const dead = res.instances.find(exited);
      return dead && `instance ${dead.name} exited:\n${dead.tail()}`;
    });

  const runs = new Map<string, { record: RunRecord; kind: string }[]>();
  const note = (syncId: string, kind: string) => (record: RunRecord) => {
    runs.set(syncId, [...(runs.get(syncId) ?? []), { record, kind }]);
    return record;
  };

  // The first full runs of both syncs stream in together: they share the project's bucket.
  const [p1, o1] = await Promise.all([
    produce('products', 'FULL', 'products full run', data.firstFull(s)),
    produce('offers', 'FULL', 'offers full run', data.offersFull(s)),
  ]);
  progress.phase('applying the products and offers full runs');
  await Promise.all([
    wait('products', p1.runId, s.products).then(note('products', 'FULL')),
    wait('offers', o1.runId, s.offers).then(note('offers', 'FULL')),
  ]);
  const d = await produce(
    'products',
    'DELTA',
    'products delta run',
    data.deltaRows(s),
    data.deltaDeletions(s),
  );
  progress.phase('applying the products delta run');
  note('products', 'DELTA')(await wait('products', d.runId, s.changed.size));
  const p2 = await produce('products', 'FULL', 'products full run (≈2% missing)', data.lastFull(s));
  progress.phase('applying the last products full run: mirror deletions');
  note('products', 'FULL')(await wait('products', p2.runId, s.products));

  progress.phase('waiting for indexing tokens to reach APPLIED');
  const applied = await waitApplied(tracker, ['products', 'offers'], 30_000);
  progress.detach();

  const commands = cliCommands();
  const checks: Check[] = [
    catalogCheck(
      'products',
      sim.batch.catalog(PROJECT.projectKey, 'products')?.items.keys() ?? [],
      data.expectedProducts(s),
    ),
    catalogCheck(
      'offers',
      sim.batch.catalog(PROJECT.projectKey, 'offers')?.items.keys() ?? [],
      data.expectedOffers(s),
    ),
    {
      ok: applied,
      line: `check: every accepted request's indexing token reached APPLIED: ${applied ? 'yes' : 'NO (timed out)'}`,
    },
  ];
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  const out = [
    '',
    `catalog-sync demo ${id}: ${s.products.toLocaleString('en-US')} products, ${s.offers.toLocaleString('en-US')} offers, ` +
      `${o.instances} instances, ${k.cdcPartitions} partitions, done in ${seconds} s`,
    '',
    ...config.syncs.flatMap((sync) => [...syncSummary(sync, runs.get(sync.id) ?? [], tracker, limit), '']),
    projectSummary(PROJECT.projectKey, sim.batch.stats(PROJECT.projectKey), limit),
    '',
    ...checks.map((c) => c.line),
    '',
    ...nextSteps({
      env: Object.entries(SECRETS)
        .map(([key, v]) => `${key}=${v}`)
        .join(' '),
      configFile,
      commands,
      metricsUrls: res.instances.map((i) => `http://127.0.0.1:${i.port}/metrics`),
      kept: o.keep,
      logDir: o.keep ? dir : undefined,
    }),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  const ok = checks.every((c) => c.ok);
  // Logs stay for a failed or kept demo.
  if (ok && !o.keep) res.cleanup.push(async () => rmSync(dir, { recursive: true, force: true }));
  return ok;
}

async function waitApplied(tracker: StatusTracker, syncs: string[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = syncs.every((id) => {
      const f = tracker.figures(id);
      return [...f.acceptedTokens].every((t) => f.appliedTokens.has(t));
    });
    if (done) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = new Command('demo')
    .description(
      'Run catalog-sync end to end on this machine: stack, Batch simulator, two instances, four runs.',
    )
    .option('--products <n>', 'products in the full runs', count(100), 10_000)
    .option('--offers <n>', 'offers in the offers full run (default: products / 5, at least 50)', count(1))
    .option('--instances <n>', 'consumer instances (child processes)', count(1), 2)
    .option('--run-timeout <s>', 'seconds a run may take to complete, plus 5 ms per item', count(1), 120)
    .option(
      '--debezium',
      'instead: a live Postgres table through Debezium (snapshot, then INSERT/UPDATE/DELETE); --products defaults to 2,000',
      false,
    )
    .option('--keep', 'leave the instances and the simulator running after the summary, until Ctrl-C', false)
    .parse(argv);
  const o = cmd.opts<Options>();
  const productsGiven = cmd.getOptionValueSource('products') === 'cli';
  if (o.debezium) {
    const missing = debeziumMissing();
    if (missing) {
      process.stderr.write(`demo --debezium cannot run here: ${missing}\n`);
      return 1;
    }
  }
  const progress = new Progress(process.stderr);
  const res = new Resources();
  res.keepData = o.keep;
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) return;
    interrupted = true;
    progress.log('interrupted: stopping what the demo started...');
    void res.release((s) => progress.log(s)).finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let ok = false;
  try {
    ok = o.debezium
      ? await runDebezium({ ...o, products: productsGiven ? o.products : 2_000 }, res, progress)
      : await run(o, res, progress);
    if (!ok) process.stderr.write('demo: some checks FAILED (see above)\n');
  } catch (err) {
    progress.detach();
    process.stderr.write(`demo failed: ${describe(err)}\n`);
    const logs = res.instances.map((i) => i.log).join(', ');
    if (logs) process.stderr.write(`instance logs: ${logs}\n`);
  }
  if (o.keep && ok) {
    progress.log('--keep: instances and simulator keep running; press Ctrl-C to stop them');
    return new Promise<number>(() => undefined);
  }
  if (!interrupted) {
    progress.log('stopping what the demo started...');
    await res.release((s) => progress.log(s));
  }
  return ok ? 0 : 1;
}

process.exit(await main(process.argv));
