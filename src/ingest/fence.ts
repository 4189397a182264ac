/**
 * Which partitions have requests on the wire, shared by every instance of a consumer group through one
 * Redis sorted set per topic. A request registers the partitions (and assignment owners) of its items
 * before it leaves and removes them once answered; an entry also ends at its deadline, since a crashed
 * instance removes nothing.
 *
 * It also fences zombies: each partition's owning group generation is kept in a Redis hash, claimed at
 * assignment (`claim`); a request whose assignment belongs to an older generation is refused when it
 * registers (`enter` throws GenerationFencedError), atomically with the registration, so an instance the
 * group expelled (cut from Kafka, paused) sends nothing once the new owner claimed the partition.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { CatalogSyncError } from '../errors.js';
import { defineScript, type Redis, runScript } from '../redis/connection.js';

export interface FenceOptions {
  /** How long an entry outlives a request that never answers: above the destinations' HTTP timeouts. */
  ttlMs: number;
  /** Hash of the owning generation per partition (keys.generations), same hash tag as the fence key. */
  generationKey: string;
  /**
   * A claim may replace a newer generation's entry older than this (the group was deleted and its
   * generations restarted). @default 600000 (10 min: far above session and rebalance timeouts)
   */
  resetAfterMs?: number;
  /** @default 100 */
  pollMs?: number;
}

/** One partition of a request, with the assignment owning it and that assignment's group generation. */
export interface FenceEntry {
  partition: number;
  owner: string;
  /** Unknown (undefined): not checked. */
  generation?: number | undefined;
}

/**
 * A newer generation of the consumer group owns these partitions: this instance was expelled from the
 * group (a zombie) and must not send their items; the new owner replays them from the last commit.
 */
export class GenerationFencedError extends CatalogSyncError {
  constructor(readonly partitions: number[]) {
    super(
      'GENERATION_FENCED',
      `a newer consumer group generation owns partition(s) ${partitions.join(', ')}; this instance's ` +
        'assignment of them is over',
    );
  }
}

export class InFlightFence {
  private readonly enterScript: string;
  private readonly busyScript: string;
  private readonly claimScript: string;
  private readonly process = randomUUID().slice(0, 8);
  private seq = 0;

  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly opts: FenceOptions,
  ) {
    this.enterScript = defineScript(redis, new URL('.', import.meta.url), 'fenceEnter-2.lua');
    this.busyScript = defineScript(redis, new URL('.', import.meta.url), 'fenceBusy-1.lua');
    this.claimScript = defineScript(redis, new URL('.', import.meta.url), 'fenceClaim-1.lua');
  }

  /** An owner name no other instance or assignment uses. */
  owner(instanceId: string): string {
    return `${instanceId.replace(/\|/g, '_')}/${this.process}/${++this.seq}`;
  }

  /** Records this generation as the partitions' owner; answers the partitions a newer one holds. */
  async claim(generation: number, partitions: readonly number[]): Promise<number[]> {
    if (partitions.length === 0) return [];
    const refused = await runScript<(string | number)[]>(
      this.redis,
      this.claimScript,
      [this.opts.generationKey],
      [generation, this.opts.resetAfterMs ?? 600_000, ...partitions],
    );
    return refused.map(Number);
  }

  /**
   * Registers one request for these partitions; the returned function removes it once answered.
   * Throws GenerationFencedError, registering nothing, if a newer generation owns one of them.
   */
  async enter(entries: FenceEntry[]): Promise<() => Promise<void>> {
    if (entries.length === 0) return async () => undefined;
    const request = `${this.process}.${++this.seq}`;
    const prefixes = entries.map((e) => `${e.partition}|${e.owner}`);
    const args = entries.flatMap((e) => [`${e.partition}|${e.owner}`, e.generation ?? '']);
    const refused = await runScript<(string | number)[]>(
      this.redis,
      this.enterScript,
      [this.key, this.opts.generationKey],
      [this.opts.ttlMs, request, ...args],
    );
    if (refused.length > 0) throw new GenerationFencedError([...new Set(refused.map(Number))]);
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
