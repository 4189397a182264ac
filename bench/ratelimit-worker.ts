/**
 * One benchmark process: pushes its share of the backlog through a BatchDestination, `concurrency`
 * requests at a time, and reports to the parent over IPC. Started by bench/ratelimit.ts.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BatchDestination, type CatalogTarget } from '../src/destinations/batch/index.js';
import type { SendGate } from '../src/destinations/port.js';
import { InFlightFence } from '../src/ingest/fence.js';
import { PartitionGate } from '../src/ingest/gate.js';
import { PartitionOffsets } from '../src/ingest/offsets.js';
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
  /** Send through the consumer's partition gate and in-flight fence (Redis round trips), as the service does. */
  gate: boolean;
  /**
   * About every `everyMs`, the gate holds every request of this process for [minMs, maxMs], as a
   * rebalance or the wait for an earlier owner's request does.
   */
  holds?: { everyMs: number; minMs: number; maxMs: number };
  /** Blocks the event loop for a random [minMs, maxMs] about every `everyMs`, as GC or a big batch does. */
  stalls?: { minMs: number; maxMs: number; everyMs: number };
}

export interface WorkerReport {
  worker: number;
  /** [epoch ms of the 202, items in the request] per accepted request. */
  accepted: [number, number][];
  tokenWaitsMs: number[];
  retried429: number;
  notAccepted: number;
  /** Age of each grant right before its request was written (ms), and how many were too old to use. */
  grantAgesMs: number[];
  staleGrants: number;
  /** Gate holds injected. */
  holds: number;
  /** Event-loop stalls injected, and their total, ms. */
  stalls: number;
  stalledMs: number;
}

const config = JSON.parse(process.env.BENCH_WORKER ?? '{}') as WorkerConfig;
const redis = createRedis();
const report: WorkerReport = {
  worker: config.worker,
  accepted: [],
  tokenWaitsMs: [],
  retried429: 0,
  notAccepted: 0,
  grantAgesMs: [],
  staleGrants: 0,
  holds: 0,
  stalls: 0,
  stalledMs: 0,
};
const keys = createKeys(config.keyPrefix);
const destination = new BatchDestination({
  redis,
  keys,
  logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error' }),
  limits: config.limits,
  trackIndexing: false,
  onTokenWait: (ms) => report.tokenWaitsMs.push(ms),
  onGrantAge: (ms, stale) => {
    report.grantAgesMs.push(ms);
    if (stale) report.staleGrants++;
  },
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

/** One partition per worker, owned for the whole run: the gate's checks and fence entries, no drops. */
function partitionGate(): SendGate {
  const fence = new InFlightFence(redis, keys.inFlight('bench', 'cdc'), {
    ttlMs: 30_000,
    generationKey: keys.generations('bench', 'cdc'),
  });
  const gate = new PartitionGate(fence);
  const tracker = new PartitionOffsets('cdc', config.worker, fence.owner(`w${config.worker}`));
  return {
    pass: async (ids) => {
      await held;
      return gate.pass(ids.map((id) => ({ id, trackers: [tracker] })));
    },
  };
}

let held: Promise<void> = Promise.resolve();

/** Opens hold windows in the gate until the returned function is called. */
function holdLoop(holds: NonNullable<WorkerConfig['holds']>): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(
      () => {
        report.holds++;
        held = sleep(holds.minMs + Math.random() * (holds.maxMs - holds.minMs));
        void held.then(schedule);
      },
      holds.everyMs * (0.5 + Math.random()),
    );
  };
  schedule();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** Injects stalls until the returned function is called. */
function stallLoop(stalls: NonNullable<WorkerConfig['stalls']>): () => void {
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    timer = setTimeout(
      () => {
        const ms = stalls.minMs + Math.random() * (stalls.maxMs - stalls.minMs);
        const end = performance.now() + ms;
        while (performance.now() < end) {
          // Busy: nothing else of this process runs meanwhile.
        }
        report.stalls++;
        report.stalledMs += ms;
        schedule();
      },
      stalls.everyMs * (0.5 + Math.random()),
    );
  };
  schedule();
  return () => clearTimeout(timer);
}

async function run(): Promise<void> {
  const gate = config.gate ? partitionGate() : undefined;
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
      const outcomes = await destination.send(target, changes, gate);
      report.notAccepted += outcomes.filter((o) => o.status !== 'accepted').length;
    }
  };
  const stopStalls = config.stalls ? stallLoop(config.stalls) : () => undefined;
  const stopHolds = config.holds ? holdLoop(config.holds) : () => undefined;
  try {
    await Promise.all(Array.from({ length: config.concurrency }, lane));
  } finally {
    stopStalls();
    stopHolds();
  }
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
