import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/services.js';
import {
  byEmail,
  byExternalId,
  byPhone,
  contactSync,
  contacts,
  e164,
  yotpoFixture,
} from './yotpo-fixture.js';

describe('Yotpo contacts through the CDC pipeline (integration)', () => {
  let fx: Awaited<ReturnType<typeof yotpoFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('external_id, insert on: creates contacts; an unchanged re-run costs no request; one change sends one attribute', async () => {
    fx = await yotpoFixture([contactSync('ext', 'external_id', true)]);
    await fx.startInstance();
    const r1 = await fx.produce('ext', 'FULL', contacts(1, 40, byExternalId));
    expect((await fx.runDone('ext', r1.runId)).upserted).toBe(40);
    expect(fx.customers()).toHaveLength(40);
    expect(fx.customers().find((c) => c.external_id === 'shop-7')).toEqual({
      external_id: 'shop-7',
      first_name: 'First7',
      last_name: 'Last7',
      custom_properties: { tier: 'gold', points: 7 },
    });
    const before = fx.stats().requests;

    const r2 = await fx.produce('ext', 'FULL', contacts(1, 40, byExternalId));
    expect((await fx.runDone('ext', r2.runId)).skipped).toBe(40);
    expect(fx.stats().requests).toBe(before);

    const changed = contacts(7, 7, byExternalId, { last: 'Lovelace' });
    const r3 = await fx.produce('ext', 'DELTA', changed);
    await fx.runDone('ext', r3.runId);
    expect(fx.stats().requests).toBe(before + 1);
    expect(fx.sim.yotpo.received('store_demo').at(-1)).toEqual({
      customer: { external_id: 'shop-7', last_name: 'Lovelace' },
    });
    expect(fx.customers().find((c) => c.external_id === 'shop-7')!.first_name).toBe('First7');
  });

  it('email, insert off: existing contacts are updated, unknown ones skipped as NOT_FOUND', async () => {
    fx = await yotpoFixture([contactSync('mail', 'email', false)]);
    for (let i = 1; i <= 10; i += 2)
      fx.sim.yotpo.seed('store_demo', { email: byEmail(i), first_name: 'Seeded' });
    await fx.startInstance();
    const r1 = await fx.produce('mail', 'FULL', contacts(1, 10, byEmail));
    const info = await fx.runDone('mail', r1.runId);
    expect(info).toMatchObject({ upserted: 5, skipped: 5, rejected: 0 });
    expect(fx.customers()).toHaveLength(5);
    expect(
      fx.customers().every((c) => typeof c.first_name === 'string' && c.first_name.startsWith('First')),
    ).toBe(true);
    expect(fx.stats()).toMatchObject({ created: 0, updated: 5 });
  });

  it('phone, insert on: numbers are normalised to E.164; invalid records are rejected alone and dead-lettered', async () => {
    fx = await yotpoFixture([contactSync('tel', 'phone', true)]);
    await fx.startInstance();
    const dlq = await fx.deadLetters();
    try {
      const rows = [
        ...contacts(1, 5, byPhone),
        { id: 'call me', first: 'Bad', last: 'Phone', tier: 'x', points: 1 },
        { id: byPhone(9), first: null, last: null, tier: null, points: null },
      ];
      const r1 = await fx.produce('tel', 'FULL', rows);
      const info = await fx.runDone('tel', r1.runId);
      expect(info).toMatchObject({ upserted: 5, rejected: 2 });
      expect(
        fx
          .customers()
          .map((c) => c.phone_number)
          .sort(),
      ).toEqual([1, 2, 3, 4, 5].map(e164));
      const letters = await eventually('two dead letters', () =>
        dlq.records.length >= 2 ? dlq.records : undefined,
      );
      expect(letters.map((h) => h['x-dlq-code']).sort()).toEqual([
        'YOTPO_INVALID_IDENTITY',
        'YOTPO_NULL_ONLY',
      ]);
      expect(letters.find((h) => h['x-dlq-code'] === 'YOTPO_INVALID_IDENTITY')!['x-dlq-reason']).toMatch(
        /not a valid phone number/,
      );
    } finally {
      await dlq.stop();
    }
  });

  it('a bad email among mapped fields is rejected with its reason while the others go on', async () => {
    fx = await yotpoFixture([
      contactSync('ext-mail', 'external_id', true, {
        fields: [
          { source: 'first', attribute: 'first_name', type: 'string' },
          { source: 'mail', attribute: 'email', type: 'string' },
        ],
      }),
    ]);
    await fx.startInstance();
    const dlq = await fx.deadLetters();
    try {
      const rows = contacts(1, 6, byExternalId).map((r, i) => ({
        ...r,
        mail: i === 2 ? 'nobody-at-all' : byEmail(i),
      }));
      const info = await fx.runDone('ext-mail', (await fx.produce('ext-mail', 'FULL', rows)).runId);
      expect(info).toMatchObject({ upserted: 5, rejected: 1 });
      const [letter] = await eventually('a dead letter', () =>
        dlq.records.length >= 1 ? dlq.records : undefined,
      );
      expect(letter).toMatchObject({ 'x-dlq-code': 'YOTPO_INVALID_EMAIL', 'x-dlq-item': 'shop-3' });
    } finally {
      await dlq.stop();
    }
  });
});
