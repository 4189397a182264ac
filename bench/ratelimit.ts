/**
 * npm run bench:ratelimit [-- --processes 3 --items 60000 --concurrency 2 --warmup-ms 2000]
 *                         [-- --cpu-hog] [-- --stalls] [-- --repeat 3]
 *
 * Starts the Batch simulator at Batch's real limits (5 requests/s, 1000 items/s per project) in its own
 * process, then N processes that share one project and push a backlog of 200-item requests through
 * BatchDestination. Prints the steady rate after the warm-up (from the simulator's timestamps), 429s,
 * requests, token waits and the age of each grant when its request was written.
 * Each request goes through the consumer's partition gate (a Redis round trip) as in the service.
 * `--gate-holds` holds all of a sender's requests in the gate now and then (a rebalance, an earlier
 * owner's request still on the wire).
 * `--cpu-hog` keeps one core busy with a child process for the whole round; `--stalls` blocks each
 * sender's event loop now and then (300-900 ms, as GC or a large batch does on a loaded machine).
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command, InvalidArgumentError } from 'commander';
import { BatchClient, batchLimits } from '../src/destinations/batch/index.js';
import { createRedis } from '../src/redis/connection.js';
import type { BatchSimStats } from '../tools/simulator/server.js';
import { type CpuHog, startCpuHog } from './cpu-hog.js';
import { rates } from './pipeline/e2e.js';
import { median } from './pipeline/setup.js';
import type { WorkerConfig, WorkerReport } from './ratelimit-worker.js';

const LIMIT_ITEMS_PER_SECOND = 1000;
const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };
/** Longest a round may take before the hog stops by itself. */
const HOG_MAX_MS = 10 * 60_000;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const opts = new Command('bench:ratelimit')
  .option('--processes <n>', 'sender processes sharing one project', positiveInt, 3)
  .option('--items <n>', 'backlog of items, split between the processes', positiveInt, 60_000)
  .option('--concurrency <n>', 'requests in flight per process', positiveInt, 2)
  .option('--warmup-ms <ms>', 'left out of the rate (the buckets start full)', positiveInt, 2000)
  .option('--cpu-hog', 'run a busy-loop process on one core beside the senders')
  .option('--no-gate', "send without the consumer's partition gate and in-flight fence")
  .option(
    '--gate-holds',
    "hold each sender's requests in the gate 0.3-1.5 s about every 5 s, as a rebalance does",
  )
  .option('--stalls', "block each sender's event loop for 300-900 ms now and then (see --stall-every-ms)")
  .option('--stall-every-ms <ms>', 'mean interval between two stalls of one sender', positiveInt, 2000)
  .option('--repeat <n>', 'rounds; each is printed, then the medians', positiveInt, 1)
  .option('--headroom <share>', 'share of the rates the shared bucket runs at (default: BATCH_LIMITS)', share)
  .option('--item-burst <n>', 'items the shared bucket holds (default: BATCH_LIMITS)', positiveInt)
  .option('--request-burst <n>', 'requests the shared bucket holds (default: BATCH_LIMITS)', positiveInt)
  .parse()
  .opts<{
    processes: number;
    items: number;
    concurrency: number;
    warmupMs: number;
    cpuHog?: boolean;
    gate: boolean;
    gateHolds?: boolean;
    stalls?: boolean;
    stallEveryMs: number;
    repeat: number;
    headroom?: number;
    itemBurst?: number;
    requestBurst?: number;
  }>();

function share(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n <= 1)) throw new InvalidArgumentError('expected a number in (0, 1]');
  return n;
}

async function startSimulator(): Promise<{ child: ChildProcess; batchUrl: string; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/simulator/main.ts', '--port', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const batch = /batch\s+(\S+)/.exec(out);
    const sim = /simulator\s+(\S+)/.exec(out);
    if (batch?.[1] && sim?.[1]) {
      child.stdout!.resume();
      return { child, batchUrl: batch[1], url: sim[1] };
    }
  }
  throw new Error(`simulator exited before it listened: ${out}`);
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface Round {
  itemsPerSecond: number;
  requestsPerSecond: number;
  requests: number;
  itemsPerRequest: number;
  rejected429: number;
  seen429: number;
  allItems: number;
  itemsEdited: number;
  notAccepted: number;
  seconds: number;
  warmupSeconds: number;
  waits: number[];
  holds: number;
  grantAges: number[];
  staleGrants: number;
  stalls: number;
  stalledMs: number;
  hogCpuShare: number | undefined;
}

