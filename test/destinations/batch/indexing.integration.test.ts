import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchClient } from '../../../src/destinations/batch/client.js';
import { IndexingTracker } from '../../../src/destinations/batch/indexing.js';
import { createLogger } from '../../../src/logger.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const logger = createLogger({ level: 'silent' });
let sim: Simulator;
let client: BatchClient;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, batch: { indexingDelayMs: 300 } });
  client = new BatchClient({
    projectKey: 'project_demo',
    restApiKey: 'rest_demo_key',
    baseUrl: sim.batchUrl,
  });
  await client.createCatalog('products', [{ name: 'title', type: 'string' }]);
});
afterAll(() => sim.close());

async function edit(id: string): Promise<string> {
  return client.editItems('products', [{ id, action: 'add', attributes: { title: id } }]);
}

describe('IndexingTracker', () => {
  it('reports each token once APPLIED, oldest first', async () => {
    const applied: [string, string[]][] = [];
    const tracker = new IndexingTracker((_c, token, ids) => applied.push([token, ids]), logger, {
      minDelayMs: 20,
      maxDelayMs: 100,
    });
    const tokens = [await edit('a'), await edit('b'), await edit('c')];
    for (const [i, t] of tokens.entries()) tracker.track('k', client, 'products', t, [`id${i}`]);
    expect(tracker.pending).toBe(3);
    await expect.poll(() => applied.length, { timeout: 10_000 }).toBe(3);
    expect(applied).toEqual(tokens.map((t, i) => [t, [`id${i}`]]));
    expect(tracker.pending).toBe(0);
    await tracker.close();
  });

  it('drops a token Batch does not know, and goes on with the next', async () => {
    const applied: string[] = [];
    const tracker = new IndexingTracker((_c, token) => applied.push(token), logger, { minDelayMs: 10 });
    const good = await edit('d');
    tracker.track('k', client, 'products', 'not-a-token', ['x']);
    tracker.track('k', client, 'products', good, ['d']);
    await expect.poll(() => applied, { timeout: 10_000 }).toEqual([good]);
    await tracker.close();
  });

  it('keeps polling through server errors', async () => {
    const applied: string[] = [];
    const tracker = new IndexingTracker((_c, token) => applied.push(token), logger, {
      minDelayMs: 10,
      maxDelayMs: 50,
    });
    const token = await edit('e');
    sim.batch.faults.set({ serverErrorRate: 0.7 });
    try {
      tracker.track('k', client, 'products', token, ['e']);
      await expect.poll(() => applied, { timeout: 20_000 }).toEqual([token]);
    } finally {
      sim.batch.faults.clear();
      await tracker.close();
    }
  });

  it('stops on close, leaving pending tokens unreported', async () => {
    const applied: string[] = [];
    const tracker = new IndexingTracker((_c, token) => applied.push(token), logger, { minDelayMs: 60_000 });
    tracker.track('k', client, 'products', await edit('f'), ['f']);
    await tracker.close();
    tracker.track('k', client, 'products', await edit('g'), ['g']);
    expect(applied).toEqual([]);
    expect(tracker.pending).toBe(0);
  });
});
