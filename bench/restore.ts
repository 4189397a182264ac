/**
 * npm run bench:restore [-- --members 2000000 --repeat 1]
 *
 * How long a sync's state takes to come back after Redis lost it: writes a membership changelog of N
 * members (a topic of its own on the dev-stack broker, created like the service creates it), then, with
 * the sync's keys absent from Redis (a prefix of its own on the dev-stack Redis; nothing is flushed),
 * runs the service's own detection and restore (StateDurability: check, lock, read the changelog to its
 * end, rebuild the membership, write meta and the epoch) and prints its duration, split into reading
 * the changelog and writing Redis, and the process's peak RSS. Deletes its keys and topic after.
 */
import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import { CompressionTypes, createKafka } from '../src/kafka/client.js';
import { createLogger } from '../src/logger.js';
import { changelogTopicConfig, memberKey, partitionOf, scanChangelog } from '../src/planning/changelog.js';
import { clearSyncState, rebuildSyncState } from '../src/planning/restore.js';
import { StateDurability } from '../src/planning/state-guard.js';
import { createRedis } from '../src/redis/connection.js';
import { createKeys } from '../src/redis/keys.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

const opts = new Command('bench:restore')
  .option('--members <n>', 'members in the changelog', positiveInt, 2_000_000)
  .option('--repeat <n>', 'restores of the same changelog', positiveInt, 1)
  .parse()
  .opts<{ members: number; repeat: number }>();

const brokers = process.env.KAFKA_BROKERS ?? '127.0.0.1:19092';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `bench-restore-${randomUUID().slice(0, 8)}`;
const topic = `${name}.state-changelog`;
const syncId = 'bench-sync';
const kafka = createKafka({ brokers, clientId: name });
const redis = createRedis(redisUrl);
const keys = createKeys(name);
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'error' });
let peakRss = 0;
const rssTimer = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 100);

async function writeChangelog(): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [changelogTopicConfig(topic)], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  const started = performance.now();
  const partition = partitionOf(syncId, changelogTopicConfig(topic).numPartitions ?? 1);
  const perSend = 10_000;
  let inFlight: Promise<unknown>[] = [];
  for (let i = 0; i < opts.members; i += perSend) {
    const messages = [];
    for (let j = i; j < Math.min(i + perSend, opts.members); j++) {
      messages.push({
        key: memberKey(syncId, `sku-${j}`),
        value: JSON.stringify({ s: 1, l: j + 1 }),
        partition,
      });
    }
    inFlight.push(producer.send({ topic, acks: -1, compression: CompressionTypes.None, messages }));
    if (inFlight.length >= 8) {
      await Promise.all(inFlight);
      inFlight = [];
    }
  }
  await Promise.all(inFlight);
  await producer.disconnect();
  return (performance.now() - started) / 1000;
}

async function main() {
  const writeS = await writeChangelog();
  process.stdout.write(`changelog: ${opts.members} members written to ${topic} in ${writeS.toFixed(1)} s\n`);
  const producer = kafka.producer();
  await producer.connect();
  for (let round = 1; round <= opts.repeat; round++) {
    await clearSyncState(redis, keys, syncId);
    // The service's path: detection (no epoch), lock, read to the end, rebuild.
    const durability = await StateDurability.create({
      redis,
      keys,
      kafka,
      producer,
      topic,
      groupPrefix: `${name}.scan`,
      scanTimeoutMs: 3_600_000,
      status: { emit: () => undefined },
      logger,
    });
    const t0 = performance.now();
    await durability.guard(syncId).ensure();
    const totalS = (performance.now() - t0) / 1000;
    const members = await redis.hlen(keys.sync(syncId, 'items'));
    // The two halves on their own, for the split.
    await clearSyncState(redis, keys, syncId);
    const t1 = performance.now();
    const scan = await scanChangelog({
      kafka,
      topic,
      syncId,
      partitions: durability.partitions,
      from: '0',
      collect: true,
      groupPrefix: `${name}.scan`,
      timeoutMs: 3_600_000,
    });
    const readS = (performance.now() - t1) / 1000;
    const t2 = performance.now();
    await rebuildSyncState(redis, keys, syncId, scan, { epoch: 'bench', minLsn: 0 });
    const writeRedisS = (performance.now() - t2) / 1000;
    process.stdout.write(
      `round ${round}: restore of ${members} members ${totalS.toFixed(1)} s (detection and restore, as the service runs it); ` +
        `reading the changelog ${readS.toFixed(1)} s, writing Redis ${writeRedisS.toFixed(1)} s; ` +
        `peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB\n`,
    );
    if (members !== opts.members) throw new Error(`restored ${members} members, expected ${opts.members}`);
  }
  await producer.disconnect();
}

try {
  await main();
} finally {
  clearInterval(rssTimer);
  await clearSyncState(redis, keys, syncId).catch(() => undefined);
  await redis.unlink(keys.sync(syncId, 'loss'), keys.sync(syncId, 'restore-lock')).catch(() => undefined);
  redis.disconnect();
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
}
