/**
 * The consumer group: fetches CDC batches, decodes each event and hands it, with an ack, to its sync's
 * EventSink (the pipeline). The fetch position moves on at once (up to a window of unsettled events per partition), while
 * commits cover only each partition's settled prefix and are made here, every second and at shutdown.
 * A rebalance or a failed batch restarts partitions from their last commit: the gate (gate.ts) keeps the
 * abandoned work of the earlier assignment from landing after the replay. At each group join, the
 * assignment's group generation is claimed in Redis for its partitions, so that this instance, expelled
 * later without knowing it (a zombie), is refused at the fence once the new owner claimed them.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  type Consumer,
  type EachBatchPayload,
  groupGeneration,
  type Kafka,
  type KafkaMessage,
} from '../kafka/client.js';
import type { Logger } from '../logger.js';
import type { StatusInput } from '../status/types.js';
import { AssignmentEndedError, type Delivery, type EventSink, OffsetAck, PartAck } from './ack.js';
import type { DeadLetterWriter } from './dead-letter.js';
import type { MessageDecoder } from './debezium.js';
import { type Decoder, PoisonMessageError } from './decoder.js';
import type { GenerationFencedError, InFlightFence } from './fence.js';
import { PartitionGate } from './gate.js';
import { PartitionOffsets } from './offsets.js';

export interface CdcConsumerDeps {
  kafka: Kafka;
  groupId: string;
  topic: string;
  sessionTimeoutMs: number;
  /** The service's own envelope (one event per message), or one answering several (Debezium). */
  decoder: Pick<Decoder, 'decode'> | MessageDecoder;
  /**
   * Debezium snapshot ends: wait this long after reading the last record before reading the other
   * partitions' end offsets, so records the connector produced before it have landed. @default 1000
   */
  snapshotGraceMs?: number;
  /** Each configured sync's pipeline, by sync id. */
  syncs: Map<string, EventSink>;
  deadLetters: Pick<DeadLetterWriter, 'send'>;
  status: { emit(e: StatusInput): void };
  /** Runs before offsets are committed: the status publisher's flush, so status is at-least-once. */
  beforeCommit: () => Promise<void>;
  logger: Logger;
  /** Requests on the wire per partition, shared by the group (keeps order across owners). */
  fence: Pick<InFlightFence, 'owner' | 'enter' | 'waitClear' | 'claim'>;
  /**
   * The group generation a join gave this member (by kafkajs member id).
   * @default groupGeneration(kafka, groupId, memberId)
   */
  generationOf?: (memberId: string) => number | undefined;
  /** A request of this instance was refused: a newer generation owns the partition (metrics). */
  onFenced?: (partition: number) => void;
  /** Names this instance's assignments in the fence. */
  instanceId: string;
  partitionsConsumedConcurrently?: number;
  /** Unsettled events a partition may have before its next fetch waits. @default 2000 */
  windowEvents?: number;
  /** @default 1000 */
  commitIntervalMs?: number;
  onBatch?: (info: { partition: number; messages: number; lag: number }) => void;
  /** Each decoded event, before it is handed on (metrics). */
  onEvent?: (syncId: string, type: string) => void;
}

export class CdcConsumer {
  private consumer: Consumer | undefined;
  private readonly active = new Set<Promise<void>>();
  private readonly assignment = new Set<number>();
  /** This assignment's tracker per partition; replaced wholesale at every group join. */
  private readonly trackers = new Map<number, PartitionOffsets>();
  private readonly committed = new Map<PartitionOffsets, string>();
  private readonly gate: PartitionGate;
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private stopping = false;
  private admin: Promise<ReturnType<Kafka['admin']>> | undefined;
  private isConnected = false;
  private joined = false;
  /** The group generation of the current assignment; undefined when kafkajs did not tell it. */
  private generation: number | undefined;
  private joins = 0;
  /** Partitions a newer generation took from this assignment: not processed until the next join. */
  private readonly fenced = new Set<number>();

