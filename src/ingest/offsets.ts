/**
 * Tracks one partition's offsets, for one assignment of it to this instance, as they settle in any
 * order, and answers the highest offset below which everything is settled: the only offset that may be
 * committed (at-least-once). Offsets are kept as strings in delivery order, so no arithmetic is needed.
 */
export class PartitionOffsets {
  private offsets: string[] = [];
  private readonly settled = new Set<string>();
  private head = 0;
  private waiters: (() => void)[] = [];
  private isRevoked = false;
  /** No earlier owner of the partition still has a request on the wire (see ingest/gate.ts). */
  cleared = false;

  constructor(
    readonly topic: string,
    readonly partition: number,
    /** This assignment's name in the in-flight fence (unique across instances and assignments). */
    readonly owner = '',
    /** The consumer group generation that made this assignment; undefined when unknown (not fenced). */
    readonly generation?: number,
  ) {}

  /** The partition left this assignment (rebalance, restart): its work is abandoned, never committed. */
  get revoked(): boolean {
    return this.isRevoked;
  }

  revoke(): void {
    this.isRevoked = true;
    this.wake();
  }

  /** Registers offsets in the order the partition delivered them. */
  add(offset: string): void {
    this.offsets.push(offset);
  }

  settle(offset: string): void {
    this.settled.add(offset);
    this.wake();
  }

  /** Wakes the waiters without settling anything (a part of a message settled, see PartAck). */
  poke(): void {
    this.wake();
  }

  /** The last offset of the contiguous settled prefix, or undefined when the first is not settled. */
  committable(): string | undefined {
    const { offsets, settled } = this;
    let head = this.head;
    while (head < offsets.length && settled.delete(offsets[head]!)) head++;
    if (head > 4096 && head * 2 > offsets.length) {
      this.offsets = offsets.slice(head - 1);
      head = 1;
    }
    this.head = head;
    return head === 0 ? undefined : this.offsets[head - 1];
  }

  /** The first offset not settled yet: where a restart of this partition must resume. */
  firstPending(): string | undefined {
    this.committable();
    return this.offsets[this.head];
  }

  get pending(): number {
    this.committable();
    return this.offsets.length - this.head;
  }

  /** Resolves at the next settle or revocation (or at once if everything is settled). */
  changed(): Promise<void> {
    if (this.pending === 0 || this.isRevoked) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
