/**
 * Keeps one item's changes in order when its partition changes owner. kafkajs restarts every assigned
 * partition from its last commit after a rebalance, while this instance may still hold later work of it:
 * - during a rebalance nothing leaves (the new owner is chosen only after this instance re-joined);
 * - a change whose partition assignment was revoked is left out at the last moment, unsent and
 *   unsettled, for the partition's next owner to replay;
 * - the first request of a new assignment waits until every earlier owner's request for the partition
 *   is answered (InFlightFence), so a late reply can never land after the new owner's change.
 * The waits come first (`pass`), the request then takes its tokens, and `enter` only decides and
 * registers it: tokens are never held through a wait here.
 * - a zombie (an instance the group expelled that does not know it yet) is refused at `enter` once the
 *   new owner claimed the partition with its newer group generation (fence.ts): its items are left out
 *   (abandoned, replayed by the new owner) and `onFenced` retires the assignment.
 */
import type { GateEntry, GatePass } from '../destinations/port.js';
import { GenerationFencedError, type InFlightFence } from './fence.js';
import type { PartitionOffsets } from './offsets.js';

export class PartitionGate {
  private rebalance: { done: Promise<void>; end: () => void } | undefined;
  private closed = false;

  constructor(
    private readonly fence: Pick<InFlightFence, 'enter' | 'waitClear'>,
    /** An assignment a newer group generation took over (it is revoked right after). */
    private readonly onFenced: (t: PartitionOffsets, err: GenerationFencedError) => void = () => undefined,
  ) {}

  /** A rebalance started: hold every request until `open`. */
  hold(): void {
    if (this.rebalance) return;
    let end!: () => void;
    const done = new Promise<void>((resolve) => {
      end = resolve;
    });
    this.rebalance = { done, end };
  }

  /** The new assignment is known (earlier trackers are revoked by then). */
  open(): void {
    const r = this.rebalance;
    this.rebalance = undefined;
    r?.end();
  }

  /** The consumer left the group: whatever still waits is abandoned. */
  close(): void {
    this.closed = true;
    this.open();
  }

  async pass(items: readonly { id: string; trackers: readonly PartitionOffsets[] }[]): Promise<GatePass> {
    while (this.rebalance && !this.closed) await this.rebalance.done;
    for (const t of this.decide(items).trackers) {
      if (t.cleared) continue;
      await this.fence.waitClear(t.owner, t.partition, () => t.revoked || this.closed);
      if (!t.revoked && !this.closed) t.cleared = true;
    }
    return { drop: this.decide(items).drop, enter: () => this.enter(items) };
  }

  /** No wait but the fence's round trip; a rebalance running before or after it sends nothing. */
  private async enter(
    items: readonly { id: string; trackers: readonly PartitionOffsets[] }[],
  ): Promise<GateEntry | undefined> {
    if (this.rebalance && !this.closed) return undefined;
    let release: () => Promise<void>;
    // Each refusal revokes at least one tracker, so this ends once the rest is registered (or empty).
    for (;;) {
      const live = this.decide(items);
      try {
        release = await this.fence.enter(
          [...live.trackers].map((t) => ({
            partition: t.partition,
            owner: t.owner,
            generation: t.generation,
          })),
        );
        break;
      } catch (err) {
        if (!(err instanceof GenerationFencedError)) throw err;
        const fenced = [...live.trackers].filter((t) => err.partitions.includes(t.partition));
        if (fenced.length === 0) throw err;
        for (const t of fenced) {
          this.onFenced(t, err);
          t.revoke();
        }
      }
    }
    if (this.rebalance && !this.closed) {
      await release();
      return undefined;
    }
    return { drop: this.decide(items).drop, release };
  }

  private decide(items: readonly { id: string; trackers: readonly PartitionOffsets[] }[]) {
    const drop = new Set<string>();
    const trackers = new Set<PartitionOffsets>();
    for (const { id, trackers: ts } of items) {
      if (ts.length === 0) continue;
      let kept = false;
      for (const t of ts) {
        if (t.revoked || this.closed) continue;
        kept = true;
        trackers.add(t);
      }
      if (!kept) drop.add(id);
    }
    return { drop, trackers };
  }
}