  constructor(private readonly deps: CdcConsumerDeps) {
    this.gate = new PartitionGate(deps.fence, (t, err) => this.onFenced(t, err));
  }

  /** Connected to the brokers and not crashed (readiness). */
  get connected(): boolean {
    return this.isConnected;
  }

  /**
   * Has joined the group and not left it since (a rebalance keeps it a member), whether or not the
   * group gave it a partition: an idle member is healthy, and takes over when another one leaves.
   */
  get member(): boolean {
    return this.isConnected && this.joined;
  }

  get assignedPartitions(): number[] {
    return [...this.assignment].sort((a, b) => a - b);
  }

  async start(): Promise<void> {
    const { kafka, groupId, topic, sessionTimeoutMs } = this.deps;
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: sessionTimeoutMs,
      heartbeatInterval: Math.min(3000, Math.floor(sessionTimeoutMs / 10)),
      rebalanceTimeout: 60_000,
      allowAutoTopicCreation: false,
      // Decoded events wait in the window until they settle: smaller fetches hold less memory
      // (bench:pipeline measured 250-270 MB instead of 270-320 MB peak RSS against the 1 MB default).
      maxBytesPerPartition: 256 * 1024,
    });
    this.consumer = consumer;
    consumer.on(consumer.events.REBALANCING, () => this.hold());
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // kafkajs restarts every partition from its last commit: earlier work is the replay's to do.
      this.retireAll();
      this.fenced.clear();
      const generationOf =
        this.deps.generationOf ?? ((memberId: string) => groupGeneration(kafka, groupId, memberId));
      this.generation = generationOf(e.payload.memberId);
      for (const p of e.payload.memberAssignment[topic] ?? []) this.assignment.add(p);
      this.joined = true;
      this.deps.logger.info(
        { partitions: this.assignedPartitions, generation: this.generation },
        'partitions assigned',
      );
      const join = ++this.joins;
      // Nothing leaves before the claim is made (or has failed: `enter` claims then).
      void this.claim(this.generation, this.assignedPartitions).finally(() => {
        if (join === this.joins) this.gate.open();
      });
    });
    consumer.on(consumer.events.CONNECT, () => {
      this.isConnected = true;
    });
    consumer.on(consumer.events.DISCONNECT, () => {
      this.isConnected = false;
      this.joined = false;
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.isConnected = e.payload.restart;
      // A restart joins the group again (GROUP_JOIN).
      this.joined = false;
      if (e.payload.restart) this.hold();
      this.deps.logger.error({ err: e.payload.error, restart: e.payload.restart }, 'consumer crashed');
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    this.commitTimer = setInterval(() => void this.commit(), this.deps.commitIntervalMs ?? 1000);
    this.commitTimer.unref();
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.deps.partitionsConsumedConcurrently ?? 12,
      eachBatch: (payload) => this.track(this.handleBatch(payload)),
    });
  }

  /** SIGTERM: send what is buffered, let it settle, commit, then leave the group. */
  async stop(timeoutMs = 25_000): Promise<void> {
    this.stopping = true;
    const deadline = Date.now() + timeoutMs;
    const left = () => sleep(Math.max(0, deadline - Date.now()));
    await Promise.race([Promise.all([...this.deps.syncs.values()].map((s) => s.drain())), left()]);
    for (const t of this.trackers.values()) {
      while (t.pending > 0 && !t.revoked && Date.now() < deadline)
        await Promise.race([t.changed(), sleep(100)]);
    }
    await Promise.race([Promise.allSettled([...this.active]), left()]);
    if (this.commitTimer) clearInterval(this.commitTimer);
    // A tick's commit may have read the prefixes before the last settles: commit once more after it.
    await this.committing;
    await this.commit();
    await this.consumer?.disconnect();
    await (await this.admin?.catch(() => undefined))?.disconnect().catch(() => undefined);
    this.gate.close();
    this.retireAll();
  }

  private track(p: Promise<void>): Promise<void> {
    this.active.add(p);
    return p.finally(() => this.active.delete(p));
  }

  /** Holds every request until the next join (and its claim) is done; an earlier claim opens nothing. */
  private hold(): void {
    this.joins++;
    this.gate.hold();
  }

  /** Records the generation as the partitions' owner in Redis, waiting at most 10 s. */
  private async claim(generation: number | undefined, partitions: number[]): Promise<void> {
    if (generation === undefined) {
      if (partitions.length > 0)
        this.deps.logger.warn(
          'the group generation is unknown: this assignment is not fenced against zombies',
        );
      return;
    }
    const claimed = this.deps.fence.claim(generation, partitions).then(
      (refused) => {
        if (refused.length > 0)
          this.deps.logger.warn(
            { generation, partitions: refused },
            'a newer group generation already owns partitions of this assignment',
          );
      },
      (err: unknown) =>
        this.deps.logger.warn(
          { err, generation },
          'claiming the assignment failed; the first request claims it',
        ),
    );
    await Promise.race([claimed, sleep(10_000)]);
  }

  /**
   * The fence refused a request: a newer generation owns the partition, so this instance was expelled
   * from the group. Its unsent work is abandoned and the partition rewound (the new owner replays it;
   * should this instance keep it after all, it replays it itself once it joins again).
   */
  private onFenced(t: PartitionOffsets, err: GenerationFencedError): void {
    if (t.revoked) return;
    const current = this.trackers.get(t.partition) === t;
    const from = t.firstPending();
    this.fenced.add(t.partition);
    this.deps.logger.warn(
      { partition: t.partition, generation: t.generation, code: err.code },
      'a newer group generation owns this partition: its requests are refused until the group is joined again',
    );
    this.deps.onFenced?.(t.partition);
    this.retire(t);
    try {
      if (current && from !== undefined)
        this.consumer?.seek({ topic: t.topic, partition: t.partition, offset: from });
    } catch (seekErr) {
      this.deps.logger.warn({ err: seekErr, partition: t.partition }, 'seek failed; a re-join replays');
    }
  }

  private tracker(partition: number): PartitionOffsets {
    let t = this.trackers.get(partition);
    if (!t) {
      const owner = this.deps.fence.owner(this.deps.instanceId);
      t = new PartitionOffsets(this.deps.topic, partition, owner, this.generation);
      this.trackers.set(partition, t);
    }
    return t;
  }

  private retireAll(): void {
    for (const t of this.trackers.values()) this.retire(t);
    this.assignment.clear();
  }

  /** Abandons a tracker's unsent work: its offsets stay uncommitted and are replayed. */
  private retire(t: PartitionOffsets): void {
    if (this.trackers.get(t.partition) === t) this.trackers.delete(t.partition);
    this.committed.delete(t);
    t.revoke();
    let dropped = 0;
    for (const sink of this.deps.syncs.values()) dropped += sink.abandon(t);
    if (t.pending > 0 || dropped > 0) {
      this.deps.logger.info(
        { partition: t.partition, dropped, unsettled: t.pending },
        'partition assignment ended; unsettled work left for the replay',
      );
    }
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    if (isStale()) return;
    if (this.fenced.has(batch.partition)) {
      // Not ours any more: the next heartbeat tells kafkajs so (it joins again); nothing is resolved.
      await sleep(1000);
      try {
        await heartbeat();
      } catch (err) {
        this.hold();
        throw err;
      }
      return;
    }
    const tracker = this.tracker(batch.partition);
    try {
      await this.accept(payload, tracker);
    } catch (err) {
      // Part of the batch may be buffered already: restart the partition from its first unsettled event.
      const from = tracker.firstPending() ?? batch.firstOffset();
      this.deps.logger.warn(
        { err, partition: batch.partition, from },
        'a batch failed; its partition restarts from its first unsettled event',
      );
      // A retired tracker's partition already restarts from its last commit (group join).
      const restart = !tracker.revoked && !isStale() && from !== null;
      this.retire(tracker);
      try {
        if (restart) this.consumer?.seek({ topic: batch.topic, partition: batch.partition, offset: from });
      } catch (seekErr) {
        this.deps.logger.warn({ err: seekErr, partition: batch.partition }, 'seek failed; a re-join replays');
      }
      throw err;
    }
    if (tracker.revoked || isStale()) return;
    resolveOffset(batch.lastOffset());
    const window = this.deps.windowEvents ?? 2000;
    while (tracker.pending > window && !tracker.revoked && isRunning() && !isStale() && !this.stopping) {
      try {
        await heartbeat();
      } catch (err) {
        this.hold();
        throw err;
      }
      await Promise.race([tracker.changed(), sleep(1000)]);
    }
  }

  private async accept(payload: EachBatchPayload, tracker: PartitionOffsets): Promise<void> {
    const { batch, heartbeat } = payload;
    const perSync = new Map<string, Delivery[]>();
    for (const [i, message] of batch.messages.entries()) {
      // Decoding a large batch on a busy core can outlast the session timeout; kafkajs throttles these.
      if (i % 500 === 499) await heartbeat();
      tracker.add(message.offset);
      const source = { message, topic: batch.topic, partition: batch.partition };
      let events: Awaited<ReturnType<Decoder['decode']>>[];
      try {
        events = await this.decodeAll(message.value);
      } catch (err) {
        if (!(err instanceof PoisonMessageError)) throw err;
        await this.deadLetter(tracker, source, err.code, err.message);
        continue;
      }
      // A tombstone: nothing to apply.
      if (events.length === 0) tracker.settle(message.offset);
      const left = { n: events.length };
      const parts: PartAck[] = [];
      for (const event of events) {
        this.deps.onEvent?.(event.syncId, event.type);
        if (!this.deps.syncs.has(event.syncId)) {
          const reason = `no sync "${event.syncId}" is configured`;
          // Several events of one message: dead-letter it once, and settle it when its other parts have.
          if (events.length === 1)
            await this.deadLetter(tracker, source, 'UNKNOWN_SYNC', reason, event.syncId);
          else new PartAck(tracker, message.offset, this.gate, left).settle();
          continue;
        }
        const ack =
          events.length === 1
            ? new OffsetAck(tracker, message.offset, this.gate)
            : new PartAck(tracker, message.offset, this.gate, left);
        const delivery: Delivery = { event, ack, source };
        if (event.type === 'RUN_ENDED' && event.rowCount === null) {
          const before = [...parts];
          delivery.passed = () => this.passed(tracker, message, before);
        }
        if (ack instanceof PartAck) parts.push(ack);
        const list = perSync.get(event.syncId);
        if (list) list.push(delivery);
        else perSync.set(event.syncId, [delivery]);
      }
    }
    this.deps.onBatch?.({
      partition: batch.partition,
      messages: batch.messages.length,
      lag: Number(BigInt(batch.highWatermark) - BigInt(batch.lastOffset()) - 1n),
    });
    await Promise.all([...perSync].map(([id, deliveries]) => this.deps.syncs.get(id)?.accept(deliveries)));
  }

  private async decodeAll(value: Buffer | null): Promise<Awaited<ReturnType<Decoder['decode']>>[]> {
    const { decoder } = this.deps;
    if (!('decodeMessage' in decoder)) return [await decoder.decode(value)];
    const { events, notices } = await decoder.decodeMessage(value);
    for (const n of notices) {
      this.deps.status.emit({
        syncId: n.syncId,
        type: 'SCHEMA_CHANGED',
        errorCode: n.code,
        message: n.message,
      });
      this.deps.logger.warn({ sync: n.syncId, code: n.code }, n.message);
    }
    return events;
  }

  /**
   * Resolves once every partition has passed a Debezium snapshot's last record: in its own partition
   * everything before it and the message's earlier parts settled; in every other partition the group
   * committed every record written before the last one's timestamp plus a grace period (Debezium marks
   * only the last record of a snapshot; the other partitions' snapshot records were written before it,
   * and a later snapshot's records after it: bounding by time, not by today's end offsets, keeps a
   * later snapshot already in the topic from making this one wait for it, and so for itself).
   * Rejects when the assignment ended: the replay ends the run.
   */
  private async passed(tracker: PartitionOffsets, message: KafkaMessage, parts: PartAck[]): Promise<void> {
    const { offset } = message;
    const gone = () => tracker.revoked || this.stopping;
    const lost = () =>
      new AssignmentEndedError(`partition ${tracker.partition} was revoked before the snapshot ended`);
    while (tracker.firstPending() !== offset || !parts.every((p) => p.settled)) {
      if (gone()) throw lost();
      await Promise.race([tracker.changed(), sleep(200)]);
    }
    const grace = this.deps.snapshotGraceMs ?? 1000;
    const until = Number(message.timestamp) + grace;
    await sleep(Math.max(grace, until - Date.now()));
    const admin = await this.adminClient();
    const { topic, groupId } = this.deps;
    // Per partition, the first offset written at or after `until` (the end offset if none yet).
    const bounds = await admin.fetchTopicOffsetsByTimestamp(topic, until);
    const lows = new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, BigInt(e.low)]));
    const others = bounds.filter((b) => b.partition !== tracker.partition);
    for (;;) {
      if (gone()) throw lost();
      const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
      const at = new Map((committed?.partitions ?? []).map((c) => [c.partition, BigInt(c.offset)]));
      const behind = others.filter(
        (b) =>
          BigInt(b.offset) > (lows.get(b.partition) ?? 0n) && (at.get(b.partition) ?? -1n) < BigInt(b.offset),
      );
      if (behind.length === 0) return;
      await sleep(500);
    }
  }

  private adminClient(): Promise<ReturnType<Kafka['admin']>> {
    this.admin ??= (async () => {
      const admin = this.deps.kafka.admin();
      await admin.connect();
      return admin;
    })();
    this.admin.catch(() => {
      this.admin = undefined;
    });
    return this.admin;
  }

  /** Commits every partition's settled prefix that moved, after the status events behind it are out. */
  private commit(): Promise<void> {
    this.committing ??= this.commitOnce().finally(() => {
      this.committing = undefined;
    });
    return this.committing;
  }

  private async commitOnce(): Promise<void> {
    const moved: { tracker: PartitionOffsets; offset: string }[] = [];
    for (const t of this.trackers.values()) {
      const offset = t.committable();
      if (offset !== undefined && offset !== this.committed.get(t)) moved.push({ tracker: t, offset });
    }
    if (moved.length === 0 || !this.consumer) return;
    try {
      await this.deps.beforeCommit();
      const current = moved.filter((m) => !m.tracker.revoked);
      if (current.length === 0) return;
      await this.consumer.commitOffsets(
        current.map((m) => ({
          topic: this.deps.topic,
          partition: m.tracker.partition,
          offset: (BigInt(m.offset) + 1n).toString(),
        })),
      );
      for (const m of current) if (!m.tracker.revoked) this.committed.set(m.tracker, m.offset);
    } catch (err) {
      // A rebalance or a broker hiccup: the next tick commits again (replays stay harmless).
      this.deps.logger.warn({ err }, 'committing offsets failed; will retry');
    }
  }

  private async deadLetter(
    tracker: PartitionOffsets,
    source: { message: KafkaMessage; topic: string; partition: number },
    code: string,
    reason: string,
    syncId?: string,
  ): Promise<void> {
    const { message, topic, partition } = source;
    await this.deps.deadLetters.send({
      message,
      topic,
      partition,
      code,
      reason,
      ...(syncId ? { syncId } : {}),
    });
    this.deps.status.emit({
      syncId: syncId ?? 'unknown',
      type: 'DEAD_LETTER',
      errorCode: code,
      message: `${topic}[${partition}]@${message.offset}: ${reason}`,
    });
    this.deps.logger.warn({ code, partition, offset: message.offset }, `dead-lettered: ${reason}`);
    tracker.settle(message.offset);
  }
}
