import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DestinationChange } from '../../../src/destinations/port.js';
import {
  YotpoDestination,
  type YotpoDestinationOptions,
  type YotpoEvent,
} from '../../../src/destinations/yotpo/index.js';
import { createLogger } from '../../../src/logger.js';
import { SEND_BOUND } from '../../../src/ratelimit/index.js';
import { createKeys } from '../../../src/redis/keys.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';
import { testRedis, unique } from '../../helpers/services.js';

const STORE = 'store_demo';

describe('Yotpo destination against the simulator (integration)', () => {
  let sim: Simulator;
  let redis: ReturnType<typeof testRedis>;
  let keys: ReturnType<typeof createKeys>;
  let events: YotpoEvent[];

  beforeEach(async () => {
    sim = await startSimulator({ yotpo: { requestsPerSecond: 200 } });
    redis = testRedis();
    keys = createKeys(unique('test-yotpo'));
    events = [];
  });
  afterEach(async () => {
    await sim.close();
    await redis.quit();
  });

  const destination = (over: Partial<YotpoDestinationOptions> = {}) =>
    new YotpoDestination({
      redis,
      keys,
      logger: createLogger({ level: 'silent' }),
      store: { baseUrl: sim.yotpoUrl, storeId: STORE, token: 'yotpo_demo_token' },
      matchKey: 'email',
      insertMode: false,
      attributes: ['first_name', 'tier'],
      custom: ['tier'],
      limits: { requestsPerSecond: 200 },
      retry: { baseDelayMs: 5, maxDelayMs: 20, maxAttempts: 3 },
      onEvent: (e) => events.push(e),
      ...over,
    });
  const add = (id: string, values: Record<string, unknown>, d: YotpoDestination): DestinationChange => ({
    id,
    action: 'add',
    values,
    fp: d.fingerprint(values),
  });

  it('insert mode off: updates existing contacts, skips unknown ones as NOT_FOUND, caches the answers', async () => {
    sim.yotpo.seed(STORE, { email: 'ada@example.com', first_name: 'Old' });
    const d = destination();
    const changes = [
      add('Ada@Example.com', { first_name: 'Ada', tier: 'gold' }, d),
      add('bob@example.com', { first_name: 'Bob' }, d),
    ];
    const out = await d.send(changes);
    expect(out.map((o) => o.status)).toEqual(['accepted', 'skipped']);
    expect(out[1]).toMatchObject({ code: 'NOT_FOUND' });
    expect(sim.yotpo.customers(STORE)).toEqual([
      { email: 'ada@example.com', first_name: 'Ada', custom_properties: { tier: 'gold' } },
    ]);
    expect(sim.yotpo.stats(STORE)).toMatchObject({ lookups: 1, upserts: 1 });

    await d.send(changes);
    expect(sim.yotpo.stats(STORE)).toMatchObject({ lookups: 1, upserts: 2 });
  });

  it('a contact created in insert mode is cached as existing for insert-off syncs of the store', async () => {
    const creator = destination({ insertMode: true });
    expect((await creator.send([add('new@example.com', { first_name: 'New' }, creator)]))[0]!.status).toBe(
      'accepted',
    );
    const updater = destination();
    expect((await updater.send([add('new@example.com', { first_name: 'Newer' }, updater)]))[0]!.status).toBe(
      'accepted',
    );
    expect(sim.yotpo.stats(STORE)).toMatchObject({ lookups: 0, upserts: 2, created: 1 });
  });

  it('asks the gate before each upsert; a contact it drops is abandoned, never sent', async () => {
    const d = destination({ insertMode: true });
    let released = 0;
    const gate = {
      pass: async (ids: readonly string[]) => ({
        drop: new Set(ids.filter((id) => id.startsWith('gone'))),
        enter: async () => ({
          drop: new Set<string>(),
          release: async () => {
            released++;
          },
        }),
      }),
    };
    const out = await d.send(
      [add('kept@example.com', { first_name: 'K' }, d), add('gone@example.com', { first_name: 'G' }, d)],
      gate,
    );
    expect(out.map((o) => o.status)).toEqual(['accepted', 'abandoned']);
    expect(sim.yotpo.customers(STORE).map((c) => c.email)).toEqual(['kept@example.com']);
    // Only the contact that was sent entered the gate; the dropped one never took tokens either.
    expect(released).toBe(1);
  });

  it('takes tokens again when they went stale before the upsert was written, and sends it once', async () => {
    const ages: boolean[] = [];
    const d = destination({ insertMode: true, onGrantAge: (_ms, stale) => ages.push(stale) });
    let calls = 0;
    const gate = {
      pass: async () => ({
        drop: new Set<string>(),
        enter: async () => {
          // An event-loop stall between the grant and the write, longer than the bound.
          const end = performance.now() + (++calls === 1 ? SEND_BOUND.grantMaxAgeMs + 100 : 0);
          while (performance.now() < end) {
            // busy
          }
          return { drop: new Set<string>(), release: async () => undefined };
        },
      }),
    };
    const out = await d.send([add('late@example.com', { first_name: 'L' }, d)], gate);
    expect(out.map((o) => o.status)).toEqual(['accepted']);
    expect(ages).toEqual([true, false]);
    expect(sim.yotpo.stats(STORE)).toMatchObject({ upserts: 1 });
    expect(events.filter((e) => e.type === 'request_accepted').map((e) => e.attempt)).toEqual([1]);
  });

  it('sends only the attributes whose fingerprint changed', async () => {
    const d = destination({ insertMode: true });
    const before = { first_name: 'Ada', tier: 'gold' };
    const after = { first_name: 'Ada', tier: 'platinum' };
    await d.send([{ ...add('ada@example.com', after, d), previousFp: d.fingerprint(before) }]);
    expect(sim.yotpo.received(STORE)).toEqual([
      { customer: { email: 'ada@example.com', custom_properties: { tier: 'platinum' } } },
    ]);
  });

  it('retries 5xx with backoff, then gives up with `failed`; rejects invalid records alone', async () => {
    const d = destination({ insertMode: true });
    sim.yotpo.failNext(2, 503);
    const ok = await d.send([add('a@example.com', { first_name: 'A' }, d), add('not-an-email', {}, d)]);
    expect(ok.map((o) => o.status)).toEqual(['accepted', 'rejected']);
    expect(ok[1]).toMatchObject({ code: 'YOTPO_INVALID_IDENTITY' });
    expect(events.filter((e) => e.type === 'request_retried')).toHaveLength(2);
    expect(events.some((e) => e.type === 'item_rejected' && e.id === 'not-an-email')).toBe(true);

    sim.yotpo.failNext(10, 500);
    const failed = await d.send([add('b@example.com', { first_name: 'B' }, d)]);
    expect(failed[0]).toMatchObject({ status: 'failed', code: 'YOTPO_SERVER' });
    expect(failed[0]!.status === 'failed' && failed[0]!.reason).toMatch(/gave up after 3 attempts/);
  });

  it('a wrong token fails the changes (never rejected: the record is not at fault)', async () => {
    const d = destination({
      insertMode: true,
      store: { baseUrl: sim.yotpoUrl, storeId: STORE, token: 'wrong' },
    });
    const out = await d.send([add('a@example.com', { first_name: 'A' }, d)]);
    expect(out[0]).toMatchObject({ status: 'failed', code: 'YOTPO_AUTH' });
    expect(JSON.stringify(events)).not.toContain('wrong');
  });

  it('looks up 50 identities per request; a look-up that keeps failing fails its changes, never skips them', async () => {
    for (let i = 0; i < 120; i += 3) sim.yotpo.seed(STORE, { email: `u${i}@example.com` });
    const d = destination();
    const changes = Array.from({ length: 120 }, (_, i) =>
      add(`u${i}@example.com`, { first_name: `U${i}` }, d),
    );
    const out = await d.send(changes);
    expect(sim.yotpo.stats(STORE).lookups).toBe(3);
    expect(out.filter((o) => o.status === 'accepted')).toHaveLength(40);
    expect(out.filter((o) => o.status === 'skipped')).toHaveLength(80);

    sim.yotpo.failNext(10, 502);
    const failed = await d.send([add('fresh@example.com', { first_name: 'F' }, d)]);
    expect(failed[0]).toMatchObject({ status: 'failed', code: 'YOTPO_LOOKUP_FAILED' });
    expect(events.some((e) => e.type === 'request_rejected' && e.itemIds[0] === 'fresh@example.com')).toBe(
      true,
    );
  });
});
