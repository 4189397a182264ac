/**
 * Redis Cluster: a private 3-master cluster on loopback (test/helpers/redis-cluster.ts). A Mirror sync
 * runs end to end on it through an ACL user with the cluster rule (two full runs: derived deletions
 * included), and every Lua script call the
 * instance made named keys of one hash slot, as CLUSTER KEYSLOT computes it.
 * Then every .lua file under src/ (found by globbing) runs on the cluster through its own loader while
 * MONITOR watches every node: the keys each call declares and every key its redis.call()s touch (keys a
 * script builds from an argument included) lie in one slot, the sync's for the sync state scripts.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis as NodeClient } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InFlightFence } from '../../src/ingest/fence.js';
import { SharedRateLimiter } from '../../src/ratelimit/limiter.js';
import { createRedis, type Redis } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
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

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const sha1 = (s: string) => createHash('sha1').update(s).digest('hex');
const bare = (s: string) => s.replace(/\\[nrt]/g, '').replace(/[^A-Za-z0-9]/g, '');

function luaFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? luaFiles(join(dir, e.name)) : e.name.endsWith('.lua') ? [join(dir, e.name)] : [],
  );
}

interface ScriptCall {
  file: string;
  declared: string[];
  /** argv of each redis.call() the script made, as MONITOR shows them ("lua" source). */
  inner: string[][];
}

/** Every script call on every node, with the commands it ran inside; MONITOR logs EVAL* before them. */
async function watchScripts(nodes: string[], byHash: Map<string, string>) {
  const calls: ScriptCall[] = [];
  const clients: NodeClient[] = [];
  const monitors: { disconnect(): void }[] = [];
  for (const node of nodes) {
    const client = new NodeClient({ host: '127.0.0.1', port: Number(node.split(':')[1]) });
    clients.push(client);
    const monitor = await client.monitor();
    monitors.push(monitor);
    let current: ScriptCall | undefined;
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      const cmd = String(args[0]).toLowerCase();
      if (source === 'lua') {
        current?.inner.push(args.map(String));
        return;
      }
      if (cmd === 'evalsha' || cmd === 'eval') {
        // MONITOR prints an EVAL's body escaped: match it on its letters and digits.
        const hash = cmd === 'eval' ? sha1(bare(String(args[1]))) : String(args[1]);
        const n = Number(args[2]);
        current = {
          file: byHash.get(hash) ?? `unknown script ${hash}`,
          declared: args.slice(3, 3 + n),
          inner: [],
        };
        calls.push(current);
      } else {
        current = undefined;
      }
    });
  }
  return {
    calls,
    stop() {
      for (const m of monitors) m.disconnect();
      for (const c of clients) c.disconnect();
    },
  };
}

