/**
 * Redis loses a sync's state (restarted empty between runs and mid-run, FLUSHALL, rolled back to an
 * older RDB snapshot): the loss is detected and reported (STATE_LOST, STATE_RESTORED), the membership is
 * restored from the changelog topic, and the next Mirror run ends with the exact catalog in the
 * simulator (content compared: removed items are gone). Each test runs its own redis-server on its own
 * port (test/helpers/private-redis.ts); Kafka, the registry and the simulator are the real ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { inspectSync } from '../../src/runtime/inspect.js';
import type { CatalogSyncService } from '../../src/runtime/service.js';
import { collectStatus, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type PrivateRedis, startPrivateRedis } from '../helpers/private-redis.js';
import { eventually } from '../helpers/services.js';

const SYNC = 'mirror-loss';
const CATALOG = 'loss-products';

describe('Redis state loss: detected, reported, restored from the changelog (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let redis: PrivateRedis | undefined;
  let status: Awaited<ReturnType<typeof collectStatus>> | undefined;
  afterEach(async () => {
    await status?.stop();
    await fx?.close();
    await redis?.stop();
    fx = undefined;
    redis = undefined;
    status = undefined;
  });

  async function setup() {
    redis = await startPrivateRedis();
    fx = await pipelineFixture([productSync(SYNC, CATALOG, 'full_then_delta', 'mirror')], {
      redis: { url: redis.url },
    });
    const svc = await fx.startInstance();
    status = await collectStatus(fx);
    return { fx, redis, status, svc };
  }

  /** Polls the run through this instance (the fixture's first one may be stopped). */
  function done(svc: CatalogSyncService, runId: string, timeoutMs = 90_000) {
    return eventually(
      `run ${runId} finished`,
      async () => {
        const info = await svc.state(SYNC).runInfo(runId);
        return info && (info.state === 'done' || info.state === 'held') ? info : undefined;
      },
      timeoutMs,
    );
  }

  /** The simulator's catalog is exactly sku-from..sku-to, each with the name `name(i)`. */
  function expectExact(from: number, to: number, name: (i: number) => string) {
    const items = fx!.items(CATALOG);
    const want = Array.from({ length: to - from + 1 }, (_, i) => `sku-${from + i}`).sort();
    expect([...items.keys()].sort()).toEqual(want);
    for (let i = from; i <= to; i++) {
      expect(items.get(`sku-${i}`)).toMatchObject({ name: name(i), price: i + 0.99 });
    }
  }

  async function reported(types: string[]) {
    await eventually(`status events ${types.join(', ')}`, () =>
      types.every((t) => status!.events.some((e) => e.syncId === SYNC && e.type === t)) ? true : undefined,
    );
    return status!.events.filter((e) => e.syncId === SYNC && e.type.startsWith('STATE_'));
  }

  it('restarted empty between runs: the next full run removes what the lost membership held', async () => {
    const { fx, redis, svc } = await setup();
    const r1 = await fx.produce(SYNC, 'FULL', products(1, 60));
    expect((await done(svc, r1.runId)).state).toBe('done');
    expectExact(1, 60, (i) => `Product ${i}`);

    await redis.restartEmpty();
    const r2 = await fx.produce(SYNC, 'FULL', products(1, 40, { name: 'v2' }));
    const info = await done(svc, r2.runId);
    expect(info.state).toBe('done');
    expect(info.removed).toBe(20);
    expectExact(1, 40, () => 'v2');

    const events = await reported(['STATE_LOST', 'STATE_RESTORED']);
    expect(events.find((e) => e.type === 'STATE_LOST')!.message).toMatch(/no state epoch/);
    expect(events.find((e) => e.type === 'STATE_RESTORED')!.message).toMatch(/^60 members restored/);
    expect((await svc.readiness()).checks.state).toBe(true);
    expect(await svc.metrics.registry.getSingleMetricAsString('catalog_sync_state_restores_total')).toMatch(
      new RegExp(`sync="${SYNC}"} 1`),
    );
  });

  it('restarted empty mid-run: the interrupted run is abandoned, the next full run ends exact', async () => {
    const { fx, redis, svc } = await setup();
    const r1 = await fx.produce(SYNC, 'FULL', products(1, 60));
    await done(svc, r1.runId);

    // 1,200 items take at least 6 requests over more than a second (Batch's 5 requests/s, 1,000 items/s).
    const r2 = await fx.produce(SYNC, 'FULL', products(1, 1200, { name: 'v2' }));
    await eventually(
      'part of run 2 applied',
      () => {
        const n = [...fx.items(CATALOG).values()].filter((v) => v.name === 'v2').length;
        return n >= 100 && n < 1200 ? true : undefined;
      },
      90_000,
    );
    await redis.restartEmpty();
    await reported(['STATE_LOST', 'STATE_RESTORED']);

    // Under the guardrail's share: 300 of the 1,200 members the changelog restored (or re-joined) go.
    const r3 = await fx.produce(SYNC, 'FULL', products(1, 900, { name: 'v3' }));
    const info = await done(svc, r3.runId, 150_000);
    expect(info.state).toBe('done');
    expectExact(1, 900, () => 'v3');
    // Run 2 could not be counted any more: it ended without deriving deletions.
    const r2info = await svc.state(SYNC).runInfo(r2.runId);
    expect(r2info?.state ?? 'done').toBe('done');
  });

  it('FLUSHALL: a delta removal and the next full run still see the whole membership', async () => {
    const { fx, redis, svc } = await setup();
    const r1 = await fx.produce(SYNC, 'FULL', products(1, 50));
    await done(svc, r1.runId);

    const admin = redis.client();
    await admin.flushall();
    // The readiness probe looks at the epoch: the loss is reported, and restored, before any event.
    const probe = await svc.readiness();
    expect(probe.ready).toBe(false);
    expect(probe.checks.state).toMatch(/state of sync mirror-loss lost \(the state epoch is missing\)/);
    await eventually('ready again', async () => ((await svc.readiness()).ready ? true : undefined));
    const inspection = await inspectSync(fx.config, admin, SYNC);
    expect(inspection.state).toMatchObject({ whole: true, lastRestore: { members: 50 } });
    expect(inspection.members).toBe(50);
    const r2 = await fx.produce(SYNC, 'DELTA', products(51, 55), ['sku-1', 'sku-2']);
    await done(svc, r2.runId);
    // Without the restored membership sku-1 and sku-2 would be NOT_A_MEMBER and stay.
    expectExact(3, 55, (i) => `Product ${i}`);

    const r3 = await fx.produce(SYNC, 'FULL', products(3, 45, { name: 'v3' }));
    expect((await done(svc, r3.runId)).removed).toBe(10);
    expectExact(3, 45, () => 'v3');
    await reported(['STATE_LOST', 'STATE_RESTORED']);
  });

  it('rolled back to an older snapshot while stopped: the start-up check finds Redis behind the changelog', async () => {
    const { fx, redis, svc } = await setup();
    const r1 = await fx.produce(SYNC, 'FULL', products(1, 50));
    await done(svc, r1.runId);
    const old = await redis.snapshot('before-run-2.rdb');

    const r2 = await fx.produce(SYNC, 'FULL', products(1, 70, { name: 'v2' }));
    await done(svc, r2.runId);
    expectExact(1, 70, () => 'v2');
    await svc.stop();

    // sku-51..70 joined after the snapshot: only the changelog knows them.
    await redis.restartFrom(old);
    const svc2 = await fx.startInstance('b');
    const events = await reported(['STATE_LOST', 'STATE_RESTORED']);
    expect(events.find((e) => e.type === 'STATE_LOST')!.message).toMatch(/behind the changelog/);

    const r3 = await fx.produce(SYNC, 'FULL', products(1, 45, { name: 'v3' }));
    const info = await done(svc2, r3.runId);
    expect(info.removed).toBe(25);
    expectExact(1, 45, () => 'v3');
  });

  it('rolled back under a running instance: its next script refuses, then the state is restored', async () => {
    const { fx, redis, svc } = await setup();
    const r1 = await fx.produce(SYNC, 'FULL', products(1, 50));
    await done(svc, r1.runId);
    const old = await redis.snapshot('before-run-2.rdb');
    const r2 = await fx.produce(SYNC, 'FULL', products(1, 70, { name: 'v2' }));
    await done(svc, r2.runId);

    await redis.restartFrom(old);
    const r3 = await fx.produce(SYNC, 'FULL', products(1, 45, { name: 'v3' }));
    const info = await done(svc, r3.runId);
    expect(info.removed).toBe(25);
    expectExact(1, 45, () => 'v3');
    const events = await reported(['STATE_LOST', 'STATE_RESTORED']);
    expect(events.find((e) => e.type === 'STATE_LOST')!.message).toMatch(/rolled back|behind/);
  });
});
