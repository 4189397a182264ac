import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  accountOf,
  BatchClient,
  BatchDestination,
  type BatchDestinationOptions,
  type BatchEvent,
  type BatchProject,
  type CatalogTarget,
  type FieldSpec,
  type ItemChange,
} from '../../../src/destinations/batch/index.js';
import { createLogger } from '../../../src/logger.js';
import { createRedis } from '../../../src/redis/connection.js';
import { createKeys } from '../../../src/redis/keys.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const SECRET = `rest_${randomUUID()}`;
const redis = createRedis();
let sim: Simulator;
let project: BatchProject;
const logLines: string[] = [];
const destinations: BatchDestination[] = [];

// Ten times Batch's rates, so bisection tests run quickly; the real rates are exercised by
// multiprocess.integration.test.ts and the benchmark.
const FAST = { requestsPerSecond: 50, itemsPerSecond: 10_000 };
const FAST_LIMITS = { ...FAST, requestBurst: 10, itemBurst: 2000 };

const fields: FieldSpec[] = [
  { name: 'title', type: 'string' },
  { name: 'price', type: 'float' },
  { name: 'launch', type: 'date' },
  { name: 'page', type: 'url' },
  { name: 'tags', type: 'array' },
];

beforeAll(async () => {
  sim = await startSimulator({
    port: 0,
    batch: { projects: [{ projectKey: 'project_demo', restApiKey: SECRET }], indexingDelayMs: 50, ...FAST },
  });
  project = { projectKey: 'project_demo', restApiKey: SECRET, baseUrl: sim.batchUrl };
});
afterEach(async () => {
  await Promise.all(destinations.splice(0).map((d) => d.close()));
  sim.batch.faults.clear();
  sim.batch.reset();
});
afterAll(async () => {
  await sim.close();
  await redis.quit();
});

function setup(overrides: Partial<BatchDestinationOptions> = {}) {
  const events: BatchEvent[] = [];
  const destination = new BatchDestination({
    redis,
    keys: createKeys(`test-${randomUUID()}`),
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => logLines.push(line) } }),
    limits: FAST_LIMITS,
    retry: { baseDelayMs: 5, maxDelayMs: 50 },
    indexing: { minDelayMs: 20, maxDelayMs: 100 },
    onEvent: (e) => events.push(e),
    ...overrides,
  });
  destinations.push(destination);
  const target: CatalogTarget = { project, catalog: `cat_${randomUUID().slice(0, 8)}`, fields };
  return { destination, events, target };
}

const product = (i: number): ItemChange => ({
  id: `sku-${i}`,
  action: 'add',
  values: {
    title: `Product ${i}`,
    price: i + 0.5,
    launch: new Date(Date.UTC(2024, 0, 1 + (i % 28))),
    tags: ['a'],
  },
});

function stored(target: CatalogTarget) {
  return sim.batch.catalog(project.projectKey, target.catalog)?.items ?? new Map();
}

