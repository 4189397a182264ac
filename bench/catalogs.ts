/**
 * npm run bench:catalogs [-- --instances 3,6] [-- --rows 60000] [-- --before-cwd <dir>] [-- --json]
 *
 * Several catalogs of one Batch project at Batch's real limits (5 requests/s, 1,000 items/s): five
 * syncs of mixed modes (one Mirror) share one CDC topic, N instance processes share its partitions.
 * For each instance count, three phases against one simulator (backlog, light, quiet):
 *   light   single-row runs on a sixth ("quiet") sync, 1 s apart, nothing else: change → accepted
 *   backlog one run per catalog, produced at once before the instances start, `rows` in all: items
 *           per request, items/s over the backlog (after a warm-up), 429 answers, group formed → every
 *           run completed
 *   quiet   the same backlog again (changed values), produced while the instances run, with the
 *           single-row runs of the quiet sync beside it: change → accepted of the quiet rows
 * "change → accepted": from Kafka acknowledging the row of a single-row run to the simulator holding it
 * (polled every 10 ms). With `--before-cwd`, every scenario runs first with the instances started from
 * that tree (the code before a change), then from this one; the table prints both.
 * Progress on stderr, the table (or JSON) on stdout. Bounded: every wait has a deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Command, InvalidArgumentError } from 'commander';
import { createKafka, Partitioners, type Producer } from '../src/kafka/client.js';
import { produceRun, type Row } from '../src/runtime/produce.js';
import type { BatchSimStats } from '../tools/simulator/server.js';
import { createTopic, type Endpoints } from './pipeline/kafka.js';
import {
  type InstanceChild,
  PROJECT,
  type SimulatorChild,
  startInstance,
  startSimulator,
} from './pipeline/processes.js';
import { deleteRedisKeys, endpoints, INSTANCE_ENV, instanceConfig, unique } from './pipeline/setup.js';

const REAL_LIMITS = { requestsPerSecond: 5, itemsPerSecond: 1000 };
const FLUSH_WAIT_MS = 1000;
const MB = 1024 * 1024;

function list(value: string): number[] {
  const out = value.split(',').map(Number);
  if (out.some((n) => !Number.isInteger(n) || n <= 0)) throw new InvalidArgumentError('positive integers');
  return out;
}
function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const opts = new Command('bench:catalogs')
  .option('--instances <list>', 'instance counts, one scenario each', list, [3, 6])
  .option('--rows <n>', 'rows of the backlog, split over the 5 catalogs', positiveInt, 60_000)
  .option('--partitions <n>', 'partitions of the CDC topic', positiveInt, 6)
  .option('--light-runs <n>', 'single-row runs of the light phase', positiveInt, 20)
  .option('--warmup-ms <ms>', 'left out of the backlog rate', positiveInt, 2000)
  .option('--phases <list>', 'subset of light,backlog,quiet', 'light,backlog,quiet')
  .option('--before-cwd <dir>', 'also run every scenario with instances from this tree, first')
  .option('--before-only', 'with --before-cwd: run only the "before" scenarios')
  .option('--json', 'print JSON instead of the table')
  .parse()
  .opts<{
    instances: number[];
    rows: number;
    partitions: number;
    lightRuns: number;
    warmupMs: number;
    phases: string;
    beforeCwd?: string;
    beforeOnly?: boolean;
    json?: boolean;
  }>();

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

interface CatalogSpec {
  syncId: string;
  catalog: string;
  mode: 'full_then_delta' | 'full_only';
  operation: 'upsert' | 'mirror';
  kind: 'FULL' | 'DELTA';
}

/** Five catalogs of different modes, one Mirror (Batch's maximum per project); a sixth sync is quiet. */
const CATALOGS: CatalogSpec[] = [
  { syncId: 'products', catalog: 'products', mode: 'full_then_delta', operation: 'mirror', kind: 'FULL' },
  { syncId: 'offers', catalog: 'offers', mode: 'full_then_delta', operation: 'upsert', kind: 'DELTA' },
  { syncId: 'stores', catalog: 'stores', mode: 'full_only', operation: 'upsert', kind: 'FULL' },
  { syncId: 'brands', catalog: 'brands', mode: 'full_then_delta', operation: 'upsert', kind: 'FULL' },
  { syncId: 'prices', catalog: 'prices', mode: 'full_then_delta', operation: 'upsert', kind: 'DELTA' },
];
/** Batch allows 5 catalogs per project: the quiet sync writes its own ids into the stores catalog. */
const QUIET: CatalogSpec = {
  syncId: 'store-alerts',
  catalog: 'stores',
  mode: 'full_then_delta',
  operation: 'upsert',
  kind: 'DELTA',
};

