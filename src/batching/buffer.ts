/**
 * Micro-batches changes of one destination object: a request leaves at `maxItems` ready changes or
 * `flushWaitMs` after the oldest one became ready. Changes of one id queue in order; consecutive queued
 * ones coalesce (the later wins), and an id's next change waits until its in-flight request settled,
 * so order per item holds across flushes.
 *
 * With `admit`, a part-full batch whose flush wait is over leaves only when the destination's shared
 * request budget is not wanted by anyone else (`admit` answers 0): while it is (other buffers, other
 * instances wait for tokens), the batch keeps filling, since a part-full request would cost a whole
 * request of the budget. It leaves anyway, with priority for the next request, once nothing of this
 * buffer is in flight: its changes then wait for no request of their own, only for the budget, and a
 * quiet buffer is not held up by others' backlog. When the budget is idle the flush wait bounds the
 * latency as without `admit`.
 */
export interface BufferOptions<P> {
  maxItems: number;
  flushWaitMs: number;
  /** Requests of this buffer in flight at once (the shared rate limiter paces them). */
  maxInFlight?: number;
  /** Merges a queued change with a newer one of the same id, or answers undefined to queue it behind. */
  coalesce: (older: P, newer: P) => P | undefined;
  /**
   * Sends one batch; resolves once every change in it is handled (settled or requeued by the caller).
   * `priority`: a part-full batch that leaves while the budget is contended (see the class comment).
   */
  send: (batch: { id: string; payload: P }[], info: { priority: boolean }) => Promise<void>;
  /**
   * Asked before a part-full batch of `items` leaves on its flush wait: 0 when the shared request budget
   * has room for it that nobody else wants, else ms before asking again. Unset: it leaves at once.
   */
  admit?: (items: number) => Promise<number>;
  onError?: (err: unknown) => void;
}

interface Queued<P> {
  payload: P;
  at: number;
}

export class ChangeBuffer<P> {
  private readonly queues = new Map<string, Queued<P>[]>();
  /** Ids whose head change may be sent now, oldest first (Map keeps insertion order). */
  private readonly ready = new Map<string, number>();
  private readonly inFlight = new Set<string>();
  private requests = 0;
  private timer: NodeJS.Timeout | undefined;
  private urgent = false;
  private idleWaiters: (() => void)[] = [];
  private pausedUntil = 0;
  private readonly maxInFlight: number;
  /** An admit call is under way; its answer schedules again. */
  private admitting = false;
  /** Part-full batches do not ask `admit` again before this time (ms epoch). */
  private admitAfter = 0;

  constructor(private readonly opts: BufferOptions<P>) {
    this.maxInFlight = opts.maxInFlight ?? 5;
  }

  get queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  get inFlightItems(): number {
    return this.inFlight.size;
  }

  has(id: string): boolean {
    return this.queues.has(id) || this.inFlight.has(id);
  }

  add(id: string, payload: P): void {
    const now = Date.now();
    const q = this.queues.get(id);
    const last = q?.at(-1);
    if (q && last) {
      const merged = this.opts.coalesce(last.payload, payload);
      if (merged !== undefined) last.payload = merged;
      else q.push({ payload, at: now });
    } else {
      this.queues.set(id, [{ payload, at: now }]);
      if (!this.inFlight.has(id)) this.ready.set(id, now);
    }
    this.schedule();
  }

  /**
   * Puts a change that could not be delivered back at the head of its id's queue, merged with any newer
   * queued change (the newer wins, the older's bookkeeping is kept). Call it before `send` resolves,
   * while the id is still in flight, so nothing newer can overtake it.
   */
  requeue(id: string, payload: P): void {
    const q = this.queues.get(id);
    const head = q?.[0];
    if (q && head) {
      const merged = this.opts.coalesce(payload, head.payload);
      if (merged !== undefined) head.payload = merged;
      else q.unshift({ payload, at: Date.now() });
    } else this.queues.set(id, [{ payload, at: Date.now() }]);
  }

