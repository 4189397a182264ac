/**
 * Kafka side of the pipeline benchmark: a topic filled with one FULL run through produceRun, and the
 * bare kafkajs eachBatch consumer the service is compared with.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Decoder } from '../../src/ingest/decoder.js';
import { createKafka } from '../../src/kafka/client.js';
import { ensureTopics } from '../../src/kafka/topics.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';

export interface Endpoints {
  brokers: string;
  registryUrl: string;
  redisUrl: string;
}

/**
 * Rows like the tests' products: four attributes, one custom array. With `changedEvery` k, every k-th
 * row has another price than the plain export's (a re-export where 1/k of the rows changed).
 */
export function* products(count: number, changedEvery = 0): Iterable<Row> {
  for (let i = 1; i <= count; i++) {
    const changed = changedEvery > 0 && i % changedEvery === 0;
    const price = i + (changed ? 0.49 : 0.99);
    yield { sku: `sku-${i}`, name: `Product ${i}`, price, in_stock: i % 3 !== 0, tags: ['bench'] };
  }
}

export function productSync(id: string, catalog: string) {
  return {
    id,
    destination: { type: 'batch', project: 'demo', catalog },
    mode: 'full_then_delta',
    operation: 'mirror',
    idColumn: 'sku',
    fields: [
      { source: 'name', attribute: 'name', type: 'string' },
      { source: 'price', attribute: 'price', type: 'float' },
      { source: 'in_stock', attribute: 'in_stock', type: 'bool' },
    ],
    customAttributes: ['tags'],
  };
}

export async function createTopic(ep: Endpoints, topic: string, partitions: number): Promise<void> {
  const admin = createKafka({ brokers: ep.brokers }).admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic, numPartitions: partitions, replicationFactor: -1 }]);
  } finally {
    await admin.disconnect();
  }
}

/** Publishes one FULL run of `items` rows; resolves to the run and its message count (with both markers). */
export async function produceFull(
  ep: Endpoints,
  topic: string,
  syncId: string,
  items: number,
  changedEvery = 0,
): Promise<{ runId: string; messages: number; ms: number }> {
  const producer = createKafka({ brokers: ep.brokers }).producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const started = performance.now();
  try {
    const run = await produceRun({
      producer,
      registry: new SchemaRegistry({ host: ep.registryUrl }),
      topic,
      syncId,
      kind: 'FULL',
      idColumn: 'sku',
      rows: products(items, changedEvery),
    });
    return { runId: run.runId, messages: run.rows + 2, ms: performance.now() - started };
  } finally {
    await producer.disconnect();
  }
}

export interface BareResult {
  messages: number;
  /** From the group join to the last message handled. */
  ms: number;
  eventsPerSecond: number;
  /** CPU time of this (driver) process over the same span, per event. */
  cpuUsPerEvent: number;
}

/**
 * Reads the whole topic with its own group: eachBatch, the service's partition concurrency, offsets
 * resolved per batch; `decode` runs each value through the service's Decoder (schema registry).
 */
export async function bareConsume(
  ep: Endpoints,
  topic: string,
  groupId: string,
  expected: number,
  decode: boolean,
): Promise<BareResult> {
  const consumer = createKafka({ brokers: ep.brokers }).consumer({ groupId, allowAutoTopicCreation: false });
  const decoder = new Decoder(new SchemaRegistry({ host: ep.registryUrl }));
  let joinedAt = 0;
  let cpuAtJoin = process.cpuUsage();
  let count = 0;
  let done!: (at: number) => void;
  let cpu: NodeJS.CpuUsage | undefined;
  const finished = new Promise<number>((resolve) => {
    done = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joinedAt = performance.now();
    cpuAtJoin = process.cpuUsage();
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      partitionsConsumedConcurrently: 12,
      eachBatch: async ({ batch }) => {
        if (decode) for (const m of batch.messages) await decoder.decode(m.value);
        count += batch.messages.length;
        if (count >= expected && !cpu) {
          cpu = process.cpuUsage(cpuAtJoin);
          done(performance.now());
        }
      },
    });
    const endedAt = await finished;
    const ms = endedAt - joinedAt;
    return {
      messages: count,
      ms,
      eventsPerSecond: (1000 * count) / ms,
      cpuUsPerEvent: (cpu!.user + cpu!.system) / count,
    };
  } finally {
    await consumer.disconnect();
  }
}
