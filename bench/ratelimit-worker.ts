/**
 * One benchmark process: pushes its share of the backlog through a BatchDestination, `concurrency`
 * requests at a time, and reports to the parent over IPC. Started by bench/ratelimit.ts.
 */
import { BatchDestination, type CatalogTarget } from '../src/destinations/batch/index.js';
import { createLogger } from '../src/logger.js';
import type { RateLimits } from '../src/ratelimit/index.js';
import { createRedis } from '../src/redis/connection.js';
import { createKeys } from '../src/redis/keys.js';

export interface WorkerConfig {
  batchUrl: string;
  projectKey: string;
  restApiKey: string;
  catalog: string;
  keyPrefix: string;
  worker: number;
  items: number;
  concurrency: number;
  limits: Partial<RateLimits>;
}

export interface WorkerReport {
  worker: number;
  /** [epoch ms of the 202, items in the request] per accepted request. */
  accepted: [number, number][];
  tokenWaitsMs: number[];
  retried429: number;
  notAccepted: number;
}

const config = JSON.parse(process.env.BENCH_WORKER ?? '{}') as WorkerConfig;
const redis = createRedis();
const report: WorkerReport = {
  worker: config.worker,
  accepted: [],
  tokenWaitsMs: [],
  retried429: 0,
  notAccepted: 0,
};
const destination = new BatchDestination({
  redis,
  keys: createKeys(config.keyPrefix),
  logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error' }),
  limits: config.limits,
  trackIndexing: false,
  onTokenWait: (ms) => report.tokenWaitsMs.push(ms),
  onEvent: (e) => {
    if (e.type === 'request_accepted') report.accepted.push([Date.now(), e.itemIds.length]);
    if (e.type === 'request_retried' && e.status === 429) report.retried429++;
  },
});
const target: CatalogTarget = {
  project: { projectKey: config.projectKey, restApiKey: config.restApiKey, baseUrl: config.batchUrl },
  catalog: config.catalog,
  fields: [{ name: 'title', type: 'string' }],
};

async function run(): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < config.items) {
      const from = next;
      next = Math.min(config.items, next + 200);
      const changes = [];
      for (let i = from; i < next; i++) {
        const id = `w${config.worker}-${i}`;
        changes.push({ id, action: 'add' as const, values: { title: `item ${id}` } });
      }
      const outcomes = await destination.send(target, changes);
      report.notAccepted += outcomes.filter((o) => o.status !== 'accepted').length;
    }
  };
  await Promise.all(Array.from({ length: config.concurrency }, lane));
}

process.once('message', () => {
  run()
    .then(() => process.send?.(report))
    .catch((err: unknown) => {
      console.error(err);
      process.exitCode = 1;
    })
    .finally(async () => {
      await destination.close();
      await redis.quit();
      process.disconnect?.();
    });
});
process.send?.('ready');
