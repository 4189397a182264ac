import { afterEach, describe, expect, it } from 'vitest';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';

const ids = (m: Map<string, unknown>) => [...m.keys()].sort();
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => `sku-${a + i}`).sort();

describe('CDC pipeline: each sync mode ends with the exact catalog (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('Full then Delta / Mirror: full, delta with deletions, then a full run missing items', async () => {
    fx = await pipelineFixture([productSync('mirror', 'products', 'full_then_delta', 'mirror')]);
    await fx.startInstance();
    const r1 = await fx.produce('mirror', 'FULL', products(1, 300));
    expect((await fx.runDone('mirror', r1.runId)).state).toBe('done');
    expect(ids(fx.items('products'))).toEqual(range(1, 300));

    const r2 = await fx.produce(
      'mirror',
      'DELTA',
      products(5, 9, { name: 'Renamed' }).concat(products(301, 303)),
      ['sku-1', 'sku-2'],
    );
    await fx.runDone('mirror', r2.runId);
    const afterDelta = fx.items('products');
    expect(ids(afterDelta)).toEqual(range(3, 303));
    expect(afterDelta.get('sku-5')!.name).toBe('Renamed');

    const r3 = await fx.produce('mirror', 'FULL', products(3, 280));
    const info = await fx.runDone('mirror', r3.runId);
    expect(info.state).toBe('done');
    expect(info.removed).toBe(23);
    expect(ids(fx.items('products'))).toEqual(range(3, 280));
    expect(fx.items('products').get('sku-5')!.name).toBe('Product 5');
  });

  it('Full then Delta / Upsert: upstream deletions leave items in place and are reported skipped', async () => {
    fx = await pipelineFixture([productSync('upsert', 'offers', 'full_then_delta', 'upsert')]);
    await fx.startInstance();
    const r1 = await fx.produce('upsert', 'FULL', products(1, 50));
    await fx.runDone('upsert', r1.runId);
    const r2 = await fx.produce('upsert', 'DELTA', products(51, 52), ['sku-1', 'sku-2']);
    const info = await fx.runDone('upsert', r2.runId);
    expect(info.skipped).toBe(2);
    expect(ids(fx.items('offers'))).toEqual(range(1, 52));
    const r3 = await fx.produce('upsert', 'FULL', products(10, 20));
    expect((await fx.runDone('upsert', r3.runId)).removed).toBe(0);
    expect(ids(fx.items('offers'))).toEqual(range(1, 52));
  });

  it('Full Only / Upsert and Delete Only on one catalog: absent items stay, a delete run removes what it contains', async () => {
    fx = await pipelineFixture([
      productSync('fo-upsert', 'locations', 'full_only', 'upsert'),
      productSync('fo-delete', 'locations', 'full_only', 'delete_only'),
    ]);
    await fx.startInstance();
    await fx.runDone('fo-upsert', (await fx.produce('fo-upsert', 'FULL', products(1, 100))).runId);
    await fx.runDone('fo-upsert', (await fx.produce('fo-upsert', 'FULL', products(90, 120))).runId);
    expect(ids(fx.items('locations'))).toEqual(range(1, 120));
    const del = await fx.produce('fo-delete', 'FULL', products(1, 30));
    const info = await fx.runDone('fo-delete', del.runId);
    expect(info.state).toBe('done');
    expect(ids(fx.items('locations'))).toEqual(range(31, 120));
  });
});
