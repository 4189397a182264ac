/**
 * npm run bench:yotpo [-- --contacts 3000 --rate 50 --instances 2 --partitions 6 --warmup-ms 2000]
 *
 * Yotpo contacts end to end: the simulator (own process) with one store at `--rate` requests/s, N
 * catalog-sync instances (own processes, the real CLI) sharing that store, and a FULL run of new
 * contacts (insert mode on, one request per contact). Prints contacts/s against the store limit (goal
 * >= 95%) and the 429 count (goal 0).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Command, InvalidArgumentError } from 'commander';
import { createKafka } from '../src/kafka/client.js';
import { produceRun, type Row } from '../src/runtime/produce.js';
import type { YotpoSimStats } from '../tools/simulator/server.js';
import { createTopic } from './pipeline/kafka.js';
import { type InstanceChild, startInstance } from './pipeline/processes.js';
import { deleteRedisKeys, endpoints, unique } from './pipeline/setup.js';

const STORE = { storeId: 'store_bench', token: 'bench_token' };

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const opts = new Command('bench:yotpo')
  .option('--contacts <n>', 'contacts in the FULL run (all new: one upsert each)', positiveInt, 3000)
  .option(
    '--rate <n>',
    "the store's limit, requests/s, in the simulator and the instances' config",
    positiveInt,
    50,
  )
  .option('--instances <n>', 'catalog-sync processes sharing the store', positiveInt, 2)
  .option('--partitions <n>', 'partitions of the CDC topic', positiveInt, 6)
  .option('--warmup-ms <ms>', "left out of the rate (the simulator's bucket starts full)", positiveInt, 2000)
  .parse()
  .opts<{ contacts: number; rate: number; instances: number; partitions: number; warmupMs: number }>();

const log = (line: string) => process.stderr.write(`${line}\n`);

async function startYotpoSimulator(rate: number) {
  const args = ['--import', 'tsx', 'tools/simulator/main.ts', '--port', '0'];
  args.push('--yotpo-requests-per-second', String(rate), '--yotpo-store', `${STORE.storeId}:${STORE.token}`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const yotpo = /yotpo\s+(\S+)/.exec(out);
    const sim = /simulator\s+(\S+)/.exec(out);
    if (yotpo?.[1] && sim?.[1]) {
      child.stdout!.resume();
      const url = sim[1];
      return {
        yotpoUrl: yotpo[1],
        stats: async () =>
          (await (await fetch(`${url}/_sim/yotpo/stats?store=${STORE.storeId}`)).json()) as YotpoSimStats,
        stop: () => stop(child),
      };
    }
  }
  throw new Error(`simulator exited before it listened: ${out}`);
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

function* contacts(count: number): Iterable<Row> {
  for (let i = 1; i <= count; i++) {
    yield {
      id: `bench-${i}`,
      first: `First${i}`,
      last: `Last${i}`,
      tier: i % 2 ? 'gold' : 'silver',
      points: i,
    };
  }
}

async function groupFormed(instances: InstanceChild[], partitions: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const held = instances.map(
      (i) =>
        (i.logs.findLast((l) => l.msg === 'partitions assigned')?.partitions as number[] | undefined)
          ?.length ?? 0,
    );
    if (held.every((n) => n > 0) && held.reduce((a, b) => a + b, 0) === partitions) return;
    if (Date.now() > deadline) throw new Error(`group not formed: partitions held ${held.join(', ')}`);
    await sleep(100);
  }
}

async function main() {
  const ep = endpoints();
  const name = unique('bench-yotpo');
  const topic = `${name}.cdc`;
  const syncId = 'bench-yotpo';
  await createTopic(ep, topic, opts.partitions);
  const sim = await startYotpoSimulator(opts.rate);
  const config = {
    kafka: {
      brokers: ep.brokers,
      groupId: `${name}-group`,
      cdcTopic: topic,
      cdcPartitions: opts.partitions,
      statusTopic: `${name}.status`,
      deadLetterTopic: `${name}.dlq`,
      sessionTimeoutMs: 10_000,
    },
    schemaRegistry: { url: ep.registryUrl },
    redis: { url: ep.redisUrl, keyPrefix: name },
    http: { port: 0, host: '127.0.0.1' },
    yotpo: {
      baseUrl: sim.yotpoUrl,
      stores: { bench: { storeId: { env: 'BENCH_YOTPO_STORE' }, token: { env: 'BENCH_YOTPO_TOKEN' } } },
      limits: { requestsPerSecond: opts.rate },
    },
    syncs: [
      {
        id: syncId,
        destination: { type: 'yotpo', store: 'bench', matchKey: 'external_id', insertMode: true },
        mode: 'full_then_delta',
        operation: 'upsert',
        idColumn: 'id',
        fields: [
          { source: 'first', attribute: 'first_name', type: 'string' },
          { source: 'last', attribute: 'last_name', type: 'string' },
        ],
        customAttributes: ['tier', 'points'],
      },
    ],
  };
  const env = { BENCH_YOTPO_STORE: STORE.storeId, BENCH_YOTPO_TOKEN: STORE.token };
  const instances: InstanceChild[] = [];
  const snapshots: YotpoSimStats[] = [];
  let polling = true;
  try {
    for (let i = 0; i < opts.instances; i++)
      instances.push(startInstance({ ...config, instanceId: `${name}-${i}` }, env));
    await groupFormed(instances, opts.partitions);
    log(
      `${opts.instances} instances share ${opts.partitions} partitions; producing ${opts.contacts} contacts`,
    );
    const poller = (async () => {
      while (polling) {
        snapshots.push(await sim.stats());
        await sleep(200);
      }
    })();
    const producer = createKafka({ brokers: ep.brokers }).producer({ maxInFlightRequests: 1 });
    await producer.connect();
    const started = Date.now();
    const run = await produceRun({
      producer,
      registry: new SchemaRegistry({ host: ep.registryUrl }),
      topic,
      syncId,
      kind: 'FULL',
      idColumn: 'id',
      rows: contacts(opts.contacts),
    });
    await producer.disconnect();
    const completed = await Promise.any(instances.map((i) => i.waitFor('run completed', 30 * 60_000)));
    if (completed.run !== run.runId) throw new Error(`completed ${String(completed.run)}`);
    polling = false;
    await poller;
    report(await sim.stats(), snapshots, completed.time - started);
  } finally {
    polling = false;
    await Promise.all(instances.map((i) => i.stop()));
    await sim.stop();
    await deleteRedisKeys(ep.redisUrl, name);
  }
}

/** The window opens at the first snapshot past the warm-up and closes at the last upsert (server clock). */
function report(final: YotpoSimStats, snapshots: YotpoSimStats[], runMs: number) {
  const first = final.firstUpsertAtMs ?? 0;
  const last = final.lastUpsertAtMs ?? 0;
  const warmEnd = first + Math.min(opts.warmupMs, (last - first) / 2);
  const open = snapshots.find((s) => (s.lastUpsertAtMs ?? 0) >= warmEnd) ?? final;
  const windowMs = last - (open.lastUpsertAtMs ?? first);
  const steady = (1000 * (final.upserts - open.upserts)) / windowMs;
  const overall = (1000 * final.upserts) / (last - first);
  for (let i = 25; i < snapshots.length; i += 25) {
    const a = snapshots[i - 25]!;
    const b = snapshots[i]!;
    if (a.lastUpsertAtMs === undefined || b.lastUpsertAtMs === undefined) continue;
    const ms = b.lastUpsertAtMs - a.lastUpsertAtMs;
    if (ms > 0)
      log(
        `  ${(((b.lastUpsertAtMs ?? 0) - first) / 1000).toFixed(1)} s: ${((1000 * (b.upserts - a.upserts)) / ms).toFixed(1)} contacts/s`,
      );
  }
  const pct = (r: number) => `${((100 * r) / opts.rate).toFixed(1)}%`;
  const lines = [
    `contacts            ${opts.contacts} (upserts ${final.upserts}, created ${final.created})`,
    `instances           ${opts.instances} (partitions ${opts.partitions})`,
    `store limit         ${opts.rate} requests/s`,
    `contacts/s steady   ${steady.toFixed(2)}  (${pct(steady)} of the limit; window ${(windowMs / 1000).toFixed(1)} s after ${opts.warmupMs} ms warm-up; goal >= 95%)`,
    `contacts/s overall  ${overall.toFixed(2)}  (${pct(overall)}; first to last upsert, the full bucket's burst included)`,
    `429 answers         ${final.rejected429}  (goal 0)`,
    `requests            ${final.requests}  (4xx ${final.errors4xx}, 5xx ${final.errors5xx}, look-ups ${final.lookups})`,
    `run time            ${(runMs / 1000).toFixed(1)} s from produce to run completed`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