describe('every Lua script keeps its keys in one slot (integration, own 3-master cluster)', () => {
  let cluster: RedisCluster;
  const user = { name: 'catalog-sync', password: `pw-${randomUUID()}`, keyPrefix: unique('rks') };
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster(user);
  }, 60_000);
  afterAll(async () => {
    await fx?.close();
    await cluster?.stop();
  });

  it('each .lua file under src/, run by its loader: declared and touched keys hash to one slot', async () => {
    const files = luaFiles(SRC);
    expect(files.length).toBeGreaterThanOrEqual(14);
    const byHash = new Map<string, string>();
    for (const f of files) {
      const lua = readFileSync(f, 'utf8');
      byHash.set(sha1(lua), relative(SRC, f));
      byHash.set(sha1(bare(lua)), relative(SRC, f));
    }
    const watch = await watchScripts(cluster.nodes, byHash);
    const probe: Redis = createRedis('redis://127.0.0.1', { cluster: { nodes: cluster.nodes } });
    const cmd = probe as unknown as { call: (...a: string[]) => Promise<unknown> };
    try {
      fx = await pipelineFixture([productSync('slots', 'slots', 'full_then_delta', 'mirror')], {
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
      // A run (catalog created under its lock), a run deriving deletions, a run held then discarded,
      // a run held then released, then a delta's explicit deletion.
      expect(
        (await fx.runDone('slots', (await fx.produce('slots', 'FULL', products(1, 30))).runId)).state,
      ).toBe('done');
      expect(
        (await fx.runDone('slots', (await fx.produce('slots', 'FULL', products(6, 30))).runId)).state,
      ).toBe('done');
      const wrong = await fx.produce('slots', 'FULL', products(6, 7));
      expect((await fx.runDone('slots', wrong.runId)).state).toBe('held');
      expect(await svc.discardDeletions('slots', wrong.runId)).toEqual({ discarded: true, count: 23 });
      const empty = await fx.produce('slots', 'FULL', []);
      expect((await fx.runDone('slots', empty.runId)).state).toBe('held');
      expect(await svc.releaseDeletions('slots', empty.runId)).toEqual({ released: true, count: 25 });
      expect(fx.items('slots').size).toBe(0);
      // Explicit deletions of a delta run.
      await fx.runDone('slots', (await fx.produce('slots', 'DELTA', products(40, 41))).runId);
      const del = await fx.produce('slots', 'DELTA', [], ['sku-40']);
      expect((await fx.runDone('slots', del.runId)).state).toBe('done');
      expect([...fx.items('slots').keys()]).toEqual(['sku-41']);
      // What a run of this size does not reach: a 429's shared pause, a fence wait, a lease renewal.
      const keys = createKeys(user.keyPrefix);
      const limiter = new SharedRateLimiter(svc.redis, keys, { requestsPerSecond: 10, requestBurst: 10 });
      expect(await limiter.pause('project_demo', 50)).toBeGreaterThan(0);
      const { groupId, cdcTopic } = fx.config.kafka;
      const fence = new InFlightFence(svc.redis, keys.inFlight(groupId, cdcTopic), {
        ttlMs: 10_000,
        generationKey: keys.generations(groupId, cdcTopic),
      });
      expect(await fence.claim(1, [0])).toEqual([]);
      const leave = await fence.enter([{ partition: 0, owner: fence.owner('x'), generation: 1 }]);
      await fence.waitClear(fence.owner('y'), 1, () => false);
      await leave();
      expect(await svc.state('slots').renewLease({ runId: empty.runId, seq: 0, kind: 'FULL' })).toBe(false);
    } finally {
      watch.stop();
    }
    try {
      const calls = watch.calls;
      expect(calls.filter((c) => c.file.startsWith('unknown'))).toEqual([]);
      expect([...new Set(calls.map((c) => c.file))].sort()).toEqual(
        files.map((f) => relative(SRC, f)).sort(),
      );
      const keysOf = new Map<string, string[]>();
      const slotOf = new Map<string, number>();
      for (const argv of new Set(calls.flatMap((c) => c.inner.map((a) => JSON.stringify(a))))) {
        const args = JSON.parse(argv) as string[];
        // TIME and other keyless commands: COMMAND GETKEYS refuses them (it needs a command with keys).
        const keys =
          args.length < 2
            ? []
            : ((await cmd.call('COMMAND', 'GETKEYS', ...args).catch((err: Error) => {
                if (/no key arguments/.test(err.message)) return [];
                throw err;
              })) as string[]);
        keysOf.set(argv, keys.map(String));
      }
      const touched = (c: ScriptCall) => [
        ...c.declared,
        ...c.inner.flatMap((a) => keysOf.get(JSON.stringify(a)) ?? []),
      ];
      for (const key of new Set(calls.flatMap(touched))) {
        slotOf.set(key, Number(await cmd.call('CLUSTER', 'KEYSLOT', key)));
      }
      const spread = calls
        .map((c) => ({ file: c.file, keys: [...new Set(touched(c))] }))
        .filter((c) => new Set(c.keys.map((k) => slotOf.get(k))).size !== 1);
      expect(spread).toEqual([]);
      // Keys built inside a script (other runs' keys, from the sync's base) were reached too.
      const undeclared = calls.filter((c) => touched(c).some((k) => !c.declared.includes(k)));
      expect(undeclared.length).toBeGreaterThan(0);
      // One slot per sync: every sync state script of this sync ran on the sync's slot.
      const syncSlot = Number(await cmd.call('CLUSTER', 'KEYSLOT', 'slots'));
      const stateSlots = calls
        .filter((c) => c.file.startsWith('planning/'))
        .map((c) => slotOf.get(touched(c)[0]!));
      expect(new Set(stateSlots)).toEqual(new Set([syncSlot]));
    } finally {
      probe.disconnect();
    }
  });
});
