/**
 * The consumer group on a private 3-master Redis Cluster (test/helpers/redis-cluster.ts): three instances
 * (one a child process, SIGKILLed mid-run) share a Mirror sync over 6 partitions and end with the exact
 * catalog, content compared; and the shared token bucket stays shared across cluster connections.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SharedRateLimiter } from '../../src/ratelimit/limiter.js';
import { createRedis, type Redis } from '../../src/redis/connection.js';
import { createKeys } from '../../src/redis/keys.js';
import type { Row } from '../../src/runtime/produce.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { eventually, unique } from '../helpers/services.js';

/** What the simulator holds for a product row of productSync's mapping. */
function expected(rows: Row[]) {
  return Object.fromEntries(
    rows.map((r) => [r.sku, { name: r.name, price: r.price, in_stock: r.in_stock, tags: r.tags }]),
  );
}

describe('catalog-sync on a 3-master Redis Cluster (integration, own cluster)', () => {
  let cluster: RedisCluster;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await fx?.close();
    fx = undefined;
  });

  it('three instances, one SIGKILLed mid-run: the survivors finish with the exact catalog', async () => {
    fx = await pipelineFixture([productSync('kill', 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 6,
      redis: { url: 'redis://127.0.0.1', cluster: { nodes: cluster.nodes }, keyPrefix: unique('pcl') },
    });
    const file = join(tmpdir(), `${fx.name}.json`);
    writeFileSync(file, JSON.stringify({ ...fx.raw, instanceId: `${fx.name}-child` }));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/runtime/cli.ts', 'start', '--config', file],
      { env: { ...fx.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += String(d);
    });
    const a = await fx.startInstance('a');
    const b = await fx.startInstance('b');
    await eventually(
      'the child and two survivors to share the 6 partitions',
      () => {
        const mine = a.assignedPartitions.length + b.assignedPartitions.length;
        return a.assignedPartitions.length > 0 && b.assignedPartitions.length > 0 && mine < 6
          ? true
          : undefined;
      },
      60_000,
    );

    const rows = products(1, 3000);
    const full = await fx.produce('kill', 'FULL', rows);
    await eventually('the run to be well under way', () =>
      fx!.items('products').size >= 800 ? true : undefined,
    );
    expect(fx.items('products').size).toBeLessThan(3000);
    child.kill('SIGKILL');
    await eventually('the child to die', () =>
      child.exitCode !== null || child.signalCode ? true : undefined,
    );

    const info = await fx.runDone('kill', full.runId, 120_000);
    expect(info.state, stderr).toBe('done');
    expect(Object.fromEntries(fx.items('products'))).toEqual(expected(rows));
    expect(a.assignedPartitions.length + b.assignedPartitions.length).toBe(6);

    // The next full run changes 100 items and drops 100: updates and derived deletions on the cluster.
    const next = [...products(1, 100, { name: 'Renamed' }), ...products(101, 2900)];
    const second = await fx.runDone('kill', (await fx.produce('kill', 'FULL', next)).runId, 120_000);
    expect(second.removed).toBe(100);
    expect(Object.fromEntries(fx.items('products'))).toEqual(expected(next));
  }, 300_000);

  it("two instances' limiters on separate cluster connections share one bucket: grants never pass it", async () => {
    const keys = createKeys(unique('rlc'));
    const connections: Redis[] = [0, 1].map(() =>
      createRedis('redis://127.0.0.1', { cluster: { nodes: cluster.nodes } }),
    );
    try {
      // Refill is negligible over the test (one request per 1000 s, one item per 10 s): grants are
      // bounded by the bursts alone, whatever the timing.
      const limits = { requestsPerSecond: 0.001, requestBurst: 12, itemsPerSecond: 0.1, itemBurst: 1000 };
      const [one, two] = connections.map((r) => new SharedRateLimiter(r, keys, limits)) as [
        SharedRateLimiter,
        SharedRateLimiter,
      ];
      const granted = async (l: SharedRateLimiter, times: number, items: number) =>
        (await Promise.all(Array.from({ length: times }, () => l.tryAcquire('project_x', items)))).filter(
          (wait) => wait === 0,
        ).length;

      // One takes 7 requests; the other, through another connection, finds 5 left.
      expect(await granted(one, 7, 0)).toBe(7);
      expect(await granted(two, 20, 0)).toBe(5);
      expect(await granted(one, 5, 0)).toBe(0);

      // Concurrently, items bound: 1000 items in 150-item takes is 6 grants between the two, not 6 each.
      const other = createKeys(unique('rlc'));
      const [x, y] = connections.map(
        (r) => new SharedRateLimiter(r, other, { ...limits, requestBurst: 100 }),
      ) as [SharedRateLimiter, SharedRateLimiter];
      const both = await Promise.all([granted(x, 10, 150), granted(y, 10, 150)]);
      expect(both[0] + both[1]).toBe(6);
      const left = await x.inspect('project_x');
      expect(Math.floor(left.items)).toBe(100);
      expect(Math.floor(left.requests)).toBe(94);
    } finally {
      for (const r of connections) r.disconnect();
    }
  });
});
