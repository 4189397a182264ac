/**
 * Puts a run's RUN_STARTED on the status topic before any other event of the run, whichever instance
 * writes them. Rows of a run can be consumed (on other partitions, by other instances) before its
 * RUN_STARTED marker; so whichever instance first has something to publish for the run publishes
 * RUN_STARTED first, once for the group, with a Redis key under the sync's hash tag:
 * absent → `claimed:<token>` (SET NX, expires after CLAIM_MS in case the claimer dies) → `published`
 * (kept a week). Another instance that finds the claim waits for `published` — a Kafka acknowledgement
 * away, never for the consumer to move on — or claims it again when the claim expired.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';

const CLAIM_MS = 5000;
const PUBLISHED_TTL_SEC = 7 * 24 * 3600;

export class RunStartGate {
  private readonly token = randomUUID();
  /** Runs known to have their RUN_STARTED on the topic; bounded. */
  private readonly published = new Set<string>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly syncId: string,
  ) {}

  /**
   * Resolves once the run's RUN_STARTED is on the topic: published by `publish` (which must resolve
   * only once it is acknowledged) if no instance did it before. Answers whether this call published it.
   */
  async ensureStarted(runId: string, publish: () => Promise<void>): Promise<boolean> {
    if (this.published.has(runId)) return false;
    const key = this.keys.sync(this.syncId, `status-started:${runId}`);
    for (;;) {
      const claimed = await this.redis.set(key, `claimed:${this.token}`, 'PX', CLAIM_MS, 'NX');
      if (claimed === 'OK') {
        await publish();
        await this.redis.set(key, 'published', 'EX', PUBLISHED_TTL_SEC);
        this.remember(runId);
        return true;
      }
      const now = await this.redis.get(key);
      if (now === 'published') {
        this.remember(runId);
        return false;
      }
      // Another instance is publishing it (or its claim expires, and the next round claims it).
      if (now !== null) await sleep(20);
    }
  }

  private remember(runId: string): void {
    if (this.published.size >= 1000) this.published.clear();
    this.published.add(runId);
  }
}
