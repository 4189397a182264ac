import type { KafkaMessage } from '../../src/kafka/client.js';
import { eventually, testKafka, unique } from './services.js';

export interface Consumed {
  partition: number;
  message: KafkaMessage;
}

/**
 * Every record of a topic as it stands now, in offset order per partition: reads until each partition
 * reaches the high watermark taken first, so a test sees exactly what was produced.
 */
export async function consumeAll(topic: string): Promise<Consumed[]> {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const offsets = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const ends = new Map(offsets.map((p) => [p.partition, BigInt(p.high)]));
  const total = offsets.reduce((n, p) => n + BigInt(p.high) - BigInt(p.low), 0n);
  const out: Consumed[] = [];
  const consumer = kafka.consumer({ groupId: unique('consume-all'), maxWaitTimeInMs: 100 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (BigInt(message.offset) < (ends.get(partition) ?? 0n)) out.push({ partition, message });
      },
    });
    await eventually(`${total} records of ${topic}`, () => (BigInt(out.length) >= total ? true : undefined));
  } finally {
    await consumer.disconnect();
  }
  return out.sort(
    (a, b) => a.partition - b.partition || Number(BigInt(a.message.offset) - BigInt(b.message.offset)),
  );
}

/** Every record of a topic as text (key, value, headers), for checks that a string appears nowhere. */
export async function recordsAsText(topic: string): Promise<string[]> {
  return (await consumeAll(topic)).map(({ message }) =>
    [
      message.key?.toString('latin1'),
      message.value?.toString('latin1'),
      ...Object.entries(message.headers ?? {}).map(([k, v]) => `${k}=${String(v)}`),
    ].join('\n'),
  );
}