function syncOf(c: CatalogSpec) {
  return {
    id: c.syncId,
    destination: { type: 'batch', project: 'demo', catalog: c.catalog },
    mode: c.mode,
    operation: c.operation,
    idColumn: 'id',
    flushWaitMs: FLUSH_WAIT_MS,
    fields: [
      { source: 'name', attribute: 'name', type: 'string' },
      { source: 'price', attribute: 'price', type: 'float' },
      { source: 'in_stock', attribute: 'in_stock', type: 'bool' },
    ],
    customAttributes: ['tags'],
  };
}

function* rowsOf(c: CatalogSpec, count: number, round: number): Iterable<Row> {
  for (let i = 1; i <= count; i++) {
    yield {
      id: `${c.catalog}-${i}`,
      name: `${c.catalog} ${i}`,
      price: i + round + 0.99,
      in_stock: (i + round) % 3 !== 0,
      tags: [c.catalog, `r${round}`],
    };
  }
}

interface Latency {
  samples: number[];
  p50: number;
  p99: number;
  max: number;
}

interface BacklogFigures {
  rows: number;
  requests: number;
  itemsEdited: number;
  itemsPerRequest: number;
  itemsPerSecond: number;
  windowMs: number;
  rejected429: number;
  produceToCompletedMs: number;
  /**
   * Fewest requests the backlog can take: a sync's items on one instance share its buffer, those on
   * two instances cannot share a request, so Σ over (instance, catalog) of ⌈items / 200⌉, from the
   * partitions each instance held at the end and the row keys' partitions.
   */
  floorRequests: number;
  /** Rows of the backlog not in the simulator's catalogs with their values once every run completed. */
  wrong: number;
}

interface Scenario {
  tree: 'before' | 'after';
  instances: number;
  light?: Latency;
  backlog?: BacklogFigures;
  quiet?: Latency & { backlog: BacklogFigures };
  peakRssMb: number[];
}

async function main(): Promise<void> {
  const ep = endpoints();
  const phases = new Set(opts.phases.split(','));
  const trees: { tree: 'before' | 'after'; cwd?: string }[] = opts.beforeCwd
    ? [{ tree: 'before', cwd: opts.beforeCwd }, ...(opts.beforeOnly ? [] : [{ tree: 'after' as const }])]
    : [{ tree: 'after' }];
  const scenarios: Scenario[] = [];
  for (const n of opts.instances) {
    for (const t of trees) {
      log(`scenario: ${n} instances, ${t.tree}${t.cwd ? ` (${t.cwd})` : ''}`);
      scenarios.push(await runScenario(ep, n, t.tree, phases, t.cwd));
      // Each finished scenario's figures, in case a later one fails.
      log(`figures: ${JSON.stringify({ ...scenarios.at(-1), light: undefined, quiet: undefined })}`);
    }
  }
  process.stdout.write(opts.json ? `${JSON.stringify(scenarios, null, 2)}\n` : `${formatTable(scenarios)}\n`);
}

