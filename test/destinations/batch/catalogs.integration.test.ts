import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CatalogEnsurer } from '../../../src/destinations/batch/catalogs.js';
import {
  BatchCatalogError,
  BatchClient,
  BatchDestination,
  type BatchProject,
  type FieldSpec,
} from '../../../src/destinations/batch/index.js';
import { createLogger } from '../../../src/logger.js';
import { createRedis } from '../../../src/redis/connection.js';
import { createKeys } from '../../../src/redis/keys.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const redis = createRedis();
const logger = createLogger({ level: 'silent' });
const keys = createKeys(`test-${randomUUID()}`);
let sim: Simulator;
let project: BatchProject;
let client: BatchClient;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
  project = { projectKey: 'project_demo', restApiKey: 'rest_demo_key', baseUrl: sim.batchUrl };
  client = new BatchClient(project);
});
afterEach(() => {
  sim.batch.faults.clear();
  sim.batch.reset();
});
afterAll(async () => {
  await sim.close();
  await redis.quit();
});

const title: FieldSpec = { name: 'title', type: 'string' };
const price: FieldSpec = { name: 'price', type: 'float' };
const requests = () => sim.batch.stats().requests;

function ensurer() {
  return new CatalogEnsurer(redis, keys, logger);
}

async function failure(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
}

describe('CatalogEnsurer', () => {
  it('creates a missing catalog with the mapped fields', async () => {
    await ensurer().ensure(client, 'acct', 'products', [title, price]);
    expect((await client.viewCatalog('products')).fields).toEqual([title, price]);
  });

  it('adds the fields a catalog lacks and keeps the others', async () => {
    await client.createCatalog('products', [title, { name: 'legacy', type: 'bool' }]);
    await ensurer().ensure(client, 'acct', 'products', [title, price]);
    expect((await client.viewCatalog('products')).fields.map((f) => f.name).sort()).toEqual([
      'legacy',
      'price',
      'title',
    ]);
  });

  it('caches what it ensured: the second call makes no API call', async () => {
    const e = ensurer();
    await e.ensure(client, 'acct', 'products', [title]);
    const before = requests();
    await e.ensure(client, 'acct', 'products', [title]);
    expect(requests()).toBe(before);
    await e.ensure(client, 'acct', 'products', [title, price]);
    expect(requests()).toBeGreaterThan(before);
  });

  it('refuses a field whose type differs in Batch', async () => {
    await client.createCatalog('products', [{ name: 'price', type: 'string' }]);
    const err = await failure(ensurer().ensure(client, 'acct', 'products', [price]));
    expect(err).toBeInstanceOf(BatchCatalogError);
    expect(err).toMatchObject({
      code: 'BATCH_FIELD_CONFLICT',
      message: expect.stringMatching(/"price" is string/),
    });
  });

  it('refuses more than 25 fields before calling the API', async () => {
    const fields = Array.from({ length: 26 }, (_, i): FieldSpec => ({ name: `f${i}`, type: 'string' }));
    const before = requests();
    const err = await failure(ensurer().ensure(client, 'acct', 'products', fields));
    expect(err).toMatchObject({ code: 'BATCH_FIELD_LIMIT', message: expect.stringMatching(/26 fields.*25/) });
    expect(requests()).toBe(before);
  });

  it('refuses to add fields past 25 in an existing catalog', async () => {
    const existing = Array.from({ length: 24 }, (_, i): FieldSpec => ({ name: `f${i}`, type: 'string' }));
    await client.createCatalog('products', existing);
    const err = await failure(ensurer().ensure(client, 'acct', 'products', [title, price]));
    expect(err).toMatchObject({ code: 'BATCH_FIELD_LIMIT', message: expect.stringMatching(/title, price/) });
    expect((await client.viewCatalog('products')).fields).toHaveLength(24);
  });

  it('refuses to create a sixth catalog, naming the limit', async () => {
    for (let i = 0; i < 5; i++) await client.createCatalog(`c${i}`, []);
    const err = await failure(ensurer().ensure(client, 'acct', 'products', [title]));
    expect(err).toMatchObject({ code: 'BATCH_CATALOG_LIMIT', message: expect.stringMatching(/5 catalogs/) });
  });

  it('refuses an invalid field name', async () => {
    const err = await failure(
      ensurer().ensure(client, 'acct', 'products', [{ name: 'Title', type: 'string' }]),
    );
    expect(err).toMatchObject({ code: 'BATCH_FIELD_CONFLICT' });
  });

  it('ensures concurrently in one process with one creation', async () => {
    const e = ensurer();
    await Promise.all([
      e.ensure(client, 'acct', 'products', [title]),
      e.ensure(client, 'acct', 'products', [title]),
    ]);
    const other = ensurer();
    await Promise.all([
      other.ensure(client, 'acct', 'products', [title, price]),
      ensurer().ensure(client, 'acct', 'products', [title, price]),
    ]);
    expect((await client.viewCatalog('products')).fields).toEqual([title, price]);
  });
});

describe('BatchDestination.ensureCatalog', () => {
  it('retries a create whose reply was lost and finds the catalog made', async () => {
    const destination = new BatchDestination({
      redis,
      keys,
      logger,
      retry: { baseDelayMs: 1, maxDelayMs: 5 },
    });
    sim.batch.faults.set({ dropAfterApplyRate: 1 });
    await destination.ensureCatalog({ project, catalog: 'products', fields: [title] });
    sim.batch.faults.clear();
    expect(sim.batch.stats().droppedAfterApply).toBeGreaterThan(0);
    expect((await client.viewCatalog('products')).fields).toEqual([title]);
    await destination.close();
  });
});
