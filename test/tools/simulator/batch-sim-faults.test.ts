import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const AUTH = { authorization: 'Bearer rest_demo_key', 'x-batch-project': 'project_demo' };

async function post(url: string, body: unknown, headers: Record<string, string> = AUTH) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const items = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, action: 'add' }));

describe('Batch Catalog API simulator: rate limits, faults, introspection', () => {
  let sim: Simulator;
  let fastSim: Simulator;
  const edit = (s: Simulator, body: unknown) => post(`${s.batchUrl}/catalogs/items/edit`, body);
  const ids = (s: Simulator) => new Set(s.batch.catalog('project_demo', 'products')?.items.keys());

  beforeAll(async () => {
    [sim, fastSim] = await Promise.all([
      startSimulator({ port: 0 }),
      // Request budget out of the way, so only the items bucket can refuse.
      startSimulator({ port: 0, batch: { requestsPerSecond: 1_000_000 } }),
    ]);
  });
  afterAll(() => Promise.all([sim.close(), fastSim.close()]));
  beforeEach(async () => {
    for (const s of [sim, fastSim]) {
      s.batch.reset();
      s.batch.faults.clear();
      expect((await post(`${s.batchUrl}/catalogs/create`, { name: 'products', fields: [] })).status).toBe(
        201,
      );
    }
  });

  // A burst far above the budget: it would have to span seconds for every request to fit.
  it('answers 429 past 5 requests per second, with Retry-After, applying nothing of the refused ones', async () => {
    const replies = await Promise.all(
      Array.from({ length: 20 }, (_, i) => edit(sim, { name: 'products', items: items(`r${i}`, 1) })),
    );
    const accepted = replies.flatMap((r, i) => (r.status === 202 ? [`r${i}-0`] : []));
    const refused = replies.filter((r) => r.status === 429);
    expect(accepted.length + refused.length).toBe(20);
    expect(accepted.length).toBeGreaterThanOrEqual(5);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      expect(r.body).toMatchObject({
        error_code: expect.any(Number),
        error_message: expect.stringContaining('rate limit'),
      });
    }
    expect(ids(sim)).toEqual(new Set(accepted));
    expect(sim.batch.stats('project_demo')).toMatchObject({
      rejected429: refused.length,
      editRequests: accepted.length,
      itemsEdited: accepted.length,
    });
  });

  it('answers 429 past 1000 items per second', async () => {
    // 8,000 items at once: only a machine too busy to answer them within 7 s would see no 429.
    const started = performance.now();
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) => edit(fastSim, { name: 'products', items: items(`b${i}`, 200) })),
    );
    const elapsedS = (performance.now() - started) / 1000;
    const accepted = replies.filter((r) => r.status === 202).length;
    const refused = replies.filter((r) => r.status === 429);
    expect(accepted).toBeGreaterThanOrEqual(5);
    // A full bucket (1,000) plus its refill while the requests ran, never more.
    expect(accepted * 200).toBeLessThanOrEqual(1000 + Math.ceil(elapsedS * 1000));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(ids(fastSim).size).toBe(accepted * 200);
  });

  it('forces 429 for a window, on items/edit only', async () => {
    sim.batch.faults.set({ force429UntilMs: Date.now() + 60_000 });
    const refused = await edit(sim, { name: 'products', items: items('w', 1) });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await post(`${sim.batchUrl}/catalogs/create`, { name: 'other', fields: [] })).status).toBe(201);
    sim.batch.faults.clear();
    expect((await edit(sim, { name: 'products', items: items('w', 1) })).status).toBe(202);
    expect(ids(sim)).toEqual(new Set(['w-0']));
  });

  it('injects server errors before applying anything', async () => {
    sim.batch.faults.set({ serverErrorRate: 1 });
    const reply = await edit(sim, { name: 'products', items: items('s', 3) });
    expect([500, 503]).toContain(reply.status);
    expect(reply.body.error_code).toEqual(expect.any(Number));
    expect(ids(sim).size).toBe(0);
    expect(sim.batch.stats().errors5xx).toBe(1);
  });

  it('drops the reply after applying; the retry is harmless', async () => {
    sim.batch.faults.set({ dropAfterApplyRate: 1 });
    const body = { name: 'products', items: [{ id: 'x', action: 'add' }] };
    await expect(edit(sim, body)).rejects.toThrow();
    expect(ids(sim)).toEqual(new Set(['x']));
    await expect(post(`${sim.batchUrl}/catalogs/create`, { name: 'late', fields: [] })).rejects.toThrow();
    sim.batch.faults.clear();
    expect((await edit(sim, body)).status).toBe(202);
    expect(ids(sim)).toEqual(new Set(['x']));
    expect((await post(`${sim.batchUrl}/catalogs/create`, { name: 'late', fields: [] })).status).toBe(409);
    expect(sim.batch.stats('project_demo').droppedAfterApply).toBe(2);
  });

  it('serves stats, catalogs and faults over HTTP for other processes', async () => {
    expect(
      (
        await edit(sim, {
          name: 'products',
          items: [
            { id: 'a', action: 'add' },
            { id: 'b', action: 'add' },
          ],
        })
      ).status,
    ).toBe(202);
    expect((await edit(sim, { name: 'nope', items: items('n', 1) })).status).toBe(404);

    const stats = (await (await fetch(`${sim.url}/_sim/batch/stats?project=project_demo`)).json()) as Record<
      string,
      unknown
    >;
    // beforeEach's create counts as a request too.
    expect(stats).toMatchObject({
      requests: 3,
      editRequests: 1,
      itemsEdited: 2,
      errors4xx: 1,
      itemsPerSecondPeak: 2,
    });
    expect(stats.itemsPerSecond).toEqual([{ second: expect.any(Number), items: 2 }]);

    const catalog = await fetch(`${sim.url}/_sim/batch/catalogs/project_demo/products?id=b`);
    expect(await catalog.json()).toEqual({ name: 'products', fields: [], count: 2, items: { b: {} } });
    expect((await fetch(`${sim.url}/_sim/batch/catalogs/project_demo/nope`)).status).toBe(404);

    const faults = await post(`${sim.url}/_sim/batch/faults`, { serverErrorRate: 1 }, {});
    expect(faults.status).toBe(200);
    expect(sim.batch.faults.current().serverErrorRate).toBe(1);
    expect((await post(`${sim.url}/_sim/batch/faults`, { serverErrorRate: 2 }, {})).status).toBe(400);
    expect((await post(`${sim.url}/_sim/batch/faults`, { unknown: 1 }, {})).status).toBe(400);
    expect((await fetch(`${sim.url}/_sim/batch/faults`, { method: 'DELETE' })).status).toBe(200);
    expect(sim.batch.faults.current().serverErrorRate).toBe(0);

    expect((await fetch(`${sim.url}/_sim/batch/reset`, { method: 'POST' })).status).toBe(200);
    expect(sim.batch.catalog('project_demo', 'products')).toBeUndefined();
    expect(sim.batch.stats().requests).toBe(0);
  });
});