async function round(): Promise<Round> {
  const hog: CpuHog | undefined = opts.cpuHog ? startCpuHog(HOG_MAX_MS) : undefined;
  const sim = await startSimulator();
  const keyPrefix = `bench-${randomUUID()}`;
  const catalog = 'bench_ratelimit';
  const started = performance.now();
  const hogStartMs = hog?.cpuMs() ?? 0;
  try {
    await new BatchClient({ ...PROJECT, baseUrl: sim.batchUrl }).createCatalog(catalog, [
      { name: 'title', type: 'string' },
    ]);
    const share = Math.ceil(opts.items / opts.processes);
    const workers = Array.from({ length: opts.processes }, (_, worker) => {
      const config: WorkerConfig = {
        ...PROJECT,
        batchUrl: sim.batchUrl,
        catalog,
        keyPrefix,
        worker,
        items: Math.min(share, opts.items - worker * share),
        concurrency: opts.concurrency,
        gate: opts.gate,
        limits: {
          ...(opts.headroom === undefined ? {} : { headroom: opts.headroom }),
          ...(opts.itemBurst === undefined ? {} : { itemBurst: opts.itemBurst }),
          ...(opts.requestBurst === undefined ? {} : { requestBurst: opts.requestBurst }),
        },
        ...(opts.gateHolds ? { holds: { everyMs: 5000, minMs: 300, maxMs: 1500 } } : {}),
        ...(opts.stalls ? { stalls: { minMs: 300, maxMs: 900, everyMs: opts.stallEveryMs } } : {}),
      };
      return fork(new URL('./ratelimit-worker.ts', import.meta.url), {
        execArgv: ['--import', 'tsx'],
        env: { ...process.env, BENCH_WORKER: JSON.stringify(config) },
      });
    });
    await Promise.all(workers.map((w) => once(w, 'message')));
    const reports = workers.map(
      (w) =>
        new Promise<WorkerReport>((resolve, reject) => {
          w.once('message', (m) => resolve(m as WorkerReport));
          w.once('exit', (code) => reject(new Error(`worker exited with ${code} before reporting`)));
        }),
    );
    const snapshots: BatchSimStats[] = [];
    const simStats = async () => (await (await fetch(`${sim.url}/_sim/batch/stats`)).json()) as BatchSimStats;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        snapshots.push(await simStats());
        await sleep(200);
      }
    })();
    for (const w of workers) w.send('go');
    const results = await Promise.all(reports).finally(() => {
      polling = false;
    });
    await poller;
    const hogCpuShare = hog ? (hog.cpuMs() - hogStartMs) / (performance.now() - started) : undefined;
    return figures(results, await simStats(), snapshots, hogCpuShare);
  } finally {
    sim.child.kill('SIGTERM');
    await hog?.stop();
    const redis = createRedis();
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

/** Rates from the simulator's own timestamps, as bench:pipeline's (b): a stalled sender cannot skew them. */
function figures(
  results: WorkerReport[],
  final: BatchSimStats,
  snapshots: BatchSimStats[],
  hogCpuShare: number | undefined,
): Round {
  const r = rates(final, snapshots, opts.warmupMs);
  return {
    itemsPerSecond: r.itemsPerSecond,
    requestsPerSecond: r.requestsPerSecond,
    requests: final.editRequests,
    itemsPerRequest: final.itemsEdited / Math.max(1, final.editRequests),
    rejected429: final.rejected429,
    seen429: results.reduce((n, x) => n + x.retried429, 0),
    allItems: results.reduce((n, x) => n + x.accepted.reduce((m, [, count]) => m + count, 0), 0),
    itemsEdited: final.itemsEdited,
    notAccepted: results.reduce((n, x) => n + x.notAccepted, 0),
    seconds: r.windowMs / 1000,
    warmupSeconds: r.warmupMs / 1000,
    waits: results.flatMap((x) => x.tokenWaitsMs),
    grantAges: results.flatMap((x) => x.grantAgesMs),
    staleGrants: results.reduce((n, x) => n + x.staleGrants, 0),
    holds: results.reduce((n, x) => n + (x.holds ?? 0), 0),
    stalls: results.reduce((n, x) => n + x.stalls, 0),
    stalledMs: results.reduce((n, x) => n + x.stalledMs, 0),
    hogCpuShare,
  };
}

function describeRound(r: Round): string[] {
  const ms = (n: number) => n.toFixed(0);
  return [
    `items accepted         ${r.allItems} (simulator: ${r.itemsEdited}; not accepted: ${r.notAccepted})`,
    `window                 ${r.seconds.toFixed(1)} s after a ${r.warmupSeconds.toFixed(1)} s warm-up`,
    `items/s                ${r.itemsPerSecond.toFixed(1)}`,
    `requests/s             ${r.requestsPerSecond.toFixed(2)}`,
    `requests               ${r.requests}, mean ${r.itemsPerRequest.toFixed(1)} items/request`,
    `429 answers            ${r.rejected429} (seen by senders: ${r.seen429})`,
    `token wait p50/p99/max ${ms(percentile(r.waits, 50))} / ${ms(percentile(r.waits, 99))} / ${ms(percentile(r.waits, 100))} ms`,
    `grant age at write     p50/p99/max ${percentile(r.grantAges, 50).toFixed(1)} / ${percentile(r.grantAges, 99).toFixed(1)} / ${ms(percentile(r.grantAges, 100))} ms; ${r.staleGrants} stale, taken again`,
    ...(r.holds > 0 ? [`gate holds injected    ${r.holds}`] : []),
    ...(r.stalls > 0 ? [`stalls injected        ${r.stalls}, ${ms(r.stalledMs)} ms in all`] : []),
    ...(r.hogCpuShare === undefined
      ? []
      : [`CPU hog                ${(100 * r.hogCpuShare).toFixed(0)} % of a core over the round`]),
    `ratio to 1000 items/s  ${((100 * r.itemsPerSecond) / LIMIT_ITEMS_PER_SECOND).toFixed(1)} %`,
  ];
}

async function main(): Promise<void> {
  const limits = batchLimits(opts);
  const header = [
    `processes              ${opts.processes} (concurrency ${opts.concurrency} each), backlog ${opts.items} items`,
    `shared bucket          headroom ${limits.headroom}, bursts ${limits.requestBurst} requests / ${limits.itemBurst} items`,
    `send path              ${opts.gate ? 'through the partition gate and in-flight fence' : 'no gate'}${opts.gateHolds ? ', held 0.3-1.5 s about every 5 s per sender' : ''}`,
    `load                   ${opts.cpuHog ? 'CPU hog on one core' : 'no CPU hog'}, ${opts.stalls ? `event-loop stalls of 300-900 ms every ~${opts.stallEveryMs} ms per sender` : 'no injected stalls'}`,
  ];
  process.stdout.write(`${header.join('\n')}\n`);
  const rounds: Round[] = [];
  for (let i = 0; i < opts.repeat; i++) {
    const r = await round();
    rounds.push(r);
    if (opts.repeat > 1) process.stdout.write(`-- round ${i + 1} of ${opts.repeat}\n`);
    process.stdout.write(`${describeRound(r).join('\n')}\n`);
  }
  if (opts.repeat > 1) {
    const m = (f: (r: Round) => number) => median(rounds.map(f));
    process.stdout.write(
      `-- medians of ${opts.repeat}: ${m((r) => r.itemsPerSecond).toFixed(1)} items/s ` +
        `(${((100 * m((r) => r.itemsPerSecond)) / LIMIT_ITEMS_PER_SECOND).toFixed(1)} %), ` +
        `429 answers ${m((r) => r.rejected429)} (per round: ${rounds.map((r) => r.rejected429).join(', ')}), ` +
        `${m((r) => r.requests)} requests, ${m((r) => r.itemsPerRequest).toFixed(1)} items/request, ` +
        `${m((r) => r.staleGrants)} stale grants\n`,
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
