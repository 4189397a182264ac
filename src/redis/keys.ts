/**
 * Every Redis key catalog-sync uses is built here. Keys that one Lua script touches together share a
 * hash tag (`{...}`) so the script works on Redis Cluster. `prefix` isolates deployments and tests.
 */
export interface Keys {
  readonly prefix: string;
  /** Token buckets (requests and items) of one destination account (Batch project, Yotpo store). */
  bucket(account: string): string;
  /** Shared back-off after a 429 for that account: a key whose PTTL is the pause. */
  pause(account: string): string;
  /** Lock held while one instance creates or updates a catalog. */
  catalogLock(account: string, catalog: string): string;
  /** Per-sync state: membership, fingerprints, runs; one hash tag per sync. */
  sync(syncId: string, part: string): string;
  /** Whether one Yotpo contact exists (`1`/`0`, with a TTL); `contact` is a hash of its identity. */
  yotpoContact(store: string, contact: string): string;
  /** Requests on the wire per partition of one consumer group's topic (see ingest/fence.ts). */
  inFlight(groupId: string, topic: string): string;
  /** The group generation owning each partition of that topic (zombie fence, see ingest/fence.ts). */
  generations(groupId: string, topic: string): string;
}

export function createKeys(prefix = 'cs'): Keys {
  return {
    prefix,
    bucket: (account) => `${prefix}:rl:{${account}}:bucket`,
    pause: (account) => `${prefix}:rl:{${account}}:pause`,
    catalogLock: (account, catalog) => `${prefix}:catalog-lock:{${account}}:${catalog}`,
    sync: (syncId, part) => `${prefix}:sync:{${syncId}}:${part}`,
    yotpoContact: (store, contact) => `${prefix}:yotpo:{${store}}:contact:${contact}`,
    inFlight: (groupId, topic) => `${prefix}:inflight:{${groupId}}:${topic}`,
    generations: (groupId, topic) => `${prefix}:generation:{${groupId}}:${topic}`,
  };
}
