/**
 * Micro-batches changes of one destination object: a request leaves at `maxItems` ready changes or
 * `flushWaitMs` after the oldest one became ready. Changes of one id queue in order; consecutive queued
 * ones coalesce (the later wins), and an id's next change waits until its in-flight request settled,
 * so order per item holds across flushes.
 */
export interface BufferOptions<P> {
  maxItems: number;
  flushWaitMs: number;
  /** Requests of this buffer in flight at once (the shared rate limiter paces them). */
  maxInFlight?: number;
  /** Merges a queued change with a newer one of the same id, or answers undefined to queue it behind. */
  coalesce: (older: P, newer: P) => P | undefined;
  /** Sends one batch; resolves once every change in it is handled (settled or requeued by the caller). */
  send: (batch: { id: string; payload: P }[]) => Promise<void>;
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
    const due = paused > 0 ? paused : oldest + this.opts.flushWaitMs - now;
    if (paused <= 0 && (this.urgent || this.ready.size >= this.opts.maxItems || due <= 0)) {
      this.dispatch();
      return;
    }
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.schedule();
    }, due);
    this.timer.unref?.();
  }

  private dispatch(): void {
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
      .send(batch)
      .catch((err) => this.opts.onError?.(err))
      .finally(() => {
        this.requests--;
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