  /** Sends nothing before `ms` from now: the destination is failing and retries already ran out. */
  pauseFor(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  /** Sends whatever is ready without waiting for the flush timer (shutdown, end of a run). */
  flushNow(): void {
    this.urgent = true;
    this.schedule();
  }

  /** Removes queued (unsent) changes matching the predicate, e.g. those of a revoked partition. */
  drop(match: (payload: P) => boolean): P[] {
    const dropped: P[] = [];
    for (const [id, q] of this.queues) {
      const keep = q.filter((e) => {
        if (!match(e.payload)) return true;
        dropped.push(e.payload);
        return false;
      });
      if (keep.length === 0) {
        this.queues.delete(id);
        this.ready.delete(id);
      } else this.queues.set(id, keep);
    }
    this.notifyIdle();
    return dropped;
  }

  /** Resolves when nothing is queued or in flight. */
  idle(): Promise<void> {
    if (this.queues.size === 0 && this.inFlight.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.ready.size === 0) {
      this.urgent = false;
      return;
    }
    if (this.requests >= this.maxInFlight) return;
    const oldest = this.ready.values().next().value as number;
    const now = Date.now();
    const paused = this.pausedUntil - now;
    let due = paused > 0 ? paused : oldest + this.opts.flushWaitMs - now;
    if (paused <= 0 && (this.urgent || this.ready.size >= this.opts.maxItems)) {
      this.dispatch(false);
      return;
    }
    if (paused <= 0 && due <= 0) {
      if (!this.opts.admit) {
        this.dispatch(false);
        return;
      }
      if (this.admitting) return;
      if (now < this.admitAfter) due = this.admitAfter - now;
      else {
        this.admit(this.opts.admit);
        return;
      }
    }
    this.arm(due);
  }

  private arm(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, ms);
    this.timer.unref?.();
  }

  /**
   * Asks whether the part-full batch may spend a request now. Yes: it leaves. No: it leaves with
   * priority if nothing of this buffer is in flight, else it keeps filling and asks again later (or
   * leaves full before that).
   */
  private admit(admit: (items: number) => Promise<number>): void {
    this.admitting = true;
    admit(Math.min(this.ready.size, this.opts.maxItems))
      .catch(() => 0) // the send itself meets the failure, and handles it as it would without admit
      .then((wait) => {
        this.admitting = false;
        if (!this.partFullDue()) {
          this.schedule();
          return;
        }
        if (wait <= 0) this.dispatch(false);
        else if (this.requests === 0) this.dispatch(true);
        else {
          this.admitAfter = Date.now() + wait;
          this.schedule();
        }
      });
  }

  /** A part-full batch may leave on its flush wait now (no pause, a free request, the wait is over). */
  private partFullDue(): boolean {
    if (this.ready.size === 0 || this.requests >= this.maxInFlight) return false;
    const now = Date.now();
    if (this.pausedUntil > now) return false;
    const oldest = this.ready.values().next().value as number;
    return oldest + this.opts.flushWaitMs <= now;
  }

  private dispatch(priority: boolean): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const batch: { id: string; payload: P }[] = [];
    for (const id of this.ready.keys()) {
      if (batch.length >= this.opts.maxItems) break;
      const q = this.queues.get(id);
      const head = q?.shift();
      if (!q || !head) {
        this.ready.delete(id);
        continue;
      }
      if (q.length === 0) this.queues.delete(id);
      batch.push({ id, payload: head.payload });
    }
    for (const { id } of batch) {
      this.ready.delete(id);
      this.inFlight.add(id);
    }
    this.requests++;
    this.opts
      .send(batch, { priority })
      .catch((err) => this.opts.onError?.(err))
      .finally(() => {
        this.requests--;
        // Nothing of this buffer on the way any more: a held part-full batch decides again at once.
        if (this.requests === 0) this.admitAfter = 0;
        const now = Date.now();
        for (const { id } of batch) {
          this.inFlight.delete(id);
          const q = this.queues.get(id);
          const next = q?.[0];
          if (next) this.ready.set(id, Math.min(next.at, now));
        }
        this.notifyIdle();
        this.schedule();
      });
    this.schedule();
  }

  private notifyIdle(): void {
    if (this.queues.size > 0 || this.inFlight.size > 0) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
