import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka, type Producer } from '../../src/kafka/client.js';
import { MAX_IDS_PER_EVENT, StatusPublisher } from '../../src/status/publisher.js';
import { readStatus, type StatusEventDecoded } from '../../src/status/reader.js';
import type { StatusType } from '../../src/status/types.js';
import { createTopic, endpoints, eventually, testKafka, unique } from '../helpers/services.js';
import { consumeAll } from '../helpers/topics.js';

const counts = { upserted: 180, removed: 3, rejected: 1, skipped: 16, held: 0 };
const ids = (n: number, prefix = 'SKU') => Array.from({ length: n }, (_, i) => `${prefix}-${i}`);

describe('StatusPublisher and readStatus on a real broker and registry', () => {
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  let producer: Producer;

  beforeAll(async () => {
    producer = testKafka().producer();
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  it('publishes events keyed by sync, in order, with every field read back', async () => {
    const topic = unique('status');
    await createTopic(topic, 3);
    const publisher = await StatusPublisher.create({ producer, registry, topic, instanceId: 'instance-a' });
    const before = Date.now();
    publisher.emit({ syncId: 'products', runId: 'r1', type: 'RUN_STARTED' });
    publisher.emit({
      syncId: 'products',
      runId: 'r1',
      type: 'REQUEST_ACCEPTED',
      destination: 'batch:products',
      itemIds: ids(200),
      indexingToken: 'tok-1',
    });
    publisher.emit({
      syncId: 'products',
      runId: 'r1',
      type: 'REQUEST_RETRIED',
      destination: 'batch:products',
      attempt: 2,
      errorCode: 'HTTP_429',
    });
    publisher.emit({
      syncId: 'contacts',
      type: 'ITEM_REJECTED',
      destination: 'yotpo:contacts',
      itemIds: ['c-9'],
      errorCode: 'INVALID_EMAIL',
      message: 'email "x@" is not an address',
    });
    publisher.emit({ syncId: 'products', runId: 'r1', type: 'RUN_COMPLETED', counts });
    await publisher.flush();

    const records = await consumeAll(topic);
    expect(records).toHaveLength(5);
    for (const r of records) {
      const decoded = await registry.decode(r.message.value!);
      expect(r.message.key?.toString()).toBe(decoded.sync_id);
    }

    const seen: StatusEventDecoded[] = [];
    const reader = await readStatus({
      kafka: testKafka(),
      registry,
      topic,
      fromBeginning: true,
      onEvent: (e) => seen.push(e),
    });
    try {
      await eventually('5 status events', () => (seen.length === 5 ? true : undefined));
    } finally {
      await reader.stop();
    }
    const products = seen.filter((e) => e.syncId === 'products');
    expect(products.map((e) => e.type)).toEqual<StatusType[]>([
      'RUN_STARTED',
      'REQUEST_ACCEPTED',
      'REQUEST_RETRIED',
      'RUN_COMPLETED',
    ]);
    expect(products[1]).toMatchObject({
      runId: 'r1',
      destination: 'batch:products',
      itemIds: ids(200),
      indexingToken: 'tok-1',
      attempt: null,
      counts: null,
      instance: 'instance-a',
    });
    expect(products[1]!.at).toBeGreaterThanOrEqual(before);
    expect(products[2]).toMatchObject({ attempt: 2, errorCode: 'HTTP_429' });
    expect(products[3]).toMatchObject({ counts, itemIds: [] });
    expect(seen.find((e) => e.syncId === 'contacts')).toMatchObject({
      type: 'ITEM_REJECTED',
      runId: null,
      itemIds: ['c-9'],
      errorCode: 'INVALID_EMAIL',
      message: 'email "x@" is not an address',
    });
    await publisher.close();
  });

  it('splits long id lists, drops what does not encode without throwing, and filters on read', async () => {
    const topic = unique('status');
    await createTopic(topic, 1);
    const publisher = await StatusPublisher.create({
      producer,
      registry,
      topic,
      instanceId: 'i',
      flushIntervalMs: 20,
    });
    // Ids of about 30 characters: each part is over the 16 KB the publisher first encodes into.
    const held = ids(2 * MAX_IDS_PER_EVENT + 5, `SKU-${'x'.repeat(20)}`);
    publisher.emit({ syncId: 's1', type: 'DELETIONS_HELD', itemIds: held, counts });
    expect(() => publisher.emit({ syncId: 's1', type: 'BOGUS' as StatusType })).not.toThrow();
    expect(() => publisher.emit({ syncId: 's1', type: 'REQUEST_RETRIED', attempt: 1.5 })).not.toThrow();
    publisher.emit({ syncId: 's2', type: 'RUN_STARTED', runId: 'r9' });
    await publisher.close();

    const seen: StatusEventDecoded[] = [];
    const reader = await readStatus({
      kafka: testKafka(),
      registry,
      topic,
      fromBeginning: true,
      filter: (e) => e.syncId === 's1',
      onEvent: (e) => seen.push(e),
    });
    try {
      await eventually('3 held events of s1', () => (seen.length === 3 ? true : undefined));
    } finally {
      await reader.stop();
    }
    expect(seen.map((e) => e.itemIds.length)).toEqual([MAX_IDS_PER_EVENT, MAX_IDS_PER_EVENT, 5]);
    expect(seen.flatMap((e) => e.itemIds)).toEqual(held);
    expect(seen.every((e) => e.type === 'DELETIONS_HELD')).toBe(true);
    // Everything on the topic: the 3 parts and s2's event, nothing of the two bad emits.
    expect(await consumeAll(topic)).toHaveLength(4);
  });

  it('keeps events buffered when a send fails and surfaces the error on flush', async () => {
    // The topic does not exist yet and the producer may not create it nor retry: every send fails until
    // the topic appears. (Reconnecting a disconnected kafkajs producer can duplicate its first batch.)
    const topic = unique('status');
    const own = createKafka({
      brokers: endpoints().kafkaBrokers,
      clientId: unique('test'),
      retries: 0,
    }).producer({
      allowAutoTopicCreation: false,
    });
    await own.connect();
    const publisher = await StatusPublisher.create({
      producer: own,
      registry,
      topic,
      instanceId: 'i',
      flushIntervalMs: 60_000,
    });
    publisher.emit({ syncId: 's1', type: 'RUN_STARTED', runId: 'r1' });
    await expect(publisher.flush()).rejects.toMatchObject({ code: 'STATUS_PUBLISH_FAILED', retriable: true });
    await expect(publisher.flush()).rejects.toMatchObject({ code: 'STATUS_PUBLISH_FAILED' });

    await createTopic(topic, 1);
    publisher.emit({ syncId: 's1', type: 'RUN_COMPLETED', runId: 'r1', counts });
    await publisher.close();
    await own.disconnect();
    const records = await consumeAll(topic);
    const types = await Promise.all(records.map(async (r) => (await registry.decode(r.message.value!)).type));
    expect(types).toEqual(['RUN_STARTED', 'RUN_COMPLETED']);
  });
});
