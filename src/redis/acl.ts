/**
 * The Redis commands catalog-sync runs, for an ACL user that may run nothing else: the Lua scripts'
 * (a script's redis.call is checked against the caller's ACL too), the direct calls, and ioredis's
 * INFO ready check. test/redis/acl.test.ts checks every script against this list.
 */
export const REDIS_COMMANDS = [
  // Scripts run by EVALSHA, and EVAL when Redis does not know them yet (NOSCRIPT).
  'evalsha',
  'eval',
  // ioredis's ready check after connecting.
  'info',
  // Direct calls (state reads, rate bucket inspection, locks, Yotpo contact cache, fence) and scripts.
  'del',
  'expire',
  'get',
  'getbit',
  'hdel',
  'hexists',
  'hget',
  'hgetall',
  'hincrby',
  'hlen',
  'hmget',
  'hscan',
  'hset',
  'lpush',
  'lrange',
  'ltrim',
  'mget',
  'pexpire',
  'pttl',
  'sadd',
  'scard',
  'set',
  'setbit',
  'sismember',
  'spop',
  'time',
  // Restoring a lost sync state drops what is left of it without blocking Redis (planning/restore.ts).
  'unlink',
  'zadd',
  'zrange',
  'zrangebyscore',
  'zrem',
  'zremrangebyscore',
] as const;

/** Redis Cluster only: ioredis reads the slot map (CLUSTER SLOTS) and checks the state (CLUSTER INFO). */
export const REDIS_CLUSTER_COMMANDS = ['cluster|slots', 'cluster|info'] as const;

/**
 * The ACL rule of a catalog-sync user: its keys only (`~<prefix>:*`), no Pub/Sub channels, and only
 * the commands above. `password` goes in as `>password`; pass `'<password>'` for documentation.
 */
export function aclRule(
  user: string,
  password: string,
  keyPrefix: string,
  opts: { cluster?: boolean } = {},
): string {
  const all = [...REDIS_COMMANDS, ...(opts.cluster ? REDIS_CLUSTER_COMMANDS : [])];
  const commands = all.map((c) => `+${c}`).join(' ');
  return `${user} on >${password} resetkeys ~${keyPrefix}:* resetchannels -@all ${commands}`;
}