async function runScenario(
  ep: Endpoints,
  n: number,
  tree: Scenario['tree'],
  phases: Set<string>,
  cwd?: string,
): Promise<Scenario> {
  const name = unique('bench-cat');
  const topic = `${name}.cdc`;
  await createTopic(ep, topic, opts.partitions);
  const sim = await startSimulator(REAL_LIMITS);
  const base = {
    ...instanceConfig({ ep, name, topic, partitions: opts.partitions, batchUrl: sim.batchUrl, sync: {} }),
    syncs: [...CATALOGS, QUIET].map(syncOf),
  };
  const instances: InstanceChild[] = [];
  const producer = createKafka({ brokers: ep.brokers }).producer({ maxInFlightRequests: 1 });
  const registry = new SchemaRegistry({ host: ep.registryUrl });
  await producer.connect();
  const scenario: Scenario = { tree, instances: n, peakRssMb: [] };
  const rss = new Map<string, number>();
  const ctx: Ctx = { brokers: ep.brokers, producer, registry, topic, sim, instances };
  const start = async (round: number) => {
    for (let i = 0; i < n; i++) {
      const config = { ...base, instanceId: `${name}-${round}-${i}` };
      instances.push(startInstance(config, INSTANCE_ENV, cwd ? { cwd } : {}));
    }
    await groupFormed(instances, opts.partitions);
  };
  const stop = async () => {
    for (const [i, child] of instances.entries())
      rss.set(`#${i}`, Math.max(rss.get(`#${i}`) ?? 0, child.memory().hwm));
    await Promise.all(instances.splice(0).map((i) => i.stop()));
  };
  try {
    // The backlog is in the topic before any instance reads it: producing on two shared cores is about
    // as fast as Batch's limit, so producing it alongside would measure the producer.
    const first = phases.has('backlog') ? await produceBacklog(ctx, 1) : undefined;
    // Counted from before the instances start: they send as soon as they hold partitions.
    const before = await statsOf(ctx.sim);
    await start(1);
    if (first) {
      scenario.backlog = await drain(ctx, first, 1, before);
      log(`backlog: ${JSON.stringify(scenario.backlog)}`);
    }
    if (phases.has('light')) {
      scenario.light = await quietRuns(ctx, opts.lightRuns, 'light', () => true);
      log(`light: p50 ${scenario.light.p50} ms, p99 ${scenario.light.p99} ms`);
    }
    if (phases.has('quiet')) {
      // Produced while the instances run, the quiet rows among the backlog's: a quiet row read within
      // the consumer's read-ahead waits only for the budget; one further behind waits for Kafka order.
      let draining = true;
      const before = await statsOf(ctx.sim);
      const quiet = quietRuns(ctx, 600, 'quiet', () => draining);
      const figures = await produceBacklog(ctx, 2)
        .then((second) => drain(ctx, second, 2, before))
        .finally(() => {
          draining = false;
        });
      scenario.quiet = { ...(await quiet), backlog: figures };
      log(
        `quiet: p50 ${scenario.quiet.p50} ms, p99 ${scenario.quiet.p99} ms over ${scenario.quiet.samples.length}`,
      );
    }
    await stop();
    scenario.peakRssMb = [...rss.values()].map((b) => b / MB);
    return scenario;
  } finally {
    await producer.disconnect();
    await Promise.all(instances.map((i) => i.stop()));
    await sim.stop();
    await deleteRedisKeys(ep.redisUrl, name);
  }
}

interface Ctx {
  brokers: string;
  producer: Producer;
  registry: SchemaRegistry;
  topic: string;
  sim: SimulatorChild;
  instances: InstanceChild[];
}

/**
 * Single-row delta runs of the quiet sync, one every second while `more()`, at most `max`: for each,
 * the time from Kafka acknowledging the row to the simulator holding it.
 */
async function quietRuns(ctx: Ctx, max: number, label: string, more: () => boolean): Promise<Latency> {
  const samples: number[] = [];
  let seq = 0;
  while (seq < max && more()) {
    const next = performance.now() + 1000;
    const id = `${label}-${++seq}-${Date.now()}`;
    // The change exists once its row is acknowledged by Kafka (before the run's end marker is sent).
    let started = Number.NaN;
    await produceRun({
      producer: ctx.producer,
      registry: ctx.registry,
      topic: ctx.topic,
      syncId: QUIET.syncId,
      kind: 'DELTA',
      idColumn: 'id',
      rows: [{ id, name: `quiet ${seq}`, price: seq, in_stock: true, tags: ['quiet'] }],
      onProgress: () => {
        started = performance.now();
      },
    });
    samples.push(await acceptedAfter(ctx.sim, id, started));
    const wait = next - performance.now();
    if (wait > 0) await sleep(wait);
  }
  return latency(samples);
}

/** The simulator's counters; a keep-alive socket it closed meanwhile is retried. */
async function statsOf(sim: SimulatorChild): Promise<BatchSimStats> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await sim.stats();
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(50);
    }
  }
}

async function acceptedAfter(sim: SimulatorChild, id: string, started: number): Promise<number> {
  const url = `${sim.url}/_sim/batch/catalogs/${PROJECT.projectKey}/${QUIET.catalog}?id=${encodeURIComponent(id)}`;
  const deadline = started + 120_000;
  while (performance.now() < deadline) {
    const res = await fetch(url).catch(() => undefined);
    if (!res) {
      await sleep(10);
      continue;
    }
    if (res.ok) {
      const body = (await res.json()) as { items: Record<string, unknown> };
      if (id in body.items) return Math.round(performance.now() - started);
    } else await res.body?.cancel();
    await sleep(10);
  }
  throw new Error(`quiet row ${id} not accepted within 120 s`);
}

