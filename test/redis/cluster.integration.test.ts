/**
 * Redis Cluster: a private 3-master cluster on loopback (test/helpers/redis-cluster.ts). A Mirror sync
 * runs end to end on it through an ACL user with the cluster rule (two full runs: derived deletions
 * included), and every Lua script call the
 * instance made named keys of one hash slot, as CLUSTER KEYSLOT computes it.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, type Redis } from '../../src/redis/connection.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { unique } from '../helpers/services.js';

describe('Redis Cluster (integration, own 3-master cluster)', () => {
  let cluster: RedisCluster;
  const user = { name: 'catalog-sync', password: `pw-${randomUUID()}`, keyPrefix: unique('rcl') };
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;

  beforeAll(async () => {
    cluster = await startRedisCluster(user);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('a Mirror sync runs end to end through the ACL user, and each script call keeps its keys in one slot', async () => {
    fx = await pipelineFixture([productSync('on_cluster', 'on_cluster', 'full_then_delta', 'mirror')], {
      redis: {
        url: 'redis://127.0.0.1',
        cluster: { nodes: cluster.nodes },
        keyPrefix: user.keyPrefix,
        username: user.name,
        password: { env: 'TEST_REDIS_PASSWORD' },
      },
      kafkaEnv: { TEST_REDIS_PASSWORD: user.password },
    });
    const svc = await fx.startInstance('a');
    // Every script goes through evalsha (then eval on NOSCRIPT): record the keys of each call.
    const calls: string[][] = [];
    const redis = svc.redis as unknown as Record<string, (...args: unknown[]) => Promise<unknown>>;
    for (const name of ['evalsha', 'eval'] as const) {
      const original = redis[name]!.bind(svc.redis);
      redis[name] = (script: unknown, numKeys: unknown, ...rest: unknown[]) => {
        calls.push(rest.slice(0, Number(numKeys)).map(String));
        return original(script, numKeys, ...rest);
      };
    }
    const first = await fx.produce('on_cluster', 'FULL', products(1, 30));
    expect((await fx.runDone('on_cluster', first.runId)).state).toBe('done');
    expect(fx.items('on_cluster').size).toBe(30);
    const second = await fx.produce('on_cluster', 'FULL', products(6, 30));
    expect((await fx.runDone('on_cluster', second.runId)).state).toBe('done');
    expect(fx.items('on_cluster').size).toBe(25);
    expect((await svc.readiness()).checks.redis).toBe(true);
    // The instance is the restricted user, not the default one: anything off its list is refused.
    await expect(svc.redis.call('acl', 'whoami')).rejects.toThrow(/NOPERM/);

    expect(calls.length).toBeGreaterThan(5);
    const probe: Redis = createRedis('redis://127.0.0.1', { cluster: { nodes: cluster.nodes } });
    try {
      const slot = new Map<string, number>();
      for (const key of new Set(calls.flat())) {
        slot.set(
          key,
          Number(
            await (probe as unknown as { cluster: (...a: string[]) => Promise<unknown> }).cluster(
              'KEYSLOT',
              key,
            ),
          ),
        );
      }
      const spread = calls.filter((keys) => new Set(keys.map((k) => slot.get(k))).size > 1);
      expect(spread).toEqual([]);
      // The keys of a sync are spread over the cluster by their tag, not all on slot 0.
      expect(new Set(slot.values()).size).toBeGreaterThan(1);
    } finally {
      probe.disconnect();
    }
  });
});
