/**
 * Tracks the offsets of one partition's batch as they settle in any order, and answers the highest
 * offset below which everything is settled: the only offset that may be committed (at-least-once).
 */
export class PartitionOffsets {
  private readonly offsets: bigint[] = [];
  private readonly settled = new Set<bigint>();
  private head = 0;
  private waiters: (() => void)[] = [];

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** Registers offsets in the order the batch delivered them. */
  add(offset: string): void {
    this.offsets.push(BigInt(offset));
  }

  settle(offset: string): void {
    this.settled.add(BigInt(offset));
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** The last offset of the contiguous settled prefix, or undefined when the first is not settled. */
  committable(): string | undefined {
    while (this.head < this.offsets.length && this.settled.has(this.offsets[this.head]!)) {
      this.settled.delete(this.offsets[this.head]!);
      this.head++;
    }
    return this.head === 0 ? undefined : this.offsets[this.head - 1]!.toString();
  }

  get pending(): number {
    this.committable();
    return this.offsets.length - this.head;
  }

  /** Resolves at the next settle (or at once if everything is settled). */
  changed(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

/** The handle a planned change keeps so that settling it settles the Kafka message it came from. */
export interface OffsetRef {
  tracker: PartitionOffsets;
  offset: string;
}

export function settleRefs(refs: readonly OffsetRef[]): void {
  for (const r of refs) r.tracker.settle(r.offset);
}
