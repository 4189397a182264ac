import { afterEach, describe, expect, it } from 'vitest';
import { byExternalId, contactSync, contacts, yotpoFixture } from './yotpo-fixture.js';

describe('Yotpo: two instances share one store rate limit (integration)', () => {
  let fx: Awaited<ReturnType<typeof yotpoFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('two services on one store at 20 req/s: every contact arrives with few or no 429s', async () => {
    fx = await yotpoFixture([contactSync('shared', 'external_id', true, { flushWaitMs: 20 })], {
      simRate: 20,
      requestsPerSecond: 20,
    });
    await fx.startInstance('a');
    await fx.startInstance('b');
    const run = await fx.produce('shared', 'FULL', contacts(1, 200, byExternalId));
    const info = await fx.runDone('shared', run.runId, 90_000);
    expect(info).toMatchObject({ upserted: 200, rejected: 0 });
    expect(new Set(fx.customers().map((c) => c.external_id)).size).toBe(200);
    const stats = fx.stats();
    expect(stats.rejected429).toBeLessThanOrEqual(3);
    expect(stats.upserts).toBeGreaterThanOrEqual(200);
    const retried429 = fx.events.filter((e) => e.event.type === 'request_retried' && e.event.status === 429);
    expect(retried429.length).toBe(stats.rejected429);
  });

  it('configured above the store real limit: 429s pause both instances (Retry-After) and nothing is lost', async () => {
    fx = await yotpoFixture([contactSync('over', 'external_id', true, { flushWaitMs: 20 })], {
      simRate: 10,
      requestsPerSecond: 40,
    });
    await fx.startInstance('a');
    await fx.startInstance('b');
    const run = await fx.produce('over', 'FULL', contacts(1, 80, byExternalId));
    expect(await fx.runDone('over', run.runId, 90_000)).toMatchObject({ upserted: 80, rejected: 0 });
    expect(new Set(fx.customers().map((c) => c.external_id)).size).toBe(80);
    expect(fx.stats().rejected429).toBeGreaterThan(0);
    const retried = fx.events.filter((e) => e.event.type === 'request_retried' && e.event.status === 429);
    expect(retried.length).toBe(fx.stats().rejected429);
    expect(fx.events.some((e) => e.event.type === 'request_rejected')).toBe(false);
  });
});
