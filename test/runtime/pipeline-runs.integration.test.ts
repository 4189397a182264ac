import { afterEach, describe, expect, it } from 'vitest';
import { caughtUp, collectStatus, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const ids = (m: Map<string, unknown>) => [...m.keys()].sort();
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => `sku-${a + i}`).sort();

describe('CDC pipeline: runs, guardrail and fingerprints (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('an incomplete full Mirror run derives no deletions', async () => {
    fx = await pipelineFixture([productSync('m', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    await fx.runDone('m', (await fx.produce('m', 'FULL', products(1, 1200))).runId);
    // The warehouse job dies after 1,100 rows: no end marker is sent, so the run can never complete.
    const rows = products(1, 1200);
    const dying = (function* () {
      for (const [i, row] of rows.entries()) {
        if (i === 1100) throw new Error('warehouse job died');
        yield row;
      }
    })();
    await expect(fx.produce('m', 'FULL', dying)).rejects.toThrow('warehouse job died');
    await caughtUp(fx);
    const run = (await svc.state('m').runsInProgress()).find((r) => r.expected === null);
    // Whatever the producer had sent before it died was applied; nothing was derived from it.
    expect(run?.settled).toBeGreaterThan(0);
    expect(run?.state).toBe('open');
    expect(ids(fx.items('products'))).toEqual(range(1, 1200));
  });

  it('holds the deletions of an empty export, and release applies them', async () => {
    fx = await pipelineFixture([productSync('g', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    const status = await collectStatus(fx);
    try {
      await fx.runDone('g', (await fx.produce('g', 'FULL', products(1, 50))).runId);
      const empty = await fx.produce('g', 'FULL', []);
      const held = await fx.runDone('g', empty.runId);
      expect(held.state).toBe('held');
      expect(held.held).toBe(50);
      expect(fx.items('products').size).toBe(50);
      await eventually('a DELETIONS_HELD status event', () =>
        status.events.find((e) => e.type === 'DELETIONS_HELD' && e.runId === empty.runId),
      );

      const released = await svc.releaseDeletions('g', empty.runId);
      expect(released).toEqual({ released: true, count: 50 });
      expect(fx.items('products').size).toBe(0);
      const info = await svc.state('g').runInfo(empty.runId);
      expect(info?.state).toBe('done');
      expect(info?.removed).toBe(50);
      await eventually('a DELETIONS_RELEASED status event', () =>
        status.events.find((e) => e.type === 'DELETIONS_RELEASED' && e.runId === empty.runId),
      );
    } finally {
      await status.stop();
    }
  });

  it('holds a run deleting more than the configured share, but not one under it', async () => {
    fx = await pipelineFixture([
      productSync('share', 'products', 'full_then_delta', 'mirror', { guardrail: { maxDeleteShare: 0.2 } }),
    ]);
    await fx.startInstance();
    await fx.runDone('share', (await fx.produce('share', 'FULL', products(1, 100))).runId);
    const small = await fx.runDone('share', (await fx.produce('share', 'FULL', products(1, 90))).runId);
    expect(small.state).toBe('done');
    expect(small.removed).toBe(10);
    const big = await fx.runDone('share', (await fx.produce('share', 'FULL', products(1, 30))).runId);
    expect(big.state).toBe('held');
    expect(big.held).toBe(60);
    expect(fx.items('products').size).toBe(90);
  });

  it('an unchanged re-export sends zero items/edit requests; resync re-sends everything', async () => {
    fx = await pipelineFixture([productSync('fp', 'products', 'full_then_delta', 'upsert')]);
    const svc = await fx.startInstance();
    await fx.runDone('fp', (await fx.produce('fp', 'FULL', products(1, 400))).runId);
    const before = fx.sim.batch.stats().editRequests;
    const again = await fx.runDone('fp', (await fx.produce('fp', 'FULL', products(1, 400))).runId);
    expect(fx.sim.batch.stats().editRequests).toBe(before);
    expect(again.skipped).toBe(400);
    expect(again.upserted).toBe(0);

    const oneChanged = products(1, 400);
    oneChanged[7] = { ...oneChanged[7], name: 'Changed' };
    const changed = await fx.runDone('fp', (await fx.produce('fp', 'FULL', oneChanged)).runId);
    expect(changed.upserted).toBe(1);
    expect(fx.items('products').get('sku-8')!.name).toBe('Changed');

    await svc.resync('fp');
    const resent = await fx.runDone('fp', (await fx.produce('fp', 'FULL', oneChanged)).runId);
    expect(resent.upserted).toBe(400);
  });

  it('runs of one sync arriving back to back take effect in order', async () => {
    fx = await pipelineFixture([productSync('b2b', 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 3,
    });
    await fx.startInstance();
    const a = await fx.produce('b2b', 'FULL', products(1, 300));
    const b = await fx.produce('b2b', 'FULL', products(1, 200, { name: 'Second' }));
    const c = await fx.produce('b2b', 'DELTA', products(401, 405), ['sku-1']);
    await fx.runDone('b2b', a.runId);
    await fx.runDone('b2b', b.runId);
    await fx.runDone('b2b', c.runId);
    const items = fx.items('products');
    expect(ids(items)).toEqual([...range(2, 200), ...range(401, 405)].sort());
    expect(items.get('sku-2')!.name).toBe('Second');
  });

  it('an add of one run and a removal of the next coalesced in the buffer count under their own runs', async () => {
    // A long flush wait keeps both changes of sku-1 in the buffer together.
    fx = await pipelineFixture(
      [productSync('co', 'products', 'full_then_delta', 'mirror', { flushWaitMs: 3000 })],
      {
        cdcPartitions: 1,
      },
    );
    await fx.startInstance();
    const status = await collectStatus(fx);
    try {
      const first = await fx.produce('co', 'DELTA', products(1, 2));
      const second = await fx.produce('co', 'DELTA', [], ['sku-1']);
      const one = await fx.runDone('co', first.runId);
      const two = await fx.runDone('co', second.runId);
      expect(one).toMatchObject({ upserted: 1, removed: 0, skipped: 1 });
      expect(two).toMatchObject({ upserted: 0, removed: 1, skipped: 0 });
      expect(ids(fx.items('products'))).toEqual(['sku-2']);
      const skipped = await eventually('run 1 reports sku-1 superseded', () =>
        status.events.find((e) => e.type === 'ITEMS_SKIPPED' && e.runId === first.runId),
      );
      expect(skipped).toMatchObject({ errorCode: 'SUPERSEDED', itemIds: ['sku-1'] });
      expect(status.events.filter((e) => e.errorCode === 'UNCHANGED')).toEqual([]);
    } finally {
      await status.stop();
    }
  });

  it('a held run is not completed: DELETIONS_HELD, then RUN_COMPLETED only at release', async () => {
    fx = await pipelineFixture([productSync('hc', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    const status = await collectStatus(fx);
    try {
      await fx.runDone('hc', (await fx.produce('hc', 'FULL', products(1, 20))).runId);
      const empty = await fx.produce('hc', 'FULL', []);
      expect((await fx.runDone('hc', empty.runId)).state).toBe('held');
      // A later delta still takes effect and completes while the held run waits for the operator.
      const later = await fx.produce('hc', 'DELTA', products(21, 22));
      expect((await fx.runDone('hc', later.runId)).state).toBe('done');
      await eventually('the later run completed', () =>
        status.events.find((e) => e.type === 'RUN_COMPLETED' && e.runId === later.runId),
      );
      expect(status.events.filter((e) => e.runId === empty.runId).map((e) => e.type)).not.toContain(
        'RUN_COMPLETED',
      );
      expect(await svc.releaseDeletions('hc', empty.runId)).toEqual({ released: true, count: 20 });
      const done = await eventually('the released run completed', () =>
        status.events.find((e) => e.type === 'RUN_COMPLETED' && e.runId === empty.runId),
      );
      expect(done.counts).toMatchObject({ removed: 20, held: 20 });
      // Items of the later run were upserted after the held run: release leaves them.
      expect(ids(fx.items('products'))).toEqual(['sku-21', 'sku-22']);
    } finally {
      await status.stop();
    }
  });

  it('discarding held deletions finishes the run and removes nothing', async () => {
    fx = await pipelineFixture([productSync('dd', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    const status = await collectStatus(fx);
    try {
      await fx.runDone('dd', (await fx.produce('dd', 'FULL', products(1, 10))).runId);
      const wrong = await fx.produce('dd', 'FULL', products(1, 2));
      expect((await fx.runDone('dd', wrong.runId)).state).toBe('held');
      expect(await svc.discardDeletions('dd', wrong.runId)).toEqual({ discarded: true, count: 8 });
      expect(await svc.discardDeletions('dd', wrong.runId)).toEqual({ discarded: false, count: 0 });
      expect(await svc.state('dd').runInfo(wrong.runId)).toMatchObject({
        state: 'done',
        removed: 0,
        held: 8,
      });
      expect(await svc.state('dd').runsInProgress()).toEqual([]);
      const done = await eventually('RUN_COMPLETED of the discarded run', () =>
        status.events.find((e) => e.type === 'RUN_COMPLETED' && e.runId === wrong.runId),
      );
      expect(done.message).toMatch(/8 held deletions discarded/);
      expect(fx.items('products').size).toBe(10);
      // The next full run derives its own deletions as usual.
      const next = await fx.runDone('dd', (await fx.produce('dd', 'FULL', products(1, 9))).runId);
      expect(next).toMatchObject({ state: 'done', removed: 1 });
    } finally {
      await status.stop();
    }
  });
});
