import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BatchClient } from '../../../src/destinations/batch/client.js';
import {
  BatchAlreadyExistsError,
  BatchAuthError,
  BatchNetworkError,
  BatchNotFoundError,
  BatchRateLimitedError,
  BatchServerError,
  BatchValidationError,
} from '../../../src/destinations/batch/errors.js';
import type { BatchProject } from '../../../src/destinations/batch/types.js';
import { parseRetryAfter } from '../../../src/destinations/retry.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

let sim: Simulator;
let project: BatchProject;
let client: BatchClient;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, batch: { maxCatalogs: 300, indexingDelayMs: 0 } });
  project = { projectKey: 'project_demo', restApiKey: 'rest_demo_key', baseUrl: sim.batchUrl };
  client = new BatchClient(project, { timeoutMs: 2000 });
});
afterAll(() => sim.close());
afterEach(() => {
  sim.batch.faults.clear();
  sim.batch.reset();
});

async function failure(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected the call to fail');
  return err;
}

describe('BatchClient against the simulator', () => {
  it('creates, views, updates and edits a catalog, and reads an indexing state', async () => {
    await client.createCatalog('products', [{ name: 'title', type: 'string' }]);
    await client.updateCatalog('products', [{ name: 'launch', type: 'date', action: 'add' }]);
    const token = await client.editItems('products', [
      { id: 'a', action: 'add', attributes: { title: 'A', 'date(launch)': 1451642400 } },
    ]);
    expect(token).not.toBe('');
    const view = await client.viewCatalog('products');
    expect(view.fields).toEqual([
      { name: 'title', type: 'string' },
      { name: 'launch', type: 'date' },
    ]);
    expect(view.items).toBe(1);
    expect((await client.viewCatalog('products', token)).indexingState).toBe('APPLIED');
  });

  it('lists every catalog across pages', async () => {
    const names = Array.from({ length: 130 }, (_, i) => `c${String(i).padStart(3, '0')}`);
    for (const name of names) await client.createCatalog(name, []);
    expect((await client.listCatalogs()).sort()).toEqual(names);
  });

  it('maps each status to a typed error with a stable code and retriable flag', async () => {
    await client.createCatalog('products', [{ name: 'title', type: 'string' }]);

    const auth = await failure(new BatchClient({ ...project, restApiKey: 'wrong' }).viewCatalog('products'));
    expect(auth).toBeInstanceOf(BatchAuthError);
    expect(auth).toMatchObject({ code: 'BATCH_AUTH', retriable: false, status: 401 });

    const missing = await failure(client.viewCatalog('nope'));
    expect(missing).toBeInstanceOf(BatchNotFoundError);
    expect(missing).toMatchObject({ code: 'BATCH_NOT_FOUND', retriable: false, status: 404, apiCode: 40 });

    const exists = await failure(client.createCatalog('products', []));
    expect(exists).toBeInstanceOf(BatchAlreadyExistsError);
    expect(exists).toMatchObject({ code: 'BATCH_ALREADY_EXISTS', retriable: false });

    const invalid = await failure(
      client.editItems('products', [{ id: 'x', action: 'add', attributes: { title: '' } }]),
    );
    expect(invalid).toBeInstanceOf(BatchValidationError);
    expect(invalid).toMatchObject({ code: 'BATCH_INVALID', retriable: false, status: 400 });
    expect(invalid.message).toMatch(/POST \/catalogs\/items\/edit: HTTP 400 .*id "x"/);

    sim.batch.faults.set({ force429UntilMs: Date.now() + 2500 });
    const limited = await failure(client.editItems('products', [{ id: 'x', action: 'remove' }]));
    expect(limited).toBeInstanceOf(BatchRateLimitedError);
    expect(limited).toMatchObject({ code: 'BATCH_RATE_LIMITED', retriable: true, status: 429 });
    expect((limited as BatchRateLimitedError).retryAfterMs).toBeGreaterThanOrEqual(1000);
    sim.batch.faults.clear();

    sim.batch.faults.set({ serverErrorRate: 1 });
    const server = await failure(client.viewCatalog('products'));
    expect(server).toBeInstanceOf(BatchServerError);
    expect(server).toMatchObject({ code: 'BATCH_SERVER', retriable: true });
    sim.batch.faults.clear();

    for (const err of [auth, missing, exists, invalid, limited, server]) {
      expect(err.message).not.toContain('rest_demo_key');
    }
  });

  it('turns a reply lost after apply into a retriable network error', async () => {
    await client.createCatalog('products', [{ name: 'title', type: 'string' }]);
    sim.batch.faults.set({ dropAfterApplyRate: 1 });
    const lost = await failure(
      client.editItems('products', [{ id: 'a', action: 'add', attributes: { title: 'A' } }]),
    );
    expect(lost).toBeInstanceOf(BatchNetworkError);
    expect(lost).toMatchObject({ code: 'BATCH_NETWORK', retriable: true });
    expect(sim.batch.catalog('project_demo', 'products')?.items.has('a')).toBe(true);
  });

  it('gives up on a slow answer with a retriable timeout', async () => {
    sim.batch.faults.set({ latencyMs: 1500 });
    const slow = new BatchClient(project, { timeoutMs: 100 });
    const err = await failure(slow.listCatalogs());
    expect(err).toBeInstanceOf(BatchNetworkError);
    expect(err).toMatchObject({ code: 'BATCH_TIMEOUT', retriable: true });
  });

  it('reports a refused connection as a retriable network error', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const down = new BatchClient({ ...project, baseUrl: `http://127.0.0.1:${port}/2.11` });
    const err = await failure(down.listCatalogs());
    expect(err).toBeInstanceOf(BatchNetworkError);
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['2', 2000],
    ['0.5', 500],
    ['Wed, 21 Oct 2015 07:28:05 GMT', 5000],
    ['soon', undefined],
    [null, undefined],
  ])('%s', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(ms);
  });
});
