/**
 * Moving the sync's hash slot while a Mirror sync runs, on a private 3-master cluster. Not supported
 * (docs/operations.md, "Resharding"): these tests show what the service does when it happens anyway.
 * - `redis-cli --cluster reshard` moves every slot of the master holding the sync's slot (~5,460
 *   slots, the sync's among them) to another master mid-run.
 * - A slow migration of the sync's slot alone (CLUSTER SETSLOT IMPORTING/MIGRATING, then one MIGRATE
 *   per second, as a slot with large keys takes): multi-key scripts get TRYAGAIN for the whole window,
 *   which the instances log as a failed batch and requeue.
 * Both end with the run done and the exact catalog, content compared.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../../src/runtime/produce.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type RedisCluster, startRedisCluster } from '../helpers/redis-cluster.js';
import { eventually, unique } from '../helpers/services.js';

const run = promisify(execFile);

function expected(rows: Row[]) {
  return Object.fromEntries(
    rows.map((r) => [r.sku, { name: r.name, price: r.price, in_stock: r.in_stock, tags: r.tags }]),
  );
}

/** Error lines of the instances, less the Kafka client's own (a group rebalance on a busy machine). */
function redisErrors(logs: Record<string, unknown>[]) {
  return logs.filter((l) => Number(l.level) >= 50 && l.logger !== 'kafkajs');
}

const tryAgain = (l: Record<string, unknown>) =>
  /TRYAGAIN/.test(String((l.err as { message?: string })?.message));

/**
 * A failure that is done again: a batch requeued for sending, or (the same refusal on the ingest side)
 * a consumer that kafkajs restarts after its retries, reading again from the last commit.
 */
function recovered(l: Record<string, unknown>) {
  if (l.msg === 'delivering a batch failed; requeued') return true;
  return l.msg === 'consumer crashed' && l.restart === true && tryAgain(l);
}

async function cli(node: string, ...args: string[]): Promise<string> {
  const [host, port] = node.split(':') as [string, string];
  return (await run('redis-cli', ['-h', host, '-p', port, ...args], { timeout: 10_000 })).stdout;
}

/** The node ids and slot ranges of the masters, from CLUSTER NODES. */
async function masters(node: string) {
  return (await cli(node, 'cluster', 'nodes'))
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .filter((f) => f[2]?.includes('master'))
    .map((f) => ({
      id: f[0]!,
      addr: f[1]!.split('@')[0]!,
      slots: f.slice(8).map((r) => r.split('-').map(Number) as [number, number?]),
    }));
}

describe('resharding while a sync runs (integration, own cluster)', () => {
  let cluster: RedisCluster;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  /** A fixture with one Mirror sync on the cluster, two instances, and where the sync's slot lives. */
  async function setUp(logs: Record<string, unknown>[]) {
    const syncId = unique('rs').replace('-', '_');
    fx = await pipelineFixture([productSync(syncId, 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 3,
      redis: { url: 'redis://127.0.0.1', cluster: { nodes: cluster.nodes }, keyPrefix: unique('rsh') },
    });
    await fx.startInstance('a', { logs, level: 'warn' });
    await fx.startInstance('b', { logs, level: 'warn' });
    const slot = Number((await cli(cluster.nodes[0]!, 'cluster', 'keyslot', syncId)).trim());
    const owner = async () =>
      (await masters(cluster.nodes[0]!)).find((m) =>
        m.slots.some(([a, b]) => slot >= a && slot <= (b ?? a)),
      )!;
    const from = await owner();
    const to = (await masters(cluster.nodes[0]!)).find((m) => m.id !== from.id)!;
    return { fx, syncId, slot, owner, from, to };
  }

  it('redis-cli --cluster reshard moves the sync slot mid-run: the run ends with the exact catalog', async () => {
    const logs: Record<string, unknown>[] = [];
    const { fx, syncId, owner, from, to } = await setUp(logs);
    const count = from.slots.reduce((n, [a, b]) => n + (b ?? a) - a + 1, 0);
    const rows = products(1, 4000);
    const full = await fx.produce(syncId, 'FULL', rows);
    await eventually('the run to be under way', () => (fx.items('products').size >= 300 ? true : undefined));
    await run(
      'redis-cli',
      ['--cluster', 'reshard', from.addr, '--cluster-from', from.id, '--cluster-to', to.id].concat([
        '--cluster-slots',
        String(count),
        '--cluster-yes',
      ]),
      { timeout: 240_000, maxBuffer: 64 * 1024 * 1024 },
    );
    expect((await owner()).id).toBe(to.id);
    const info = await fx.runDone(syncId, full.runId, 180_000);
    expect(info.state).toBe('done');
    expect(Object.fromEntries(fx.items('products'))).toEqual(expected(rows));
    // Whatever failed on the Redis side during the move was done again.
    expect(redisErrors(logs).filter((l) => !recovered(l))).toEqual([]);
  }, 400_000);

  it('a slow migration of the sync slot: TRYAGAIN is logged, batches requeued, the catalog ends exact', async () => {
    const logs: Record<string, unknown>[] = [];
    const { fx, syncId, slot, owner, from, to } = await setUp(logs);
    await fx.runDone(syncId, (await fx.produce(syncId, 'FULL', products(1, 500))).runId);
    const rows = products(1, 4000);
    const full = await fx.produce(syncId, 'FULL', rows);
    await eventually('the run to be under way', () => (fx.items('products').size >= 800 ? true : undefined));
    // What redis-cli --cluster reshard does for one slot, one key per second.
    const [toHost, toPort] = to.addr.split(':') as [string, string];
    await cli(to.addr, 'cluster', 'setslot', String(slot), 'importing', from.id);
    await cli(from.addr, 'cluster', 'setslot', String(slot), 'migrating', to.id);
    let moved = 0;
    for (; moved < 100; moved++) {
      const [key] = (await cli(from.addr, 'cluster', 'getkeysinslot', String(slot), '1')).split('\n');
      if (!key) break;
      expect(await cli(from.addr, 'migrate', toHost, toPort, '', '0', '5000', 'KEYS', key)).toMatch(/OK/);
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const n of await masters(cluster.nodes[0]!))
      await cli(n.addr, 'cluster', 'setslot', String(slot), 'node', to.id);
    expect(moved).toBeGreaterThan(2);
    expect((await owner()).id).toBe(to.id);

    const info = await fx.runDone(syncId, full.runId, 180_000);
    expect(info.state).toBe('done');
    expect(Object.fromEntries(fx.items('products'))).toEqual(expected(rows));
    // Loud: multi-key scripts got TRYAGAIN during the window, and each failure requeued its batch.
    const failed = redisErrors(logs);
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.filter((l) => !recovered(l))).toEqual([]);
    expect(failed.some(tryAgain)).toBe(true);
  }, 400_000);
});
