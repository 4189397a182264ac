/**
 * An operator's pause of one sync, shared by the group: a Redis key under the sync's hash tag. While it
 * is set, no instance sends the sync's requests: changes keep being consumed, planned and buffered, a
 * request that is due waits right before it would take its tokens, and the consumer's window of
 * unsettled events per partition stops fetching once it is full. Nothing settles, so nothing is lost,
 * and the order per item is the buffer's as usual.
 */
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';

export interface PauseInfo {
  /** Epoch ms when the pause was set (the setter's clock). */
  at: number;
  /** Who paused it, as given to the API (e.g. `admin-api@<instance>`). */
  by: string;
  reason: string | null;
}

export class SyncPause {
  private readonly key: string;

  constructor(
    private readonly redis: Redis,
    keys: Keys,
    readonly syncId: string,
  ) {
    this.key = keys.sync(syncId, 'paused');
  }

  /** The pause, or null when the sync is running. */
  async get(): Promise<PauseInfo | null> {
    const raw = await this.redis.get(this.key);
    if (raw === null) return null;
    try {
      const v = JSON.parse(raw) as Partial<PauseInfo>;
      return { at: Number(v.at ?? 0), by: String(v.by ?? ''), reason: v.reason ?? null };
    } catch {
      // A value written by hand still pauses: the key's presence is the flag.
      return { at: 0, by: 'unknown', reason: raw };
    }
  }

  async isPaused(): Promise<boolean> {
    return (await this.redis.get(this.key)) !== null;
  }

  /** Sets the pause (again: the first setter's record is replaced); answers the record. */
  async pause(by: string, reason: string | null = null): Promise<PauseInfo> {
    const info: PauseInfo = { at: Date.now(), by, reason };
    await this.redis.set(this.key, JSON.stringify(info));
    return info;
  }

  /** Clears the pause; true when the sync was paused. */
  async resume(): Promise<boolean> {
    return (await this.redis.del(this.key)) > 0;
  }
}