describe('BatchDestination.send', () => {
  it('creates the catalog, sends, and reports one outcome per change in order', async () => {
    const { destination, events, target } = setup();
    const changes = Array.from({ length: 450 }, (_, i) => product(i));
    const outcomes = await destination.send(target, changes);
    expect(outcomes.map((o) => o.id)).toEqual(changes.map((c) => c.id));
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(stored(target).size).toBe(450);
    expect(stored(target).get('sku-3')).toEqual({
      title: 'Product 3',
      price: 3.5,
      launch: '2024-01-04T00:00:00Z',
      tags: ['a'],
    });
    const accepted = events.filter((e) => e.type === 'request_accepted');
    expect(accepted.map((e) => e.itemIds.length)).toEqual([200, 200, 50]);
  });

  it('passes the gate, then takes tokens, then enters it; leaves out what either step drops', async () => {
    const keys = createKeys(`test-${randomUUID()}`);
    const { destination, events, target } = setup({ keys });
    const bucket = keys.bucket(accountOf(project));
    const steps: string[] = [];
    const released: number[] = [];
    // The first take creates the project's bucket hash: before it, there is none.
    const taken = async () => (await redis.exists(bucket)) === 1;
    const gate = {
      pass: async (ids: readonly string[]) => {
        steps.push(`pass ${ids.join(',')} taken=${await taken()}`);
        return {
          drop: new Set(ids.filter((id) => id === 'sku-1')),
          enter: async () => {
            steps.push(`enter taken=${await taken()}`);
            return {
              drop: new Set(ids.filter((id) => id === 'sku-1' || id >= 'sku-3')),
              release: async () => {
                released.push(steps.length);
              },
            };
          },
        };
      },
    };
    const outcomes = await destination.send(target, [0, 1, 2, 3].map(product), gate);
    expect(outcomes.map((o) => `${o.id}:${o.status}`)).toEqual([
      'sku-0:accepted',
      'sku-1:abandoned',
      'sku-2:accepted',
      'sku-3:abandoned',
    ]);
    expect(steps).toEqual(['pass sku-0,sku-1,sku-2,sku-3 taken=false', 'enter taken=true']);
    expect([...stored(target).keys()].sort()).toEqual(['sku-0', 'sku-2']);
    expect(released).toEqual([2]);
    expect(events.filter((e) => e.type === 'request_accepted').map((e) => e.itemIds)).toEqual([
      ['sku-0', 'sku-2'],
    ]);

    const none = await destination.send(target, [product(1)], gate);
    expect(none).toEqual([{ id: 'sku-1', status: 'abandoned' }]);
    expect(steps).toHaveLength(3);
    expect(released).toEqual([2]);
  });

  it('removes items and adds missing fields to an existing catalog', async () => {
    const { destination, target } = setup();
    await destination.send(
      { ...target, fields: fields.slice(0, 1) },
      [product(1), product(2)].map((c) => ({ ...c, values: { title: 'x' } })),
    );
    const outcomes = await destination.send(target, [{ id: 'sku-1', action: 'remove' }, product(2)]);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted']);
    expect([...stored(target).keys()]).toEqual(['sku-2']);
    expect(
      sim.batch
        .catalog(project.projectKey, target.catalog)
        ?.fields.map((f) => f.name)
        .sort(),
    ).toEqual(fields.map((f) => f.name).sort());
  });

  it('rejects locally invalid items with their reason and sends the others', async () => {
    const { destination, events, target } = setup();
    const changes = [
      product(1),
      { id: 'sku-bad', action: 'add' as const, values: { title: '' } },
      product(3),
    ];
    const outcomes = await destination.send(target, changes);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'rejected', 'accepted']);
    expect(outcomes[1]).toMatchObject({
      code: 'ITEM_STRING_EMPTY',
      reason: expect.stringContaining('sku-bad'),
    });
    expect(events).toContainEqual(expect.objectContaining({ type: 'item_rejected', id: 'sku-bad' }));
    expect(stored(target).has('sku-bad')).toBe(false);
    expect(stored(target).size).toBe(2);
  });

  it('bisects a request Batch refuses and leaves out exactly the bad items', async () => {
    const withColour: FieldSpec[] = [...fields, { name: 'colour', type: 'string' }];
    const { destination, events, target } = setup();
    const full = { ...target, fields: withColour };
    await destination.ensureCatalog(full);
    // Another tool removes the field behind our back: items carrying it now pass local checks only.
    await new BatchClient(project).updateCatalog(target.catalog, [
      { name: 'colour', type: 'string', action: 'remove' },
    ]);
    const bad = new Set([3, 4, 77, 150, 199]);
    const changes = Array.from({ length: 200 }, (_, i) =>
      bad.has(i) ? { ...product(i), values: { ...product(i).values, colour: 'red' } } : product(i),
    );
    const outcomes = await destination.send(full, changes);
    const rejected = outcomes.filter((o) => o.status === 'rejected').map((o) => o.id);
    expect(rejected.sort()).toEqual([...bad].map((i) => `sku-${i}`).sort());
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      expect(o).toMatchObject({ code: 'BATCH_INVALID', reason: expect.stringMatching(/colour/) });
    }
    expect(outcomes.filter((o) => o.status === 'accepted')).toHaveLength(195);
    expect(stored(target).size).toBe(195);
    for (const i of bad) expect(stored(target).has(`sku-${i}`)).toBe(false);
    const itemRejected = events
      .filter((e) => e.type === 'item_rejected')
      .map((e) => (e as { id: string }).id);
    expect(itemRejected.sort()).toEqual(rejected.sort());
  });

  it('isolates the adds past the catalog item limit by bisection, the others go through', async () => {
    const small = await startSimulator({
      port: 0,
      batch: { projects: [{ projectKey: 'project_demo', restApiKey: SECRET }], maxItems: 150, ...FAST },
    });
    try {
      const { destination, target } = setup();
      const onSmall = { ...target, project: { ...project, baseUrl: small.batchUrl } };
      const outcomes = await destination.send(
        onSmall,
        Array.from({ length: 200 }, (_, i) => product(i)),
      );
      expect(outcomes.filter((o) => o.status === 'accepted')).toHaveLength(150);
      expect(outcomes.filter((o) => o.status === 'rejected')).toHaveLength(50);
      expect(small.batch.catalog('project_demo', target.catalog)?.items.size).toBe(150);
    } finally {
      await small.close();
    }
  });

  it('sends two changes of one id in successive requests, in order', async () => {
    const { destination, events, target } = setup();
    const outcomes = await destination.send(target, [
      product(1),
      { id: 'sku-1', action: 'add', values: { title: 'renamed' } },
      product(2),
      { id: 'sku-2', action: 'remove' },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    expect(stored(target).get('sku-1')?.title).toBe('renamed');
    expect(stored(target).has('sku-2')).toBe(false);
    expect(events.filter((e) => e.type === 'request_accepted')).toHaveLength(2);
  });

  it('survives a 5xx storm with nothing lost', async () => {
    const { destination, events, target } = setup({
      retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 20 },
    });
    await destination.ensureCatalog(target);
    sim.batch.faults.set({ serverErrorRate: 0.3 });
    // 25 requests: the odds that none meets a 5xx are 0.7^25, about 1 in 7,500.
    const changes = Array.from({ length: 5000 }, (_, i) => product(i));
    const outcomes = await destination.send(target, changes);
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(stored(target).size).toBe(5000);
    expect(sim.batch.stats().errors5xx).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'request_retried' && e.code === 'BATCH_SERVER')).toBe(true);
  });

  it('retries harmlessly when the reply is lost after the change was applied', async () => {
    const { destination, events, target } = setup({
      retry: { baseDelayMs: 5, maxDelayMs: 50, maxAttempts: 20 },
    });
    await destination.ensureCatalog(target);
    sim.batch.faults.set({ dropAfterApplyRate: 0.5 });
    const changes = Array.from({ length: 4000 }, (_, i) => product(i));
    const outcomes = await destination.send(target, changes);
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(stored(target).size).toBe(4000);
    expect(stored(target).get('sku-5')?.title).toBe('Product 5');
    expect(sim.batch.stats().droppedAfterApply).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'request_retried' && e.code === 'BATCH_NETWORK')).toBe(true);
  });

  it('marks items failed, never dropped, when retries run out', async () => {
    const { destination, events, target } = setup({
      retry: { baseDelayMs: 1, maxDelayMs: 2, maxAttempts: 3 },
    });
    await destination.ensureCatalog(target);
    sim.batch.faults.set({ serverErrorRate: 1 });
    const outcomes = await destination.send(target, [product(1), product(2)]);
    expect(outcomes).toEqual([
      expect.objectContaining({ id: 'sku-1', status: 'failed', code: 'BATCH_SERVER' }),
      expect.objectContaining({ id: 'sku-2', status: 'failed', code: 'BATCH_SERVER' }),
    ]);
    expect(events.filter((e) => e.type === 'request_retried')).toHaveLength(2);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'request_rejected', code: 'BATCH_SERVER' }),
    );
  });

  it('waits out a 429 through the shared pause and loses nothing', async () => {
    const { destination, events, target } = setup();
    await destination.ensureCatalog(target);
    sim.batch.faults.set({ force429UntilMs: Date.now() + 1500 });
    const outcomes = await destination.send(
      target,
      Array.from({ length: 300 }, (_, i) => product(i)),
    );
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(stored(target).size).toBe(300);
    const retried = events.filter((e) => e.type === 'request_retried');
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0]).toMatchObject({ status: 429, code: 'BATCH_RATE_LIMITED' });
    expect((retried[0] as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(1000);
  });

  it('fails every item with BATCH_AUTH on a wrong key', async () => {
    const { destination, target } = setup();
    const wrong = { ...target, project: { ...project, restApiKey: 'wrong_key' } };
    const outcomes = await destination.send(wrong, [product(1)]);
    expect(outcomes).toEqual([expect.objectContaining({ status: 'failed', code: 'BATCH_AUTH' })]);
  });

  it('re-creates a catalog deleted behind its back', async () => {
    const { destination, target } = setup();
    await destination.send(target, [product(1)]);
    sim.batch.reset();
    const outcomes = await destination.send(target, [product(2)]);
    expect(outcomes[0]?.status).toBe('accepted');
    expect(stored(target).has('sku-2')).toBe(true);
  });

  it('emits indexing_applied for every accepted request', async () => {
    const { destination, events, target } = setup();
    await destination.send(
      target,
      Array.from({ length: 500 }, (_, i) => product(i)),
    );
    const tokens = events.flatMap((e) => (e.type === 'request_accepted' ? [e.indexingToken] : []));
    expect(tokens).toHaveLength(3);
    await expect
      .poll(
        () =>
          events
            .filter((e) => e.type === 'indexing_applied')
            .map((e) => (e as { indexingToken: string }).indexingToken),
        {
          timeout: 20_000,
        },
      )
      .toEqual(tokens);
    const applied = events.filter((e) => e.type === 'indexing_applied');
    expect(applied.flatMap((e) => (e as { itemIds: string[] }).itemIds)).toHaveLength(500);
  });

  it('never writes the REST API key to a log line or an event', async () => {
    const { destination, events, target } = setup();
    sim.batch.faults.set({ serverErrorRate: 0.5 });
    await destination.send(target, [product(1), { id: 'x', action: 'add', values: { title: '' } }]);
    sim.batch.faults.clear();
    await destination.send({ ...target, project: { ...project, restApiKey: `${SECRET}_wrong` } }, [
      product(3),
    ]);
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(SECRET);
    expect(JSON.stringify(events)).not.toContain(SECRET);
  });
});