/** One run per catalog, produced at once (values differ per round); resolves to their run ids. */
async function produceBacklog(ctx: Ctx, round: number): Promise<string[]> {
  const per = Math.floor(opts.rows / CATALOGS.length);
  const started = Date.now();
  const produced = await Promise.all(
    CATALOGS.map(async (c) => {
      const producer = createKafka({ brokers: ctx.brokers }).producer({ maxInFlightRequests: 1 });
      await producer.connect();
      try {
        return await produceRun({
          producer,
          registry: ctx.registry,
          topic: ctx.topic,
          syncId: c.syncId,
          kind: c.kind,
          idColumn: 'id',
          rows: rowsOf(c, per, round),
        });
      } finally {
        await producer.disconnect();
      }
    }),
  );
  log(`backlog ${round}: ${per * CATALOGS.length} rows produced in ${Date.now() - started} ms`);
  return produced.map((p) => p.runId);
}

/** Waits until every run completed; figures from the simulator's counters over the drain. */
async function drain(
  ctx: Ctx,
  runIds: string[],
  round: number,
  from?: BatchSimStats,
): Promise<BacklogFigures> {
  const start = from ?? (await statsOf(ctx.sim));
  const snapshots: BatchSimStats[] = [];
  let polling = true;
  const poller = (async () => {
    while (polling) {
      snapshots.push(await statsOf(ctx.sim));
      await sleep(200);
    }
  })();
  const started = Date.now();
  try {
    const deadline = Date.now() + 15 * 60_000;
    for (;;) {
      const done = new Set(
        ctx.instances.flatMap((i) =>
          i.logs.filter((l) => l.msg === 'run completed').map((l) => String(l.run)),
        ),
      );
      if (runIds.every((r) => done.has(r))) break;
      if (Date.now() > deadline) throw new Error('backlog runs not completed within 15 minutes');
      await sleep(200);
    }
    const completedMs = Date.now() - started;
    polling = false;
    await poller;
    const end = await statsOf(ctx.sim);
    return {
      ...figures(start, end, snapshots, opts.warmupMs),
      rows: Math.floor(opts.rows / CATALOGS.length) * CATALOGS.length,
      produceToCompletedMs: completedMs,
      floorRequests: floorRequests(ctx.instances),
      wrong: await wrongRows(ctx.sim, round),
    };
  } finally {
    polling = false;
    await poller;
  }
}

/**
 * Counts over the phase; the rate over the window that opens `warmupMs` after the phase's first edit
 * (the last snapshot at or before it) and closes at its last edit, both the simulator's timestamps.
 */
export function figures(
  start: BatchSimStats,
  end: BatchSimStats,
  snapshots: BatchSimStats[],
  warmupMs: number,
) {
  const requests = end.editRequests - start.editRequests;
  const itemsEdited = end.itemsEdited - start.itemsEdited;
  const moved = snapshots.filter((s) => s.itemsEdited > start.itemsEdited);
  const first = moved[0] ?? end;
  const opensBy = (first.lastEditAtMs ?? 0) + warmupMs;
  const open = moved.findLast((s) => (s.lastEditAtMs ?? 0) <= opensBy) ?? first;
  const windowMs = (end.lastEditAtMs ?? 0) - (open.lastEditAtMs ?? 0);
  return {
    requests,
    itemsEdited,
    itemsPerRequest: itemsEdited / Math.max(1, requests),
    itemsPerSecond: windowMs > 0 ? (1000 * (end.itemsEdited - open.itemsEdited)) / windowMs : 0,
    windowMs,
    rejected429: end.rejected429 - start.rejected429,
  };
}

function latency(samples: number[]): Latency {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) =>
    sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
  return { samples, p50: at(0.5), p99: at(0.99), max: sorted.at(-1) ?? Number.NaN };
}

/** BacklogFigures.wrong: every row of the round's backlog read back from the simulator. */
async function wrongRows(sim: SimulatorChild, round: number): Promise<number> {
  const per = Math.floor(opts.rows / CATALOGS.length);
  let wrong = 0;
  for (const c of CATALOGS) {
    const res = await fetch(`${sim.url}/_sim/batch/catalogs/${PROJECT.projectKey}/${c.catalog}`);
    const { items } = (await res.json()) as { items: Record<string, { price?: number } | undefined> };
    for (const row of rowsOf(c, per, round)) if (items[String(row.id)]?.price !== row.price) wrong++;
  }
  return wrong;
}

