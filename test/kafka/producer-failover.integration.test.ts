/**
 * A kafkajs producer keeps every write it acknowledged while partition leaders move (a rolling restart
 * of a private 3-broker cluster). kafkajs 2.2.4 did not: a send() spanning several brokers, one of which
 * answered NOT_LEADER, retried only the brokers that had not answered, so a partition whose leadership
 * had moved to a broker that had answered was never written and send() resolved (patches/kafkajs*.patch).
 * Every write of the service (status, dead letters, the membership changelog) and of `produce` goes
 * through that code.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/kafka/client.js';
import { ensureTopics } from '../../src/kafka/topics.js';
import { type KafkaCluster, startKafkaCluster } from '../helpers/kafka-cluster.js';
import { eventually, unique } from '../helpers/services.js';

const PARTITIONS = 6;

describe('producer writes while leaders move (integration, own 3-broker cluster)', {
  timeout: 600_000,
}, () => {
  let cluster: KafkaCluster | undefined;
  beforeAll(async () => {
    cluster = await startKafkaCluster(3);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);

  it('a rolling restart of every broker under multi-partition sends: every acknowledged message is on the topic', async () => {
    const c = cluster!;
    const topic = unique('failover');
    const kafka = createKafka({ brokers: c.brokers });
    const admin = kafka.admin();
    await admin.connect();
    // Right after the cluster starts, brokers answer "does not host this topic-partition" for a while.
    await ensureTopics(admin, [{ topic, numPartitions: PARTITIONS, replicationFactor: 3 }]);
    await c.inSync([topic], 120_000);
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const acknowledged: number[] = [];
    let failedSends = 0;
    let rolled = false;
    // Sends of 60 keyed messages, one after another: each spans every partition, so every broker.
    const writer = (async () => {
      for (let seq = 0, n = 0; !rolled && n < 20_000; n++) {
        const batch = Array.from({ length: 60 }, () => seq++);
        try {
          await producer.send({
            topic,
            acks: -1,
            messages: batch.map((s) => ({ key: `k${s}`, value: String(s) })),
          });
          acknowledged.push(...batch);
        } catch {
          failedSends++;
        }
      }
    })();
    try {
      for (const node of c.nodes) {
        await node.stop();
        await node.start();
        await c.inSync([topic], 300_000);
      }
    } finally {
      rolled = true;
      await writer;
      await producer.disconnect();
    }
    expect(acknowledged.length).toBeGreaterThan(0);

    const seen = new Set<number>();
    const ends = new Map(
      (await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)] as const),
    );
    await admin.disconnect();
    const consumer = kafka.consumer({ groupId: unique('failover-read') });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    const read = new Map<number, number>();
    await consumer.run({
      eachMessage: async ({ partition, message }) => {
        seen.add(Number(message.value?.toString()));
        read.set(partition, Number(message.offset) + 1);
      },
    });
    try {
      await eventually(
        'every partition read to its end',
        () => ([...ends].every(([p, end]) => end === 0 || (read.get(p) ?? 0) >= end) ? true : undefined),
        120_000,
      );
    } finally {
      await consumer.disconnect();
    }
    const missing = acknowledged.filter((s) => !seen.has(s));
    process.stderr.write(
      `[faults] producer failover: ${acknowledged.length} messages acknowledged in ${acknowledged.length / 60} sends, ` +
        `${failedSends} sends failed, ${missing.length} acknowledged messages missing\n`,
    );
    expect(missing).toEqual([]);
  });
});
