import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { createKafka } from '../../src/kafka/client.js';
import { ensureTopics } from '../../src/kafka/topics.js';
import { createRedis } from '../../src/redis/connection.js';

export function endpoints() {
  return {
    kafkaBrokers: inject('kafkaBrokers'),
    registryUrl: inject('registryUrl'),
    redisUrl: inject('redisUrl'),
  };
}

/** A name no other test or earlier run uses: tests share one broker and one Redis. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testKafka() {
  return createKafka({ brokers: endpoints().kafkaBrokers, clientId: unique('test') });
}

export function testRedis() {
  return createRedis(endpoints().redisUrl);
}

export async function createTopic(topic: string, partitions = 1) {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic, numPartitions: partitions, replicationFactor: 1 }]);
  } finally {
    await admin.disconnect();
  }
}

/** Polls until check returns a value other than undefined; fails with `what` after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
) {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Deletes every Redis key under a test's prefix (tests share one Redis and never flush it). */
export async function deleteKeys(prefix: string): Promise<number> {
  const redis = testRedis();
  let deleted = 0;
  try {
    const stream = redis.scanStream({ match: `${prefix}:*`, count: 500 });
    for await (const keys of stream as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
