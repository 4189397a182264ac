/**
 * tsx bench/state-memory.ts [--items 2000000] [--absent 0.01] [--scan-count 5000]
 *
 * Fills one sync's state with N items through the real layout (items hash values written by the TS
 * codec the scripts share, bitmap of a FULL run that saw all but the absent share), then prints the
 * Redis memory per item (MEMORY USAGE ... SAMPLES 0) and times the mirror derivation (count, then
 * mark) through SyncState. Worst case on purpose: every item carries an older seq, so the derivation
 * tests the run bitmap for every entry. Uses a unique key prefix and deletes its keys afterwards.
 */
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { Redis as PlainRedis } from 'ioredis';
import { type RunRef, SyncState } from '../src/planning/state.js';
import { fingerprint, packItem } from '../src/planning/state-codec.js';
import { createRedis, DEFAULT_REDIS_URL, type Redis } from '../src/redis/connection.js';
import { createKeys } from '../src/redis/keys.js';

const opts = new Command('bench:state-memory')
  .option('--items <n>', 'items in the sync', positiveInt, 2_000_000)
  .option('--absent <share>', 'share of the items the FULL run did not contain', share, 0.01)
  .option('--scan-count <n>', 'items hash entries scanned per derivation call', positiveInt)
  .parse()
  .opts<{ items: number; absent: number; scanCount?: number }>();

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function share(value: string): number {
  const n = Number(value);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError('expected a share in (0, 1)');
  return n;
}

const print = (line: string) => process.stdout.write(`${line}\n`);
const itemId = (i: number) => `sku-${String(i).padStart(8, '0')}`;

async function fill(redis: Redis, items: string, n: number, seq: number): Promise<void> {
  const perCommand = 1000;
  let inFlight: Promise<unknown>[] = [];
  for (let start = 0; start < n; start += perCommand) {
    const args: string[] = [];
    for (let i = start; i < Math.min(n, start + perCommand); i++) {
      const fp = { epoch: 0, value: fingerprint({ id: i, title: `item ${i}` }) };
      args.push(itemId(i), packItem({ idx: i, seq, removalPending: false, uncertain: false, fp }));
    }
    inFlight.push(redis.hset(items, ...args));
    if (inFlight.length >= 32) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
}

/**
 * Times each derivation script call: the longest one is how long Redis is blocked at a time. Needs a
 * connection without auto-pipelining, which would re-enter the wrapper.
 */
function timeScript(redis: Redis, name: string): number[] {
  const durations: number[] = [];
  const target = redis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const original = target[name]!;
  target[name] = async (...args: unknown[]) => {
    const started = performance.now();
    try {
      return await original.apply(redis, args);
    } finally {
      durations.push(performance.now() - started);
    }
  };
  return durations;
}

async function main(): Promise<void> {
  const redis = createRedis();
  const plain = new PlainRedis(process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  const keys = createKeys(`bench-${randomUUID()}`);
  const syncId = 'bench-state';
  const n = opts.items;
  const k = (part: string) => keys.sync(syncId, part);
  const previous: RunRef = { runId: 'full-1', seq: Date.now() - 86_400_000, kind: 'FULL' };
  const run: RunRef = { runId: 'full-2', seq: Date.now(), kind: 'FULL' };
  try {
    const state = new SyncState(plain, keys, syncId, opts.scanCount ? { scanCount: opts.scanCount } : {});
    let t = performance.now();
    await fill(redis, k('items'), n, previous.seq);
    await redis.hset(k('meta'), 'nextIdx', n);
    print(`filled ${n} items in ${((performance.now() - t) / 1000).toFixed(1)} s`);

    // The FULL run saw every item but every 1/absent-th: bit idx set in its bitmap (Redis bit order:
    // offset 0 is the high bit of byte 0), settled = distinct ids seen.
    const every = Math.round(1 / opts.absent);
    const bitmap = Buffer.alloc(Math.ceil(n / 8));
    let seen = 0;
    for (let i = 0; i < n; i++) {
      if (i % every === 0) continue;
      bitmap[i >> 3]! |= 0x80 >> (i & 7);
      seen++;
    }
    await state.startRun(run);
    await redis.set(k(`seen:${run.runId}`), bitmap);
    await redis.hset(k(`run:${run.runId}`), 'settled', seen, 'skipped', seen);
    const absent = n - seen;

    const sizes: Record<string, number> = {};
    for (const part of ['items', 'meta', `run:${run.runId}`, `seen:${run.runId}`]) {
      sizes[part] = Number(await redis.call('MEMORY', 'USAGE', k(part), 'SAMPLES', '0'));
    }
    const total = Object.values(sizes).reduce((a, b) => a + b, 0);
    print(`memory: ${(total / n).toFixed(1)} bytes/item in total (${(total / 2 ** 20).toFixed(1)} MiB)`);
    for (const [part, bytes] of Object.entries(sizes)) print(`  ${part}: ${bytes} bytes`);

    if ((await state.endRun(run, seen)) !== 'claimed') throw new Error('the run did not complete');
    const steps = timeScript(plain, 'stateDeriveChunk');
    t = performance.now();
    const counted = await state.countDeletionCandidates(run);
    const countMs = performance.now() - t;
    t = performance.now();
    let marked = 0;
    for await (const ids of state.markDeletionCandidates(run)) marked += ids.length;
    const markMs = performance.now() - t;
    if (counted !== absent || marked !== absent) {
      throw new Error(`expected ${absent} candidates, counted ${counted}, marked ${marked}`);
    }
    const sorted = [...steps].sort((a, b) => a - b);
    print(
      `derivation of ${absent} deletions among ${n} items: count ${(countMs / 1000).toFixed(2)} s, ` +
        `mark ${(markMs / 1000).toFixed(2)} s, total ${((countMs + markMs) / 1000).toFixed(2)} s`,
    );
    print(
      `  ${steps.length} script calls: median ${sorted[sorted.length >> 1]!.toFixed(1)} ms, ` +
        `max ${sorted[sorted.length - 1]!.toFixed(1)} ms`,
    );
  } finally {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${keys.prefix}:*`, 'COUNT', 1000);
      found.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    if (found.length > 0) await redis.unlink(...found);
    await redis.quit();
    await plain.quit();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
