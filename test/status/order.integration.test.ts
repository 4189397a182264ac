/**
 * Status topic order across instances (#15 item 6): two instances share a sync's partitions, so the
 * events of one run are written by both; a reader of the topic must still see each run's RUN_STARTED
 * before every other event of the run and its RUN_COMPLETED after all of them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Partitioners, type Producer } from '../../src/kafka/client.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import type { CatalogSyncService } from '../../src/runtime/service.js';
import type { StatusEventDecoded } from '../../src/status/types.js';
import { collectStatus, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

describe('status topic order across instances (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it("each run's RUN_STARTED comes first and RUN_COMPLETED last, whichever instance wrote its events", async () => {
    fx = await pipelineFixture([productSync('ord', 'products', 'full_then_delta', 'upsert')], {
      cdcPartitions: 4,
    });
    const instances: CatalogSyncService[] = [await fx.startInstance(), await fx.startInstance()];
    await eventually(
      'both instances to hold partitions',
      () => (instances.every((s) => s.assignedPartitions.length > 0) ? true : undefined),
      60_000,
    );
    const status = await collectStatus(fx);
    try {
      const first = await fx.produce('ord', 'FULL', products(1, 400));
      await fx.runDone('ord', first.runId);
      // The run markers' partition lags: RUN_STARTED reaches the topic after the rows (held back by
      // the producer until RUN_ENDED), so rows are consumed, on both instances, before the marker. The
      // rows are those of the other partitions: in its own partition the marker always comes first.
      const f = fx;
      const partitionOf = Partitioners.DefaultPartitioner();
      const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({
        partitionId,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      const partition = (key: string) =>
        partitionOf({ topic: f.config.kafka.cdcTopic, partitionMetadata, message: { key, value: null } });
      const elsewhere = (rows: Row[]) => rows.filter((r) => partition(String(r.sku)) !== partition('ord'));
      const lagging = (kind: 'FULL' | 'DELTA', rows: Row[]) => {
        let held: Parameters<Producer['send']>[0]['messages'] | undefined;
        const producer = {
          send: async (r: Parameters<Producer['send']>[0]) => {
            const marker = r.messages[0]?.key === 'ord';
            if (marker && !held) {
              held = r.messages;
              return [];
            }
            if (marker) await f.producer.send({ ...r, messages: held! });
            return f.producer.send(r);
          },
        } as unknown as Producer;
        return produceRun({
          producer,
          registry: f.registry,
          topic: f.config.kafka.cdcTopic,
          syncId: 'ord',
          kind,
          idColumn: 'sku',
          rows,
        });
      };
      // Identical full runs: every row is skipped as UNCHANGED, by whichever instance holds its partition;
      // a delta run with rows that cannot be mapped (VALUE_TYPE, rejected by the planner) and new rows.
      const runs = [first.runId];
      for (let i = 0; i < 3; i++) {
        const r = await lagging('FULL', elsewhere(products(1, 400)));
        runs.push(r.runId);
      }
      const bad = elsewhere(products(501, 540, { price: 'not a number' }));
      const delta = await lagging('DELTA', [...elsewhere(products(401, 500)), ...bad]);
      runs.push(delta.runId);
      for (const runId of runs) await fx.runDone('ord', runId, 120_000);
      const completed = (e: StatusEventDecoded) => e.type === 'RUN_COMPLETED';
      await eventually(
        'every RUN_COMPLETED on the topic',
        () => (status.events.filter(completed).length >= runs.length ? true : undefined),
        60_000,
      );

      // One sync's events share a partition: topic order is offset order.
      const events = status.events
        .filter((e) => e.syncId === 'ord')
        .sort((a, b) => Number(BigInt(a.offset) - BigInt(b.offset)));
      expect(new Set(events.map((e) => e.partition)).size).toBe(1);
      let crossInstanceRuns = 0;
      for (const runId of runs) {
        const ofRun = events.filter((e) => e.runId === runId);
        const types = ofRun.map((e) => e.type);
        expect(types[0], `${runId}: ${types.join(',')}`).toBe('RUN_STARTED');
        expect(types.at(-1), `${runId}: ${types.join(',')}`).toBe('RUN_COMPLETED');
        expect(types.filter((t) => t === 'RUN_STARTED')).toHaveLength(1);
        expect(types.filter((t) => t === 'RUN_COMPLETED')).toHaveLength(1);
        if (new Set(ofRun.map((e) => e.instance)).size > 1) crossInstanceRuns++;
      }
      // The skipped and rejected rows were reported by both instances, beside the run markers' one.
      expect(crossInstanceRuns).toBeGreaterThanOrEqual(3);
      const rejected = events.filter((e) => e.runId === delta.runId && e.type === 'ITEM_REJECTED');
      expect(bad.length).toBeGreaterThan(10);
      expect(rejected.map((e) => e.itemIds[0]).sort()).toEqual(bad.map((p) => p.sku).sort());
      const skipped = events.filter((e) => e.runId === runs[1] && e.type === 'ITEMS_SKIPPED');
      expect(new Set(skipped.flatMap((e) => e.itemIds)).size).toBe(elsewhere(products(1, 400)).length);
    } finally {
      await status.stop();
    }
  }, 300_000);
});
