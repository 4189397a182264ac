import { setTimeout as sleep } from 'node:timers/promises';
import { isRetriable } from '../../errors.js';
import type { Logger } from '../../logger.js';
import type { BatchClient } from './client.js';

export interface IndexingOptions {
  /** First wait after a token is issued, and after each APPLIED. @default 250 */
  minDelayMs: number;
  /** Longest wait between two polls of a pending token. @default 5000 */
  maxDelayMs: number;
  /** A token still pending after this long is given up (logged), so one stuck token cannot block. @default 900000 */
  maxAgeMs: number;
}

export const DEFAULT_INDEXING: IndexingOptions = { minDelayMs: 250, maxDelayMs: 5000, maxAgeMs: 15 * 60_000 };

interface Pending {
  token: string;
  itemIds: string[];
  since: number;
}

interface Poller {
  client: BatchClient;
  catalog: string;
  queue: Pending[];
  finished: boolean;
  done: Promise<void>;
}

/**
 * Polls `catalogs/view?indexing_token=` until each accepted request's token reads APPLIED, then calls
 * `onApplied`. One poller per catalog, oldest token first. Every token is polled: the docs do not say
 * that a later APPLIED implies the earlier ones.
 */
export class IndexingTracker {
  private readonly pollers = new Map<string, Poller>();
  private readonly stop = new AbortController();
  private readonly options: IndexingOptions;

  constructor(
    private readonly onApplied: (catalog: string, token: string, itemIds: string[]) => void,
    private readonly logger: Logger,
    options: Partial<IndexingOptions> = {},
  ) {
    this.options = { ...DEFAULT_INDEXING, ...options };
  }

  /** `key` tells catalogs of different projects apart; it is never logged. */
  track(key: string, client: BatchClient, catalog: string, token: string, itemIds: string[]): void {
    if (this.stop.signal.aborted) return;
    const pending: Pending = { token, itemIds, since: performance.now() };
    const poller = this.pollers.get(key);
    if (poller && !poller.finished) {
      poller.queue.push(pending);
      return;
    }
    const fresh: Poller = { client, catalog, queue: [pending], finished: false, done: Promise.resolve() };
    this.pollers.set(key, fresh);
    fresh.done = this.poll(fresh).finally(() => {
      if (this.pollers.get(key) === fresh) this.pollers.delete(key);
    });
  }

  /** Tokens not yet APPLIED. */
  get pending(): number {
    let n = 0;
    for (const p of this.pollers.values()) n += p.queue.length;
    return n;
  }

  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all([...this.pollers.values()].map((p) => p.done));
  }

  /** Runs until the queue is empty; `track` starts a new poller after that. */
  private async poll(poller: Poller): Promise<void> {
    const { minDelayMs, maxDelayMs, maxAgeMs } = this.options;
    let delay = minDelayMs;
    for (;;) {
      if (poller.queue.length === 0) {
        // Set before any await, so a token tracked from now on starts a new poller.
        poller.finished = true;
        return;
      }
      if (!(await this.pause(delay))) return;
      const head = poller.queue[0]!;
      let state: string | undefined;
      try {
        state = (await poller.client.viewCatalog(poller.catalog, head.token)).indexingState;
      } catch (err) {
        if (!isRetriable(err)) {
          // An unknown token (400) or a deleted catalog (404) will never turn APPLIED.
          this.logger.warn({ catalog: poller.catalog, err }, 'indexing token cannot be tracked; dropped');
          poller.queue.shift();
          continue;
        }
        this.logger.debug({ catalog: poller.catalog, err }, 'indexing poll failed; will retry');
      }
      if (state === 'APPLIED') {
        poller.queue.shift();
        delay = 0;
        this.emit(poller.catalog, head);
        continue;
      }
      if (state !== undefined && state !== 'IN_PROGRESS' && state !== 'IN_PROCESS') {
        this.logger.warn({ catalog: poller.catalog, state }, 'unexpected indexing_state; still polling');
      }
      if (performance.now() - head.since > maxAgeMs) {
        this.logger.warn(
          { catalog: poller.catalog, items: head.itemIds.length },
          'indexing token not APPLIED in time; dropped',
        );
        poller.queue.shift();
        delay = minDelayMs;
        continue;
      }
      delay = Math.min(maxDelayMs, Math.max(minDelayMs, delay * 2));
    }
  }

  /** Resolves false when the tracker is closing. */
  private async pause(ms: number): Promise<boolean> {
    if (this.stop.signal.aborted) return false;
    if (ms <= 0) return true;
    try {
      await sleep(ms, undefined, { signal: this.stop.signal });
      return true;
    } catch {
      return false;
    }
  }

  private emit(catalog: string, head: Pending): void {
    try {
      this.onApplied(catalog, head.token, head.itemIds);
    } catch (err) {
      this.logger.error({ catalog, err }, 'indexing_applied listener failed');
    }
  }
}
