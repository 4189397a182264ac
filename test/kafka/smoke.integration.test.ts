import { readFileSync } from 'node:fs';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../src/redis/keys.js';
import { createTopic, endpoints, eventually, testKafka, testRedis, unique } from '../helpers/services.js';

const schema = readFileSync(new URL('../../schemas/change-event.avsc', import.meta.url), 'utf8');

describe('smoke: real Kafka, schema registry and Redis together', () => {
  const redis = testRedis();
  afterAll(() => redis.quit());

  it('carries 1,000 Avro events through a 3-partition topic and a consumer group into Redis', async () => {
    const topic = unique('smoke');
    const keys = createKeys(unique('smoke'));
    await createTopic(topic, 3);
    const registry = new SchemaRegistry({ host: endpoints().registryUrl });
    const { id } = await registry.register({ type: SchemaType.AVRO, schema }, { subject: `${topic}-value` });

    const kafka = testKafka();
    const producer = kafka.producer();
    await producer.connect();
    const messages = await Promise.all(
      Array.from({ length: 1000 }, async (_, i) => ({
        key: `item-${i}`,
        value: await registry.encode(id, {
          sync_id: 'smoke',
          run_id: 'r1',
          run_seq: 1,
          run_kind: 'FULL',
          event_type: 'ROW_UPSERTED',
          item_key: `item-${i}`,
          values: { price: { double: i + 0.5 }, name: { string: `Item ${i}` } },
          row_count: null,
          source_ts: Date.now(),
        }),
      })),
    );
    for (const m of messages) expect(m.value.readUInt8(0)).toBe(0);
    await producer.send({ topic, messages });
    await producer.disconnect();

    const consumer = kafka.consumer({ groupId: unique('smoke-group') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const partitions = new Set<number>();
    await consumer.run({
      eachBatch: async ({ batch, resolveOffset, heartbeat }) => {
        const pipeline = redis.pipeline();
        for (const message of batch.messages) {
          const event = await registry.decode(message.value!);
          pipeline.hset(keys.sync('smoke', 'items'), event.item_key, JSON.stringify(event.values));
          resolveOffset(message.offset);
        }
        await pipeline.exec();
        partitions.add(batch.partition);
        await heartbeat();
      },
    });
    await eventually('1,000 items in Redis', async () =>
      (await redis.hlen(keys.sync('smoke', 'items'))) === 1000 ? true : undefined,
    );
    await consumer.disconnect();

    expect(partitions.size).toBe(3);
    const stored = await redis.hgetall(keys.sync('smoke', 'items'));
    expect(Object.keys(stored)).toHaveLength(1000);
    expect(JSON.parse(stored['item-7']!)).toEqual({ price: { double: 7.5 }, name: { string: 'Item 7' } });
    await redis.del(keys.sync('smoke', 'items'));
  });
});
