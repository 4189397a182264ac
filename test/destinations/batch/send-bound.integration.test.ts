import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BatchDestination,
  type BatchEvent,
  type CatalogTarget,
  type ItemChange,
} from '../../../src/destinations/batch/index.js';
import type { GatePass, SendGate } from '../../../src/destinations/port.js';
import { createLogger } from '../../../src/logger.js';
import { MAX_STALE_GRANTS, SEND_BOUND } from '../../../src/ratelimit/index.js';
import { createKeys } from '../../../src/redis/keys.js';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';
import { deleteKeys, testRedis, unique } from '../../helpers/services.js';

// Batch's real limits (the simulator's defaults) and the service's derived bucket (no limits given).
const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };
const redis = testRedis();
const prefixes: string[] = [];
let sim: Simulator;

beforeAll(async () => {
  sim = await startSimulator({ port: 0 });
});
beforeEach(() => sim.batch.reset());
afterAll(async () => {
  await sim.close();
  for (const prefix of prefixes) await deleteKeys(prefix);
  await redis.quit();
});

function setup() {
  const keys = createKeys(unique('test-bound'));
  prefixes.push(keys.prefix);
  const events: BatchEvent[] = [];
  const ages: { stale: boolean }[] = [];
  const destination = new BatchDestination({
    redis,
    keys,
    logger: createLogger({ level: 'silent' }),
    trackIndexing: false,
    onEvent: (e) => events.push(e),
    onGrantAge: (_ms, stale) => ages.push({ stale }),
  });
  const target: CatalogTarget = {
    project: { ...PROJECT, baseUrl: sim.batchUrl },
    catalog: `cat_${randomUUID().slice(0, 8)}`,
    fields: [{ name: 'title', type: 'string' }],
  };
  return { destination, events, ages, target };
}

const changes = (prefix: string, count: number): ItemChange[] =>
  Array.from({ length: count }, (_, i) => ({ id: `${prefix}${i}`, action: 'add', values: { title: 't' } }));

/** Blocks the event loop, as GC or a large batch does: nothing of this process runs meanwhile. */
function stall(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy
  }
}

/** A gate whose enter (between the grant and the write) runs `during` first. */
function gateWith(during: (call: number) => void): SendGate {
  let calls = 0;
  return {
    pass: async (): Promise<GatePass> => ({
      drop: new Set(),
      enter: async () => {
        during(++calls);
        return { drop: new Set(), release: async () => undefined };
      },
    }),
  };
}

describe('a request reaches Batch soon after its tokens are granted', () => {
  it('takes no tokens while the gate holds it: requests released together draw no 429', {
    timeout: 60_000,
  }, async () => {
    const { destination, target } = setup();
    await destination.ensureCatalog(target);
    let open!: () => void;
    const opened = new Promise<void>((resolve) => {
      open = resolve;
    });
    // A rebalance-like hold: every request waits here, then all go at once.
    const gate: SendGate = {
      pass: async () => {
        await opened;
        return { drop: new Set(), enter: async () => ({ drop: new Set(), release: async () => undefined }) };
      },
    };
    const lanes = Array.from({ length: 7 }, (_, lane) =>
      destination.send(target, changes(`l${lane}-`, 200), gate),
    );
    setTimeout(open, 1500);
    const outcomes = (await Promise.all(lanes)).flat();
    expect(outcomes.filter((o) => o.status !== 'accepted')).toEqual([]);
    expect(sim.batch.stats(PROJECT.projectKey).rejected429).toBe(0);
    expect(sim.batch.catalog(PROJECT.projectKey, target.catalog)?.items.size).toBe(1400);
  });

  it('never writes a request whose grant went stale in an event-loop stall: takes tokens again', async () => {
    const { destination, events, ages, target } = setup();
    await destination.ensureCatalog(target);
    const gate = gateWith((call) => {
      if (call === 1) stall(SEND_BOUND.grantMaxAgeMs + 100);
    });
    const outcomes = await destination.send(target, changes('s-', 50), gate);
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(ages.map((a) => a.stale)).toEqual([true, false]);
    const stats = sim.batch.stats(PROJECT.projectKey);
    expect(stats.editRequests).toBe(1);
    expect(stats.rejected429).toBe(0);
    const accepted = events.filter((e) => e.type === 'request_accepted');
    expect(accepted.map((e) => e.attempt)).toEqual([1]);
    expect(events.filter((e) => e.type === 'request_retried')).toEqual([]);
  });

  it(`sends anyway after ${MAX_STALE_GRANTS} stale grants in a row, so a request never stalls forever`, {
    timeout: 30_000,
  }, async () => {
    const { destination, ages, target } = setup();
    await destination.ensureCatalog(target);
    const gate = gateWith(() => stall(SEND_BOUND.grantMaxAgeMs + 50));
    const outcomes = await destination.send(target, changes('f-', 10), gate);
    expect(outcomes.every((o) => o.status === 'accepted')).toBe(true);
    expect(ages.map((a) => a.stale)).toEqual(Array(MAX_STALE_GRANTS + 1).fill(true));
    expect(sim.batch.stats(PROJECT.projectKey).editRequests).toBe(1);
  });
});
