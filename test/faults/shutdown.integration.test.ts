/**
 * §5 of issue 14: SIGTERM to an instance (a child process) in the middle of a full-rate run. It must
 * let its requests on the wire finish (or abandon them unsent), commit what settled, and exit 0; the
 * next instance re-sends at most what was in flight. The simulator's request log counts the items sent
 * twice; only the bound is asserted (5 requests of 200 items on the wire per sync and instance).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/kafka/client.js';
import {
  ALL_FAULTS,
  type ChildInstance,
  catalogOf,
  childReady,
  editLog,
  expectedCatalog,
  startChild,
} from '../helpers/faults.js';
import { caughtUp, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

/** The batch buffer's maxInFlight (5 requests) times the 200-item request: what may be on the wire. */
const IN_FLIGHT_ITEMS = 5 * 200;

const cases = [
  { name: 'Batch answering at once', latencyMs: 0, items: 5000 },
  ...(ALL_FAULTS ? [{ name: 'Batch answering in 2 s', latencyMs: 2000, items: 8000 }] : []),
];

describe('SIGTERM during a full-rate run (integration)', { timeout: 600_000 }, () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let first: ChildInstance | undefined;
  afterEach(async () => {
    if (first && !first.exited) first.child.kill('SIGKILL');
    await fx?.close();
    fx = undefined;
    first = undefined;
  });

  for (const c of cases) {
    it(`${c.name}: exit 0, settled offsets committed, at most the in-flight items sent twice, exact catalog`, async () => {
      const began = Date.now();
      fx = await pipelineFixture([productSync('term', 'products', 'full_then_delta', 'mirror')], {
        cdcPartitions: 3,
      });
      if (c.latencyMs) fx.sim.batch.faults.set({ latencyMs: c.latencyMs });
      const log = editLog(fx);
      first = await startChild(fx, 'first');
      await childReady(first);

      const full = products(1, c.items);
      const run = await fx.produce('term', 'FULL', full);
      await eventually(
        'the run to be under way',
        () => (fx!.items('products').size >= c.items / 4 ? true : undefined),
        120_000,
      );
      const sentBefore = log.entries.reduce((n, e) => n + e.items.length, 0);
      const signalledAt = Date.now();
      first.child.kill('SIGTERM');
      const { code, signal } = await first.exit;
      const stopMs = Date.now() - signalledAt;
      expect({ code, signal }, first.stderr()).toEqual({ code: 0, signal: null });
      const sentAtExit = log.entries.reduce((n, e) => n + e.items.length, 0);

      // What it settled is committed: the group's offsets moved past the start.
      const admin = createKafka(fx.connection).admin();
      await admin.connect();
      const [offsets] = await admin.fetchOffsets({
        groupId: fx.config.kafka.groupId,
        topics: [fx.config.kafka.cdcTopic],
      });
      await admin.disconnect();
      const committed = offsets!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
      expect(committed).toBeGreaterThan(0);

      await fx.startInstance('second');
      expect((await fx.runDone('term', run.runId, 240_000)).state).toBe('done');
      await caughtUp(fx, 120_000);
      expect(catalogOf(fx, 'products')).toEqual(expectedCatalog(full));
      const twice = log.sentTwice();
      log.stop();
      process.stderr.write(
        `[faults] SIGTERM (${c.name}): ${sentBefore} items sent when signalled, ${sentAtExit} at exit ` +
          `(${stopMs} ms to stop), ${committed} offsets committed; items sent twice: ${twice} ` +
          `(bound ${IN_FLIGHT_ITEMS}); scenario ${Date.now() - began} ms\n`,
      );
      expect(twice).toBeLessThanOrEqual(IN_FLIGHT_ITEMS);
    });
  }
});
