import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { DEFAULT_REGISTRY_URL } from '../../devstack/stack.js';
import { DEFAULT_KAFKA_BROKERS } from '../../src/kafka/client.js';
import { createRedis, DEFAULT_REDIS_URL } from '../../src/redis/connection.js';
import type { Endpoints } from './kafka.js';
import { PROJECT } from './processes.js';

export function endpoints(): Endpoints {
  return {
    brokers: process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS,
    registryUrl: process.env.SCHEMA_REGISTRY_URL ?? DEFAULT_REGISTRY_URL,
    redisUrl: process.env.REDIS_URL ?? DEFAULT_REDIS_URL,
  };
}

/** A name no other run uses: topics, groups and Redis prefixes are shared with tests and engineers. */
export function unique(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** Secrets reach instances by env only, as in a deployment. */
export const INSTANCE_ENV = { BENCH_BATCH_PROJECT: PROJECT.projectKey, BENCH_BATCH_KEY: PROJECT.restApiKey };

/** The raw (file) configuration of one instance; instances of one group differ by instanceId only. */
export function instanceConfig(opts: {
  ep: Endpoints;
  name: string;
  topic: string;
  partitions: number;
  batchUrl: string;
  limits?: { requestsPerSecond: number; itemsPerSecond: number };
  sync: unknown;
}): Record<string, unknown> {
  const { ep, name } = opts;
  return {
    instanceId: `${name}-a`,
    kafka: {
      brokers: ep.brokers,
      groupId: `${name}-group`,
      cdcTopic: opts.topic,
      cdcPartitions: opts.partitions,
      statusTopic: `${name}.status`,
      deadLetterTopic: `${name}.dlq`,
    },
    schemaRegistry: { url: ep.registryUrl },
    redis: { url: ep.redisUrl, keyPrefix: name },
    http: { port: 0, host: '127.0.0.1' },
    batch: {
      baseUrl: opts.batchUrl,
      projects: {
        demo: { projectKey: { env: 'BENCH_BATCH_PROJECT' }, restApiKey: { env: 'BENCH_BATCH_KEY' } },
      },
      ...(opts.limits ? { limits: opts.limits } : {}),
    },
    syncs: [opts.sync],
  };
}

export async function deleteRedisKeys(url: string, prefix: string): Promise<number> {
  const redis = createRedis(url);
  try {
    let deleted = 0;
    let cursor = '0';
    do {
      const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (batch.length > 0) deleted += await redis.unlink(...batch);
      cursor = next;
    } while (cursor !== '0');
    return deleted;
  } finally {
    await redis.quit();
  }
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Pids of the local Redis (from INFO) and of the devstack's Kafka broker (its pid file), where known. */
export async function localServicePids(redisUrl: string): Promise<{ redis?: number; kafka?: number }> {
  const redis = createRedis(redisUrl);
  try {
    const info = await redis.info('server');
    const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1]);
    let kafkaPid: number | undefined;
    try {
      kafkaPid = Number(readFileSync('.devstack/kafka/kafka.pid', 'utf8').trim()) || undefined;
    } catch {
      kafkaPid = undefined;
    }
    return {
      ...(Number.isFinite(redisPid) ? { redis: redisPid } : {}),
      ...(kafkaPid ? { kafka: kafkaPid } : {}),
    };
  } finally {
    redis.disconnect();
  }
}

/**
 * A redis-server of the benchmark's own on a free loopback port, no persistence: its INFO cpu counts
 * the benchmark's work only (the machine's Redis is shared with other engineers' tests).
 */
export async function startPrivateRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
  });
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const redis = createRedis(url, undefined, { lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await redis.connect();
      await redis.ping();
      break;
    } catch (err) {
      if (Date.now() > deadline || child.exitCode !== null)
        throw new Error(`redis-server did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    } finally {
      redis.disconnect();
    }
  }
  return {
    url,
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    },
  };
}
