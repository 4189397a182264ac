import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { testRedis } from '../helpers/services.js';
import { recordsAsText } from '../helpers/topics.js';
import { byEmail, contactSync, contacts, yotpoFixture } from './yotpo-fixture.js';

describe('Yotpo store id and token stay out of logs, topics and Redis keys (integration)', () => {
  let fx: Awaited<ReturnType<typeof yotpoFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('a sync at trace level with look-ups, retries, 429s and rejections leaks neither', async () => {
    const store = { storeId: `st-${randomUUID()}`, token: `tk-${randomUUID()}` };
    const lines: string[] = [];
    fx = await yotpoFixture([contactSync('secret', 'email', false)], {
      store,
      simRate: 5,
      requestsPerSecond: 20,
      logLevel: 'trace',
      logStream: { write: (line) => lines.push(line) },
    });
    for (let i = 1; i <= 12; i++) fx.sim.yotpo.seed(store.storeId, { email: byEmail(i) });
    fx.sim.yotpo.failNext(2, 503);
    await fx.startInstance();
    const rows = [
      ...contacts(1, 15, byEmail),
      { id: 'not-an-email', first: 'x', last: 'y', tier: 'z', points: 1 },
    ];
    const info = await fx.runDone('secret', (await fx.produce('secret', 'FULL', rows)).runId);
    expect(info).toMatchObject({ upserted: 12, skipped: 3, rejected: 1 });
    expect(fx.stats().rejected429).toBeGreaterThan(0);

    const status = await recordsAsText(fx.config.kafka.statusTopic);
    const letters = await recordsAsText(fx.config.kafka.deadLetterTopic);
    const redis = testRedis();
    const keys = await redis.keys(`${fx.name}:*`);
    await redis.quit();
    expect(lines.some((l) => l.includes('Yotpo answered 429'))).toBe(true);
    expect(status.length).toBeGreaterThan(0);
    expect(fx.events.some((e) => e.event.type === 'request_retried')).toBe(true);
    expect(letters).toHaveLength(1);
    expect(keys.some((k) => k.includes(':yotpo:'))).toBe(true);
    for (const text of [...lines, ...status, ...letters, ...keys]) {
      expect(text).not.toContain(store.storeId);
      expect(text).not.toContain(store.token);
      expect(text).not.toContain('user1@example.com'.replace('@', '%40'));
    }
    expect(keys.join('\n')).not.toContain('@example.com');
  });
});
