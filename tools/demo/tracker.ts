/**
 * Follows the status topic for the demo: run completions to wait on, and the per-sync figures of the
 * summary (requests accepted, indexing tokens applied, rejections, items accepted per second).
 */
import type { RunCounts, StatusEventDecoded } from '../../src/status/types.js';

export interface RunRecord {
  syncId: string;
  runId: string;
  startedAt?: number;
  completedAt?: number;
  counts?: RunCounts | undefined;
  heldMessage?: string;
}

export interface SyncFigures {
  acceptedTokens: Set<string>;
  appliedTokens: Set<string>;
  acceptedItems: number;
  /** Items accepted per wall-clock second (epoch s), from REQUEST_ACCEPTED events. */
  perSecond: Map<number, number>;
  retries: number;
  deadLetters: number;
  rejections: { id: string; reason: string }[];
}

export class StatusTracker {
  readonly runs = new Map<string, RunRecord>();
  readonly syncs = new Map<string, SyncFigures>();
  private readonly waiters = new Map<string, () => void>();

  onEvent = (e: StatusEventDecoded): void => {
    const f = this.figures(e.syncId);
    switch (e.type) {
      case 'RUN_STARTED':
        this.run(e).startedAt ??= e.at;
        break;
      case 'RUN_COMPLETED': {
        const r = this.run(e);
        r.completedAt ??= e.at;
        r.counts = e.counts ?? r.counts;
        delete r.heldMessage;
        this.waiters.get(`${e.syncId}/${e.runId}`)?.();
        break;
      }
      // A held run stays in progress until released; for the demo its rows have landed, so it ends here.
      case 'DELETIONS_HELD': {
        const r = this.run(e);
        r.completedAt ??= e.at;
        r.counts ??= e.counts ?? undefined;
        r.heldMessage = e.message ?? 'deletions held';
        this.waiters.get(`${e.syncId}/${e.runId}`)?.();
        break;
      }
      case 'REQUEST_ACCEPTED': {
        if (e.indexingToken) {
          if (f.acceptedTokens.has(e.indexingToken)) break;
          f.acceptedTokens.add(e.indexingToken);
        }
        f.acceptedItems += e.itemIds.length;
        const second = Math.floor(e.at / 1000);
        f.perSecond.set(second, (f.perSecond.get(second) ?? 0) + e.itemIds.length);
        break;
      }
      case 'INDEXING_APPLIED':
        if (e.indexingToken) f.appliedTokens.add(e.indexingToken);
        break;
      case 'REQUEST_RETRIED':
        f.retries++;
        break;
      case 'DEAD_LETTER':
        f.deadLetters++;
        break;
      case 'ITEM_REJECTED':
        for (const id of e.itemIds) f.rejections.push({ id, reason: e.message ?? e.errorCode ?? '' });
        break;
      default:
        break;
    }
  };

  get completedRuns(): number {
    return [...this.runs.values()].filter((r) => r.completedAt !== undefined).length;
  }

  /** Resolves at the run's RUN_COMPLETED, or at DELETIONS_HELD for a run the guardrail holds. */
  completion(syncId: string, runId: string): Promise<RunRecord> {
    const key = `${syncId}/${runId}`;
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(key);
        resolve(this.runs.get(key)!);
      };
      if (this.runs.get(key)?.completedAt !== undefined) done();
      else this.waiters.set(key, done);
    });
  }

  /** completion(), failing after timeoutMs or as soon as failure() names a reason (a dead instance). */
  async waitRun(
    syncId: string,
    runId: string,
    timeoutMs: number,
    failure: () => string | undefined,
  ): Promise<RunRecord> {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const failed = new Promise<never>((_, reject) => {
      const check = () => {
        const why = failure();
        if (why) reject(new Error(why));
        else if (Date.now() - t0 > timeoutMs) {
          reject(new Error(`run ${runId} of ${syncId} not completed after ${Math.round(timeoutMs / 1000)}s`));
        } else timer = setTimeout(check, 500);
      };
      check();
    });
    try {
      return await Promise.race([this.completion(syncId, runId), failed]);
    } finally {
      clearTimeout(timer);
    }
  }

  figures(syncId: string): SyncFigures {
    let f = this.syncs.get(syncId);
    if (!f) {
      f = {
        acceptedTokens: new Set(),
        appliedTokens: new Set(),
        acceptedItems: 0,
        perSecond: new Map(),
        retries: 0,
        deadLetters: 0,
        rejections: [],
      };
      this.syncs.set(syncId, f);
    }
    return f;
  }

  private run(e: StatusEventDecoded): RunRecord {
    const key = `${e.syncId}/${e.runId}`;
    let r = this.runs.get(key);
    if (!r) {
      r = { syncId: e.syncId, runId: e.runId ?? '' };
      this.runs.set(key, r);
    }
    return r;
  }
}

/**
 * Items per second while sending steadily: the mean of the whole seconds inside each stretch of
 * consecutive busy seconds. The first and last seconds of a stretch are partial, and the first also
 * holds the bucket's initial burst, so both are left out; undefined when no stretch is long enough.
 */
export function sustainedRate(perSecond: Map<number, number>): number | undefined {
  const seconds = [...perSecond.keys()].sort((a, b) => a - b);
  let items = 0;
  let count = 0;
  let stretch: number[] = [];
  const close = () => {
    // Two whole seconds at least, or a short burst would pass for a rate.
    const inner = stretch.length >= 4 ? stretch.slice(1, -1) : [];
    for (const s of inner) {
      items += perSecond.get(s)!;
      count++;
    }
    stretch = [];
  };
  for (const s of seconds) {
    if (stretch.length > 0 && s !== stretch[stretch.length - 1]! + 1) close();
    stretch.push(s);
  }
  close();
  return count === 0 ? undefined : items / count;
}
