export interface BatchSimStats {
  /** Every call that reached a Batch API route, whatever its outcome. */
  requests: number;
  /** items/edit calls accepted with a 202. */
  editRequests: number;
  /** Items in accepted items/edit calls. */
  itemsEdited: number;
  rejected429: number;
  /** 4xx answers other than 429. */
  errors4xx: number;
  /** 5xx answers, injected or not. */
  errors5xx: number;
  /** Changes applied whose reply was then dropped (fault `dropAfterApplyRate`). */
  droppedAfterApply: number;
  /** Most items accepted within one wall-clock second. */
  itemsPerSecondPeak: number;
  /** Items accepted per wall-clock second (epoch seconds), oldest first; the last hour is kept. */
  itemsPerSecond: { second: number; items: number }[];
  /** Epoch ms of the first and last accepted edit. */
  firstEditAtMs?: number;
  lastEditAtMs?: number;
}

const HISTOGRAM_SECONDS = 3600;

export class StatsRecorder {
  private counts = {
    requests: 0,
    editRequests: 0,
    itemsEdited: 0,
    rejected429: 0,
    errors4xx: 0,
    errors5xx: 0,
  };
  private dropped = 0;
  private peak = 0;
  private readonly perSecond = new Map<number, number>();
  private firstEditAtMs: number | undefined;
  private lastEditAtMs: number | undefined;

  request(): void {
    this.counts.requests++;
  }

  status(status: number): void {
    if (status === 429) this.counts.rejected429++;
    else if (status >= 500) this.counts.errors5xx++;
    else if (status >= 400) this.counts.errors4xx++;
  }

  edit(items: number, nowMs = Date.now()): void {
    this.counts.editRequests++;
    this.counts.itemsEdited += items;
    this.firstEditAtMs ??= nowMs;
    this.lastEditAtMs = nowMs;
    const second = Math.floor(nowMs / 1000);
    const total = (this.perSecond.get(second) ?? 0) + items;
    this.perSecond.set(second, total);
    this.peak = Math.max(this.peak, total);
    if (this.perSecond.size > HISTOGRAM_SECONDS) {
      this.perSecond.delete(this.perSecond.keys().next().value!);
    }
  }

  droppedAfterApply(): void {
    this.dropped++;
  }

  snapshot(): BatchSimStats {
    const itemsPerSecond = [...this.perSecond]
      .map(([second, items]) => ({ second, items }))
      .sort((a, b) => a.second - b.second);
    return {
      ...this.counts,
      droppedAfterApply: this.dropped,
      itemsPerSecondPeak: this.peak,
      itemsPerSecond,
      ...(this.firstEditAtMs === undefined ? {} : { firstEditAtMs: this.firstEditAtMs }),
      ...(this.lastEditAtMs === undefined ? {} : { lastEditAtMs: this.lastEditAtMs }),
    };
  }
}
