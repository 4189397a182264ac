/**
 * What the consumer hands each sync's pipeline: decoded events with an opaque acknowledgement. Settling
 * an ack lets its offset be committed once every earlier offset of its partition is settled; the
 * pipeline never sees partitions, offsets or trackers.
 */
import type { SendGate } from '../destinations/port.js';
import type { KafkaMessage } from '../kafka/client.js';
import type { ChangeEvent } from './change-event.js';
import type { PartitionGate } from './gate.js';
import type { PartitionOffsets } from './offsets.js';

export interface Ack {
  /** The event is handled (sent and accepted, rejected and reported, or skipped on purpose). */
  settle(): void;
}

/** One partition's assignment to this instance; compared by identity only. */
export type Assignment = object;

export interface Delivery {
  event: ChangeEvent;
  ack: Ack;
  /** The original message, for a dead letter. */
  source: { message: KafkaMessage; topic: string; partition: number };
  /**
   * A Debezium snapshot's end (RUN_ENDED without a count): resolves once every partition of the topic
   * has passed this message (everything before it settled, group-wide), so the run's count is what
   * settled; rejects when this assignment ended (the replay ends the run instead).
   */
  passed?: () => Promise<void>;
}

/** The consumer's view of a sync's pipeline. */
export interface EventSink {
  /** One partition's events of this sync from one fetch, in partition order. */
  accept(deliveries: Delivery[]): Promise<void>;
  /** Drops unsent work of an assignment that ended (its events replay elsewhere); answers how much. */
  abandon(assignment: Assignment): number;
  /** Sends what is buffered and waits for it (shutdown). */
  drain(): Promise<void>;
}

export class OffsetAck implements Ack {
  constructor(
    readonly tracker: PartitionOffsets,
    readonly offset: string,
    readonly gate: PartitionGate,
  ) {}

  settle(): void {
    this.tracker.settle(this.offset);
  }
}

/**
 * One of several events decoded from one message (a Debezium snapshot's first or last record): the
 * offset settles once every part has.
 */
export class PartAck extends OffsetAck {
  private done = false;

  constructor(
    tracker: PartitionOffsets,
    offset: string,
    gate: PartitionGate,
    private readonly left: { n: number },
  ) {
    super(tracker, offset, gate);
  }

  get settled(): boolean {
    return this.done;
  }

  override settle(): void {
    if (this.done) return;
    this.done = true;
    if (--this.left.n === 0) super.settle();
    else this.tracker.poke();
  }
}

/** A wait for other partitions ended because this message's assignment ended: the replay takes over. */
export class AssignmentEndedError extends Error {
  override readonly name = 'AssignmentEndedError';
}

export function assignmentOf(ack: Ack): Assignment | undefined {
  return ack instanceof OffsetAck ? ack.tracker : undefined;
}

/**
 * The gate a request of these items passes right before it is sent (see gate.ts); none when no item
 * came from the consumer (derived deletions, an operator's release).
 */
export function sendGate(items: readonly { id: string; acks: readonly Ack[] }[]): SendGate | undefined {
  let gate: PartitionGate | undefined;
  const trackers = new Map<string, PartitionOffsets[]>();
  for (const { id, acks } of items) {
    const own = acks.filter((a): a is OffsetAck => a instanceof OffsetAck);
    gate ??= own[0]?.gate;
    trackers.set(
      id,
      own.map((a) => a.tracker),
    );
  }
  if (!gate) return undefined;
  const g = gate;
  return { pass: (ids) => g.pass(ids.map((id) => ({ id, trackers: trackers.get(id) ?? [] }))) };
}
