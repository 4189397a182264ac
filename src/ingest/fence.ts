/**
 * Which partitions have requests on the wire, shared by every instance of a consumer group through one
 * Redis sorted set per topic. A request registers the partitions (and assignment owners) of its items
 * before it leaves and removes them once answered; an entry also ends at its deadline, since a crashed
 * instance removes nothing.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineScript, type Redis, runScript } from '../redis/connection.js';

export interface FenceOptions {
  /** How long an entry outlives a request that never answers: above the destinations' HTTP timeouts. */
  ttlMs: number;
  /** @default 100 */
  pollMs?: number;
}

export class InFlightFence {
  private readonly enterScript: string;
  private readonly busyScript: string;
  private readonly process = randomUUID().slice(0, 8);
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly opts: FenceOptions,
  ) {
    this.enterScript = defineScript(redis, new URL('.', import.meta.url), 'fenceEnter-1.lua');
    this.busyScript = defineScript(redis, new URL('.', import.meta.url), 'fenceBusy-1.lua');
  }

  /** An owner name no other instance or assignment uses. */
  owner(instanceId: string): string {
    return `${instanceId.replace(/\|/g, '_')}/${this.process}/${++this.seq}`;
  }

  /** Registers one request for these partitions; the returned function removes it once answered. */
  async enter(entries: { partition: number; owner: string }[]): Promise<() => Promise<void>> {
    if (entries.length === 0) return async () => undefined;
    const request = `${this.process}.${++this.seq}`;
    const prefixes = entries.map((e) => `${e.partition}|${e.owner}`);
    await runScript(this.redis, this.enterScript, [this.key], [this.opts.ttlMs, request, ...prefixes]);
    return async () => {
      await this.redis.zrem(this.key, ...prefixes.map((p) => `${p}|${request}`));
    };
  }

  /** Resolves once no other owner has a request on the wire for the partition, or when `abort` says so. */
  async waitClear(owner: string, partition: number, abort: () => boolean): Promise<void> {
    while (!abort()) {
      const busy = await runScript<number>(this.redis, this.busyScript, [this.key], [owner, partition]);
      if (Number(busy) === 0) return;
      await sleep(this.opts.pollMs ?? 100);
    }
  }
}
