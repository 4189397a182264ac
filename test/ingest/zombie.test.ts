import { describe, expect, it } from 'vitest';
import { type Delivery, type EventSink, sendGate } from '../../src/ingest/ack.js';
import type { ChangeEvent } from '../../src/ingest/change-event.js';
import { CdcConsumer } from '../../src/ingest/consumer.js';
import { type FenceEntry, GenerationFencedError } from '../../src/ingest/fence.js';
import { PartitionGate } from '../../src/ingest/gate.js';
import { PartitionOffsets } from '../../src/ingest/offsets.js';
import type { EachBatchPayload, Kafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/logger.js';

/** A fence that refuses requests for the partitions in `newer` (a newer generation claimed them). */
class FakeFence {
  readonly newer = new Set<number>();
  readonly entered: FenceEntry[][] = [];
  readonly claims: { generation: number; partitions: number[] }[] = [];
  claimGate: Promise<void> = Promise.resolve();
  owner = (i: string) => `${i}#${this.entered.length}`;
  async enter(entries: FenceEntry[]) {
    const refused = entries.filter((e) => this.newer.has(e.partition)).map((e) => e.partition);
    if (refused.length > 0) throw new GenerationFencedError(refused);
    this.entered.push(entries);
    return async () => undefined;
  }
  async waitClear() {}
  async claim(generation: number, partitions: readonly number[]) {
    await this.claimGate;
    this.claims.push({ generation, partitions: [...partitions] });
    return [];
  }
}

describe('PartitionGate against a zombie fence (fake)', () => {
  it('leaves out the items of a partition a newer generation owns and sends the rest', async () => {
    const fence = new FakeFence();
    const fenced: number[] = [];
    const gate = new PartitionGate(fence, (t, err) => {
      expect(err.code).toBe('GENERATION_FENCED');
      fenced.push(t.partition);
    });
    const [p0, p1] = [new PartitionOffsets('cdc', 0, 'a', 5), new PartitionOffsets('cdc', 1, 'a', 5)];
    fence.newer.add(0);
    const pass = await gate.pass([
      { id: 'x', trackers: [p0] },
      { id: 'y', trackers: [p1] },
    ]);
    expect(pass.drop.size).toBe(0);
    const entry = await pass.enter();
    expect([...entry!.drop]).toEqual(['x']);
    expect(fenced).toEqual([0]);
    expect(p0.revoked).toBe(true);
    expect(p1.revoked).toBe(false);
    expect(fence.entered).toEqual([[{ partition: 1, owner: 'a', generation: 5 }]]);
  });

  it('abandons the whole request when every partition moved', async () => {
    const fence = new FakeFence();
    const gate = new PartitionGate(fence);
    const p2 = new PartitionOffsets('cdc', 2, 'a', 3);
    fence.newer.add(2);
    const entry = await (await gate.pass([{ id: 'x', trackers: [p2] }])).enter();
    expect([...entry!.drop]).toEqual(['x']);
    expect(p2.revoked).toBe(true);
  });

  it('passes other fence errors through (Redis down is not a fence)', async () => {
    const gate = new PartitionGate({
      enter: async () => {
        throw new Error('connection lost');
      },
      waitClear: async () => undefined,
    });
    const pass = await gate.pass([{ id: 'x', trackers: [new PartitionOffsets('cdc', 0, 'a', 1)] }]);
    await expect(pass.enter()).rejects.toThrow('connection lost');
  });
});

class FakeKafkaConsumer {
  readonly events = {
    REBALANCING: 'rebalancing',
    GROUP_JOIN: 'join',
    CONNECT: 'connect',
    DISCONNECT: 'disconnect',
    CRASH: 'crash',
  };
  readonly handlers = new Map<string, (e: unknown) => void>();
  readonly seeks: { partition: number; offset: string }[] = [];
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
  seek(s: { partition: number; offset: string }) {
    this.seeks.push({ partition: s.partition, offset: s.offset });
  }
  async run(opts: { eachBatch: (p: EachBatchPayload) => Promise<void> }) {
    this.eachBatch = opts.eachBatch;
  }
  async commitOffsets() {}
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

function event(itemKey: string): ChangeEvent {
  return {
    syncId: 's',
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
  const fence = new FakeFence();
  const fencedMetric: number[] = [];
  let heartbeats = 0;
  const consumer = new CdcConsumer({
    kafka: { consumer: () => kc } as unknown as Kafka,
    groupId: 'g',
    topic: 'cdc',
    sessionTimeoutMs: 10_000,
    decoder: { decode: async (v) => event(String(v)) },
    syncs: new Map([['s', sink]]),
    deadLetters: { send: async () => undefined },
    status: { emit: () => undefined },
    beforeCommit: async () => undefined,
    logger: createLogger({ level: 'silent' }),
    fence,
    generationOf: (memberId) => Number(memberId.replace('m', '')),
    onFenced: (p) => void fencedMetric.push(p),
    instanceId: 'i',
    commitIntervalMs: 60_000,
  });
  const batch = (partition: number, keys: string[], first = 0) =>
    kc.eachBatch!({
      batch: {
        topic: 'cdc',
        partition,
        highWatermark: String(first + keys.length),
        messages: keys.map((k, i) => ({ offset: String(first + i), value: Buffer.from(k), key: null })),
        firstOffset: () => String(first),
        lastOffset: () => String(first + keys.length - 1),
      },
      resolveOffset: () => undefined,
      heartbeat: async () => void heartbeats++,
      isRunning: () => true,
      isStale: () => false,
    } as unknown as EachBatchPayload);
  const through = async (ds: Delivery[]) => {
    const ids = ds.map((d) => String(d.event.itemKey));
    const gate = sendGate(ds.map((d, i) => ({ id: ids[i]!, acks: [d.ack] })))!;
    const entry = await (await gate.pass(ids)).enter();
    return entry;
  };
  return { kc, sink, fence, consumer, batch, through, fencedMetric, heartbeats: () => heartbeats };
}

describe('CdcConsumer zombie fencing (fake kafkajs, fake fence)', () => {
  it('claims the join’s generation for its partitions before anything is sent', async () => {
    const { kc, sink, fence, consumer, batch, through } = setup();
    await consumer.start();
    let claimed!: () => void;
    fence.claimGate = new Promise((r) => {
      claimed = r;
    });
    kc.emit('rebalancing', {});
    kc.emit('join', { memberId: 'm7', memberAssignment: { cdc: [0, 1] } });
    await batch(0, ['a']);
    let sent = false;
    const entered = through(sink.deliveries).then((e) => {
      sent = true;
      return e;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toBe(false);
    claimed();
    const entry = await entered;
    expect(entry!.drop.size).toBe(0);
    expect(fence.claims).toEqual([{ generation: 7, partitions: [0, 1] }]);
    expect(fence.entered.at(-1)).toEqual([{ partition: 0, owner: 'i#0', generation: 7 }]);
    await consumer.stop(1000);
  });

  it('a rebalance that begins while a claim is pending keeps the gate held until the next join', async () => {
    const { kc, sink, fence, consumer, batch, through } = setup();
    await consumer.start();
    let claimed!: () => void;
    fence.claimGate = new Promise((r) => {
      claimed = r;
    });
    kc.emit('join', { memberId: 'm2', memberAssignment: { cdc: [0] } });
    await batch(0, ['a']);
    kc.emit('rebalancing', {});
    claimed();
    let sent = false;
    const entered = through(sink.deliveries).then((e) => {
      sent = true;
      return e;
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(sent).toBe(false);
    kc.emit('join', { memberId: 'm3', memberAssignment: { cdc: [0] } });
    // The earlier assignment was retired by the join: its item is left out, nothing registered.
    expect([...(await entered)!.drop]).toEqual(['a']);
    expect(fence.claims.map((c) => c.generation)).toEqual([2, 3]);
    await consumer.stop(1000);
  });

  it('a refused request retires the assignment, rewinds the partition and holds it until the next join', async () => {
    const { kc, sink, fence, consumer, batch, through, fencedMetric } = setup();
    await consumer.start();
    kc.emit('join', { memberId: 'm3', memberAssignment: { cdc: [0] } });
    await batch(0, ['a', 'b'], 10);
    fence.newer.add(0);
    const entry = await through(sink.deliveries);
    expect([...entry!.drop].sort()).toEqual(['a', 'b']);
    expect(fencedMetric).toEqual([0]);
    expect(sink.abandoned).toHaveLength(1);
    expect(kc.seeks).toEqual([{ partition: 0, offset: '10' }]);
    // Later batches of the partition are not processed while fenced...
    await batch(0, ['c'], 12);
    expect(sink.deliveries.map((d) => d.event.itemKey)).toEqual(['a', 'b']);
    // ...until the group is joined again (with a newer generation).
    fence.newer.clear();
    kc.emit('join', { memberId: 'm4', memberAssignment: { cdc: [0] } });
    await batch(0, ['a', 'b', 'c'], 10);
    expect(sink.deliveries.map((d) => d.event.itemKey)).toEqual(['a', 'b', 'a', 'b', 'c']);
    const again = await through(sink.deliveries.slice(2));
    expect(again!.drop.size).toBe(0);
    expect(fence.entered.at(-1)?.[0]?.generation).toBe(4);
    await consumer.stop(1000);
  });
});
