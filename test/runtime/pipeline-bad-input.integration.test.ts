import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANGE_EVENT_SCHEMA, type ChangeEvent, toAvro } from '../../src/ingest/change-event.js';
import { encodeWire } from '../../src/kafka/wire-format.js';
import {
  collectDeadLetters,
  collectStatus,
  pipelineFixture,
  productSync,
  products,
} from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

describe('CDC pipeline: bad input is dead-lettered, reported, and consumption goes on (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('each kind of poison message goes to the dead-letter topic with a status event', async () => {
    fx = await pipelineFixture([productSync('bad', 'products', 'full_then_delta', 'upsert')]);
    await fx.startInstance();
    const dlq = await collectDeadLetters(fx);
    const status = await collectStatus(fx);
    try {
      const { id } = await fx.registry.register(
        { type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA },
        { subject: `${fx.config.kafka.cdcTopic}-value` },
      );
      const event = (over: Partial<ChangeEvent>): ChangeEvent => ({
        syncId: 'bad',
        runId: 'r0',
        runSeq: 1,
        runKind: 'DELTA',
        type: 'ROW_UPSERTED',
        itemKey: 'sku-x',
        values: { name: 'x' },
        rowCount: null,
        sourceTs: Date.now(),
        ...over,
      });
      const good = await fx.registry.encode(id, toAvro(event({})));
      const poison = [
        { key: 'wrong-magic', value: Buffer.concat([Buffer.from([1]), good.subarray(1)]) },
        { key: 'unknown-id', value: encodeWire(987_654, good.subarray(5)) },
        { key: 'corrupt', value: Buffer.concat([good.subarray(0, 5), Buffer.from([0xff, 0xff, 0xff])]) },
        { key: 'unknown-sync', value: await fx.registry.encode(id, toAvro(event({ syncId: 'nobody' }))) },
        { key: 'no-id', value: await fx.registry.encode(id, toAvro(event({ itemKey: null }))) },
      ];
      await fx.producer.send({ topic: fx.config.kafka.cdcTopic, messages: poison });
      const after = await fx.produce('bad', 'FULL', products(1, 20));
      await fx.runDone('bad', after.runId);
      expect(fx.items('products').size).toBe(20);

      const records = await eventually('five dead letters', () =>
        dlq.records.length >= 5 ? dlq.records : undefined,
      );
      const codes = records.map((r) => r.headers['x-dlq-code']).sort();
      expect(codes).toEqual([
        'CORRUPT_AVRO',
        'INVALID_EVENT',
        'UNKNOWN_SCHEMA_ID',
        'UNKNOWN_SYNC',
        'WRONG_MAGIC_BYTE',
      ]);
      const wrongMagic = records.find((r) => r.headers['x-dlq-code'] === 'WRONG_MAGIC_BYTE')!;
      expect(wrongMagic.value!.equals(poison[0]!.value)).toBe(true);
      expect(wrongMagic.headers['x-dlq-reason']).toMatch(/magic/i);
      await eventually('five DEAD_LETTER status events', () =>
        status.events.filter((e) => e.type === 'DEAD_LETTER').length >= 5 ? true : undefined,
      );
    } finally {
      await dlq.stop();
      await status.stop();
    }
  });

  it("a row breaking Batch's rules is rejected alone, with its reason, and the rest of its batch is sent", async () => {
    fx = await pipelineFixture([productSync('rules', 'products', 'full_then_delta', 'upsert')]);
    await fx.startInstance();
    const dlq = await collectDeadLetters(fx);
    const status = await collectStatus(fx);
    try {
      const rows = products(1, 50);
      rows[9] = { ...rows[9], name: 'x'.repeat(10_001) };
      rows[19] = { ...rows[19], price: 'not a number' };
      const run = await fx.produce('rules', 'FULL', rows);
      const info = await fx.runDone('rules', run.runId);
      expect(info.rejected).toBe(2);
      expect(info.upserted).toBe(48);
      expect(fx.items('products').size).toBe(48);
      expect(fx.items('products').has('sku-10')).toBe(false);

      const rejected = await eventually('two ITEM_REJECTED events', () => {
        const r = status.events.filter((e) => e.type === 'ITEM_REJECTED');
        return r.length >= 2 ? r : undefined;
      });
      const byItem = new Map(rejected.map((e) => [e.itemIds[0], e]));
      expect(byItem.get('sku-10')!.message).toMatch(/name/);
      expect(byItem.get('sku-20')!.message).toMatch(/price/);
      const letters = await eventually('two dead letters', () =>
        dlq.records.length >= 2 ? dlq.records : undefined,
      );
      expect(letters.map((r) => r.headers['x-dlq-item']).sort()).toEqual(['sku-10', 'sku-20']);
    } finally {
      await dlq.stop();
      await status.stop();
    }
  });

  it('reads events written with a compatible newer schema (a new optional field)', async () => {
    fx = await pipelineFixture([productSync('evo', 'products', 'full_then_delta', 'upsert')]);
    await fx.startInstance();
    await fx.runDone('evo', (await fx.produce('evo', 'FULL', products(1, 5))).runId);
    const v2 = JSON.parse(CHANGE_EVENT_SCHEMA);
    v2.fields.push({ name: 'warehouse', type: ['null', 'string'], default: null });
    const { id } = await fx.registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v2) },
      { subject: `${fx.config.kafka.cdcTopic}-value` },
    );
    const base = {
      sync_id: 'evo',
      run_id: 'v2-run',
      run_seq: Date.now() + 1000,
      run_kind: 'DELTA',
      source_ts: Date.now(),
      warehouse: 'eu-1',
    };
    await fx.producer.send({
      topic: fx.config.kafka.cdcTopic,
      messages: [
        {
          key: 'evo',
          value: await fx.registry.encode(id, {
            ...base,
            event_type: 'RUN_STARTED',
            item_key: null,
            values: null,
            row_count: null,
          }),
        },
        {
          key: 'sku-99',
          value: await fx.registry.encode(id, {
            ...base,
            event_type: 'ROW_UPSERTED',
            item_key: 'sku-99',
            values: { name: { string: 'Evolved' } },
            row_count: null,
          }),
        },
        {
          key: 'evo',
          value: await fx.registry.encode(id, {
            ...base,
            event_type: 'RUN_ENDED',
            item_key: null,
            values: null,
            row_count: 1,
          }),
        },
      ],
    });
    await fx.runDone('evo', 'v2-run');
    expect(fx.items('products').get('sku-99')!.name).toBe('Evolved');
  });
});
