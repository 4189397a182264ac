import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterWriter } from '../../src/ingest/dead-letter.js';
import type { Producer } from '../../src/kafka/client.js';
import { createTopic, testKafka, unique } from '../helpers/services.js';
import { consumeAll } from '../helpers/topics.js';

const header = (value: unknown) => (value === undefined ? undefined : String(value));

describe('DeadLetterWriter on a real broker', () => {
  const source = unique('dlq-source');
  const dlq = unique('dlq');
  let producer: Producer;

  beforeAll(async () => {
    await Promise.all([createTopic(source, 2), createTopic(dlq, 1)]);
    producer = testKafka().producer();
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  it('keeps the original key, bytes and headers, and adds the reason headers', async () => {
    const garbage = Buffer.from([0xff, 0x00, 0x13, 0x37, 0x80, 0x00]);
    await producer.send({
      topic: source,
      messages: [
        { key: 'SKU-1', value: garbage, headers: { 'trace-id': 'abc-123', 'x-dlq-code': 'STALE' } },
        { key: null, value: Buffer.from('not avro either') },
      ],
    });
    const originals = await consumeAll(source);
    expect(originals).toHaveLength(2);
    const [withKey, withoutKey] = [
      originals.find((o) => o.message.key !== null)!,
      originals.find((o) => o.message.key === null)!,
    ];

    const writer = new DeadLetterWriter(producer, dlq, 'instance-a');
    await writer.send({
      message: withKey.message,
      topic: source,
      partition: withKey.partition,
      code: 'WRONG_MAGIC_BYTE',
      reason: 'first byte is 0xff',
      syncId: 'products',
      itemId: 'SKU-1',
    });
    await writer.send({
      message: withoutKey.message,
      topic: source,
      partition: withoutKey.partition,
      code: 'CORRUPT_AVRO',
      reason: 'x'.repeat(5000),
    });

    const letters = await consumeAll(dlq);
    expect(letters).toHaveLength(2);
    const [first, second] = letters.map((l) => l.message);

    expect(first!.key?.toString()).toBe('SKU-1');
    expect(Buffer.compare(first!.value!, garbage)).toBe(0);
    const h = first!.headers!;
    expect(header(h['trace-id'])).toBe('abc-123');
    expect(header(h['x-dlq-code'])).toBe('WRONG_MAGIC_BYTE');
    expect(header(h['x-dlq-reason'])).toBe('first byte is 0xff');
    expect(header(h['x-dlq-source-topic'])).toBe(source);
    expect(header(h['x-dlq-source-partition'])).toBe(String(withKey.partition));
    expect(header(h['x-dlq-source-offset'])).toBe(withKey.message.offset);
    expect(header(h['x-dlq-source-timestamp'])).toBe(withKey.message.timestamp);
    expect(header(h['x-dlq-instance'])).toBe('instance-a');
    expect(Number.isNaN(Date.parse(header(h['x-dlq-at'])!))).toBe(false);
    expect(header(h['x-dlq-sync'])).toBe('products');
    expect(header(h['x-dlq-item'])).toBe('SKU-1');

    expect(second!.key).toBeNull();
    expect(second!.value!.toString()).toBe('not avro either');
    expect(header(second!.headers!['x-dlq-code'])).toBe('CORRUPT_AVRO');
    expect(header(second!.headers!['x-dlq-reason'])!.length).toBeLessThan(2100);
    expect(second!.headers!['x-dlq-sync']).toBeUndefined();
    expect(second!.headers!['x-dlq-item']).toBeUndefined();
  });
});