/** BacklogFigures.floorRequests: the rows' partitions as kafkajs's default partitioner picks them. */
function floorRequests(instances: InstanceChild[]): number {
  const partitionMetadata = Array.from({ length: opts.partitions }, (_, partitionId) => ({
    partitionId,
    leader: 0,
    partitionErrorCode: 0,
    replicas: [0],
    isr: [0],
  }));
  const partitioner = Partitioners.DefaultPartitioner();
  const per = Math.floor(opts.rows / CATALOGS.length);
  // Rows per partition of each catalog, counted once; then each instance sums the partitions it held.
  const perPartition = CATALOGS.map((c) => {
    const counts = new Array<number>(opts.partitions).fill(0);
    for (const row of rowsOf(c, per, 0)) {
      const message = { key: String(row.id), value: null };
      const p = partitioner({ topic: '', partitionMetadata, message });
      counts[p] = (counts[p] ?? 0) + 1;
    }
    return counts;
  });
  let floor = 0;
  for (const inst of instances) {
    const held =
      (inst.logs.findLast((l) => l.msg === 'partitions assigned')?.partitions as number[] | undefined) ?? [];
    for (const counts of perPartition)
      floor += Math.ceil(held.reduce((n, p) => n + (counts[p] ?? 0), 0) / 200);
  }
  return floor;
}

async function groupFormed(instances: InstanceChild[], partitions: number): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const held = instances.map((i) => {
      const last = i.logs.findLast((l) => l.msg === 'partitions assigned');
      return (last?.partitions as number[] | undefined)?.length ?? 0;
    });
    const total = held.reduce((a, b) => a + b, 0);
    if (total === partitions && held.filter((h) => h > 0).length === Math.min(instances.length, partitions))
      return;
    if (Date.now() > deadline) throw new Error(`group not formed: partitions held ${held.join(', ')}`);
    await sleep(100);
  }
}

const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || !Number.isFinite(n)
    ? '-'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

function formatTable(scenarios: Scenario[]): string {
  const header = [
    'tree',
    'inst',
    'items/req',
    'items/s',
    '429',
    'requests',
    'floor',
    'wrong',
    'backlog s',
    'light p50/p99 ms',
    'quiet p50/p99/max ms (n)',
    'quiet-phase items/req',
    'peak RSS MB',
  ];
  const rows = scenarios.map((s) => [
    s.tree,
    String(s.instances),
    fmt(s.backlog?.itemsPerRequest, 1),
    fmt(s.backlog?.itemsPerSecond, 1),
    fmt(s.backlog?.rejected429),
    fmt(s.backlog?.requests),
    fmt(s.backlog?.floorRequests),
    fmt(s.backlog?.wrong),
    fmt(s.backlog ? s.backlog.produceToCompletedMs / 1000 : undefined, 1),
    s.light ? `${fmt(s.light.p50)} / ${fmt(s.light.p99)}` : '-',
    s.quiet
      ? `${fmt(s.quiet.p50)} / ${fmt(s.quiet.p99)} / ${fmt(s.quiet.max)} (${s.quiet.samples.length})`
      : '-',
    s.quiet ? `${fmt(s.quiet.backlog.itemsPerRequest, 1)} (${fmt(s.quiet.backlog.rejected429)} × 429)` : '-',
    s.peakRssMb.map((m) => fmt(m)).join(' '),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...rows].map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `catalog-sync catalogs benchmark, ${new Date().toISOString()}: one Batch project at 5 req/s, 1,000 items/s; ` +
      `5 catalogs (${CATALOGS.map((c) => `${c.catalog} ${c.mode}/${c.operation} ${c.kind}`).join(', ')}), ` +
      `${fmt(opts.rows)} rows in all, ${opts.partitions} partitions, flushWaitMs ${FLUSH_WAIT_MS}`,
    `goals: items/req >= 195, items/s >= 975, 0 x 429; light p99 <= ${FLUSH_WAIT_MS + 300} ms; ` +
      `quiet p99 <= ${FLUSH_WAIT_MS + 1000} ms; RSS < 300 MB`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    'items/req, items/s, 429: the backlog phase alone (items/s after a warm-up, to the last edit). light: ' +
      'single-row runs of the quiet sync 1 s apart, nothing else running. quiet: the same while a second ' +
      'backlog (changed values) drains; "quiet-phase items/req" counts the quiet requests too. Latency: ' +
      'Kafka acknowledging the row to the row in the simulator (polled every 10 ms).',
  ].join('\n');
}

main().then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
