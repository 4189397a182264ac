/**
 * npm run bench:ratelimit [-- --processes 3 --items 60000 --concurrency 2 --warmup-ms 2000]
 *
 * Starts the Batch simulator at Batch's real limits (5 requests/s, 1000 items/s per project) in its own
 * process, then N processes that share one project and push a backlog of 200-item requests through
 * BatchDestination. Prints the steady rate after the warm-up, 429s and token waits.
 */
import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Command, InvalidArgumentError } from 'commander';
import { BatchClient, batchLimits } from '../src/destinations/batch/index.js';
import { createRedis } from '../src/redis/connection.js';
import type { WorkerConfig, WorkerReport } from './ratelimit-worker.js';

const LIMIT_ITEMS_PER_SECOND = 1000;
const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };

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
  .option('--headroom <share>', 'share of the rates the shared bucket runs at (default: BATCH_LIMITS)', share)
  .option('--item-burst <n>', 'items the shared bucket holds (default: BATCH_LIMITS)', positiveInt)
  .option('--request-burst <n>', 'requests the shared bucket holds (default: BATCH_LIMITS)', positiveInt)
  .parse()
  .opts<{
    processes: number;
    items: number;
    concurrency: number;
    warmupMs: number;
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
    if (batch?.[1] && sim?.[1]) return { child, batchUrl: batch[1], url: sim[1] };
  }
  throw new Error(`simulator exited before it listened: ${out}`);
}

function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function main(): Promise<void> {
  const sim = await startSimulator();
  const keyPrefix = `bench-${randomUUID()}`;
  const catalog = 'bench_ratelimit';
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
        limits: {
          ...(opts.headroom === undefined ? {} : { headroom: opts.headroom }),
          ...(opts.itemBurst === undefined ? {} : { itemBurst: opts.itemBurst }),
          ...(opts.requestBurst === undefined ? {} : { requestBurst: opts.requestBurst }),
        },
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
    for (const w of workers) w.send('go');
    const results = await Promise.all(reports);
    const stats = (await (await fetch(`${sim.url}/_sim/batch/stats`)).json()) as {
      rejected429: number;
      itemsEdited: number;
    };
    print(results, stats);
  } finally {
    sim.child.kill('SIGTERM');
    const redis = createRedis();
    const keys = await redis.keys(`${keyPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  }
}

function print(results: WorkerReport[], stats: { rejected429: number; itemsEdited: number }): void {
  const accepted = results.flatMap((r) => r.accepted).sort((a, b) => a[0] - b[0]);
  const first = accepted[0]?.[0] ?? 0;
  const last = accepted.at(-1)?.[0] ?? 0;
  const warm = accepted.find(([at]) => at >= first + Math.min(opts.warmupMs, (last - first) / 2));
  const from = warm?.[0] ?? first;
  // The window opens on an accepted request, so that request's items belong before it.
  const steady = accepted.filter(([at]) => at > from);
  const seconds = (last - from) / 1000;
  const items = steady.reduce((n, [, count]) => n + count, 0);
  const itemsPerSecond = items / seconds;
  const allItems = accepted.reduce((n, [, count]) => n + count, 0);
  const waits = results.flatMap((r) => r.tokenWaitsMs);
  const limits = batchLimits(opts);
  const lines = [
    `processes              ${results.length} (concurrency ${opts.concurrency} each), backlog ${opts.items} items`,
    `shared bucket          headroom ${limits.headroom}, bursts ${limits.requestBurst} requests / ${limits.itemBurst} items`,
    `items accepted         ${allItems} (simulator: ${stats.itemsEdited}; not accepted: ${results.reduce((n, r) => n + r.notAccepted, 0)})`,
    `window                 ${seconds.toFixed(1)} s after a ${((from - first) / 1000).toFixed(1)} s warm-up`,
    `items/s                ${itemsPerSecond.toFixed(1)}`,
    `requests/s             ${(steady.length / seconds).toFixed(2)}`,
    `mean items/request     ${(allItems / Math.max(1, accepted.length)).toFixed(1)}`,
    `429 answers            ${stats.rejected429} (seen by senders: ${results.reduce((n, r) => n + r.retried429, 0)})`,
    `token wait p50/p99/max ${percentile(waits, 50).toFixed(0)} / ${percentile(waits, 99).toFixed(0)} / ${percentile(waits, 100).toFixed(0)} ms`,
    `ratio to 1000 items/s  ${((100 * itemsPerSecond) / LIMIT_ITEMS_PER_SECOND).toFixed(1)} %`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
