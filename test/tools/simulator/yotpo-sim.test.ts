import { afterEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const TOKEN = 'yotpo_demo_token';
let sim: Simulator | undefined;
afterEach(async () => {
  await sim?.close();
  sim = undefined;
});

async function post(customer: unknown, token = TOKEN, store = 'store_demo') {
  const res = await fetch(`${sim!.yotpoUrl}/stores/${store}/customers`, {
    method: 'POST',
    headers: { 'x-yotpo-token': token, 'content-type': 'application/json' },
    body: JSON.stringify({ customer }),
  });
  return {
    status: res.status,
    body: (await res.json()) as Record<string, unknown>,
    retryAfter: res.headers.get('retry-after'),
  };
}

async function lookup(query: string) {
  const res = await fetch(`${sim!.yotpoUrl}/stores/store_demo/customers?${query}`, {
    headers: { 'x-yotpo-token': TOKEN },
  });
  return { status: res.status, body: (await res.json()) as { customers: Record<string, unknown>[] } };
}

describe('Yotpo customers simulator', () => {
  it('creates then updates one customer, merging custom properties', async () => {
    sim = await startSimulator({ yotpo: { requestsPerSecond: 100 } });
    expect(
      (await post({ external_id: 's1', first_name: 'Ada', custom_properties: { tier: 'gold', n: 1 } }))
        .status,
    ).toBe(200);
    expect((await post({ external_id: 's1', last_name: 'L', custom_properties: { n: 2 } })).status).toBe(200);
    expect(sim.yotpo.customers('store_demo')).toEqual([
      { external_id: 's1', first_name: 'Ada', last_name: 'L', custom_properties: { tier: 'gold', n: 2 } },
    ]);
    expect(sim.yotpo.stats('store_demo')).toMatchObject({ upserts: 2, created: 1, updated: 1 });
    expect(sim.yotpo.received('store_demo')[1]).toEqual({
      customer: { external_id: 's1', last_name: 'L', custom_properties: { n: 2 } },
    });
  });

  it('enforces identity, E.164 and custom property rules', async () => {
    sim = await startSimulator({ yotpo: { requestsPerSecond: 100 } });
    const refused = async (customer: unknown, field: RegExp) => {
      const r = await post(customer);
      expect(r.status).toBe(400);
      expect(JSON.stringify(r.body)).toMatch(field);
    };
    await refused({ email: 'a@b.co', phone_number: '+33612345678' }, /exactly one of email or phone_number/);
    await refused({ first_name: 'x' }, /required/);
    await refused({ phone_number: '0612345678' }, /E\.164/);
    await refused({ email: 'nope' }, /email/);
    await refused({ external_id: 'x', custom_properties: { 'has space': 1 } }, /no spaces/);
    await refused({ external_id: 'x', custom_properties: { a: null } }, /null/);
    await refused({ external_id: 'x', custom_properties: { a: [1] } }, /custom_properties\.a/);
    await refused({ external_id: 'x', favourite: 'y' }, /unknown customer field/);
    expect((await post({ external_id: 'x', email: 'a@b.co', phone_number: '+33612345678' })).status).toBe(
      200,
    );
    expect(sim.yotpo.stats()).toMatchObject({ upserts: 1, errors4xx: 8 });
  });

  it('looks customers up by one identity kind, and checks the token and store', async () => {
    sim = await startSimulator({ yotpo: { requestsPerSecond: 100 } });
    sim.yotpo.seed('store_demo', { email: 'ada@example.com', first_name: 'Ada' });
    const found = await lookup('emails=ADA@example.com,bob@example.com');
    expect(found.status).toBe(200);
    expect(found.body.customers.map((c) => c.email)).toEqual(['ada@example.com']);
    expect((await lookup('emails=a@b.co&external_ids=x')).status).toBe(400);
    expect((await post({ external_id: 'x' }, 'wrong')).status).toBe(401);
    expect((await post({ external_id: 'x' }, TOKEN, 'other')).status).toBe(404);
    expect(sim.yotpo.stats('store_demo').lookups).toBe(1);
  });

  it('answers 429 with Retry-After past the store rate, and serves introspection routes', async () => {
    sim = await startSimulator({ yotpo: { requestsPerSecond: 3 } });
    const statuses = [];
    for (let i = 0; i < 5; i++) statuses.push(await post({ external_id: `c${i}` }));
    expect(statuses.map((s) => s.status)).toEqual([200, 200, 200, 429, 429]);
    expect(Number(statuses[3]!.retryAfter)).toBeGreaterThanOrEqual(1);
    const stats = (await (await fetch(`${sim.url}/_sim/yotpo/stats?store=store_demo`)).json()) as Record<
      string,
      number
    >;
    expect(stats).toMatchObject({ requests: 5, upserts: 3, rejected429: 2 });
    const list = (await (await fetch(`${sim.url}/_sim/yotpo/stores/store_demo/customers`)).json()) as {
      count: number;
    };
    expect(list.count).toBe(3);
  });
});
