import { describe, expect, it } from 'vitest';
import type { Delivery, EventSink } from '../../src/ingest/ack.js';
import type { ChangeEvent } from '../../src/ingest/change-event.js';
import { CdcConsumer } from '../../src/ingest/consumer.js';
import { PoisonMessageError } from '../../src/ingest/decoder.js';
import type { EachBatchPayload, Kafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/logger.js';
import type { StatusInput } from '../../src/status/types.js';

/** A kafkajs consumer stand-in: the test drives eachBatch and the group events by hand. */
class FakeKafkaConsumer {
  readonly events = {
    REBALANCING: 'rebalancing',
    GROUP_JOIN: 'join',
    CONNECT: 'connect',
    DISCONNECT: 'disconnect',
    CRASH: 'crash',
  };
  readonly handlers = new Map<string, (e: unknown) => void>();
  readonly commits: { partition: number; offset: string }[][] = [];
  eachBatch: ((p: EachBatchPayload) => Promise<void>) | undefined;
  on(name: string, fn: (e: unknown) => void) {
    this.handlers.set(name, fn);
  }
  emit(name: string, payload: unknown) {
    this.handlers.get(name)?.({ payload });
  }
  async connect() {}
  async subscribe() {}
  async disconnect() {}
  seek() {}
  async run(opts: { eachBatch: (p: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = opts.eachBatch;
  }
  async commitOffsets(offsets: { partition: number; offset: string }[]) {
    this.commits.push(offsets.map(({ partition, offset }) => ({ partition, offset })));
  }
}

class RecordingSink implements EventSink {
  readonly deliveries: Delivery[] = [];
  readonly abandoned: object[] = [];
  async accept(ds: Delivery[]) {
    this.deliveries.push(...ds);
  }
  abandon(assignment: object) {
    this.abandoned.push(assignment);
    return 0;
  }
  async drain() {}
}

function event(syncId: string, itemKey: string): ChangeEvent {
  return {
    syncId,
    runId: 'r',
    runSeq: 1,
    runKind: 'DELTA',
    type: 'ROW_UPSERTED',
    itemKey,
    values: {},
    rowCount: null,
    sourceTs: 0,
  };
}

function setup() {
  const kc = new FakeKafkaConsumer();
  const sink = new RecordingSink();
  const status: StatusInput[] = [];
  const dead: { code: string }[] = [];
  const consumer = new CdcConsumer({
    kafka: { consumer: () => kc } as unknown as Kafka,
    groupId: 'g',
    topic: 'cdc',
    sessionTimeoutMs: 10_000,
    // Values are the JSON of [syncId, itemKey], or 'poison'.
    decoder: {
      decode: async (v) => {
        if (String(v) === 'poison') throw new PoisonMessageError('CORRUPT_AVRO', 'bad body');
        const [sync, key] = JSON.parse(String(v)) as [string, string];
        return event(sync, key);
      },
    },
    syncs: new Map([['s', sink]]),
    deadLetters: { send: async (d) => void dead.push(d) },
    status: { emit: (e) => void status.push(e) },
    beforeCommit: async () => undefined,
    logger: createLogger({ level: 'silent' }),
    fence: {
      owner: (i) => `${i}#1`,
      enter: async () => async () => undefined,
      waitClear: async () => undefined,
      claim: async () => [],
    },
    instanceId: 'i',
    commitIntervalMs: 60_000,
  });
  const batch = (partition: number, values: string[], first = 0) =>
    kc.eachBatch!({
      batch: {
        topic: 'cdc',
        partition,
        highWatermark: String(first + values.length),
        messages: values.map((v, i) => ({ offset: String(first + i), value: Buffer.from(v), key: null })),
        firstOffset: () => String(first),
        lastOffset: () => String(first + values.length - 1),
      },
      resolveOffset: () => undefined,
      heartbeat: async () => undefined,
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);
  const commit = () => (consumer as unknown as { commit(): Promise<void> }).commit();
  return { kc, sink, status, dead, consumer, batch, commit };
}

const row = (sync: string, key: string) => JSON.stringify([sync, key]);

describe('CdcConsumer with a fake kafkajs consumer', () => {
  it('hands decoded events to their sync with acks, and commits only the settled prefix', async () => {
    const { kc, sink, consumer, batch, commit } = setup();
    await consumer.start();
    kc.emit('join', { memberAssignment: { cdc: [0] } });
    await batch(0, [row('s', 'a'), row('s', 'b'), row('s', 'c')]);
    expect(sink.deliveries.map((d) => d.event.itemKey)).toEqual(['a', 'b', 'c']);
    expect(sink.deliveries.map((d) => d.source.message.offset)).toEqual(['0', '1', '2']);
    sink.deliveries[0]!.ack.settle();
    sink.deliveries[2]!.ack.settle();
    await commit();
    expect(kc.commits).toEqual([[{ partition: 0, offset: '1' }]]);
    sink.deliveries[1]!.ack.settle();
    await commit();
    expect(kc.commits.at(-1)).toEqual([{ partition: 0, offset: '3' }]);
    await consumer.stop(1000);
  });

  it('dead-letters poison and unknown syncs, reports them, and moves past them', async () => {
    const { kc, sink, status, dead, consumer, batch, commit } = setup();
    await consumer.start();
    kc.emit('join', { memberAssignment: { cdc: [1] } });
    await batch(1, ['poison', row('other', 'x'), row('s', 'a')]);
    expect(dead.map((d) => d.code)).toEqual(['CORRUPT_AVRO', 'UNKNOWN_SYNC']);
    expect(status.map((e) => [e.type, e.errorCode])).toEqual([
      ['DEAD_LETTER', 'CORRUPT_AVRO'],
      ['DEAD_LETTER', 'UNKNOWN_SYNC'],
    ]);
    expect(sink.deliveries).toHaveLength(1);
    await commit();
    expect(kc.commits).toEqual([[{ partition: 1, offset: '2' }]]);
    sink.deliveries[0]!.ack.settle();
    await consumer.stop(1000);
    expect(kc.commits.at(-1)).toEqual([{ partition: 1, offset: '3' }]);
  });

  it('a group join retires the earlier assignment: its unsent work is abandoned and never committed', async () => {
    const { kc, sink, consumer, batch, commit } = setup();
    await consumer.start();
    kc.emit('join', { memberAssignment: { cdc: [0] } });
    await batch(0, [row('s', 'a')]);
    const before = sink.deliveries[0]!;
    kc.emit('join', { memberAssignment: { cdc: [0] } });
    expect(sink.abandoned).toHaveLength(1);
    before.ack.settle();
    await commit();
    expect(kc.commits).toEqual([]);
    // The replay from the last commit belongs to the new assignment.
    await batch(0, [row('s', 'a')]);
    sink.deliveries[1]!.ack.settle();
    await commit();
    expect(kc.commits).toEqual([[{ partition: 0, offset: '1' }]]);
    await consumer.stop(1000);
  });
});
