import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

export type { Redis };

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function createRedis(url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
}

/**
 * Registers a Lua script kept beside its loader as `<name>-<numberOfKeys>.lua` (BullMQ's naming), so
 * ioredis runs it by EVALSHA and resends the body on NOSCRIPT. Idempotent per connection.
 */
export function defineScript(redis: Redis, dir: URL, file: string): string {
  const match = /^(.+)-(\d+)\.lua$/.exec(file);
  if (!match) throw new Error(`Lua script name must be <name>-<keys>.lua: ${file}`);
  const [, name, keys] = match as unknown as [string, string, string];
  if (!(name in redis)) {
    redis.defineCommand(name, { numberOfKeys: Number(keys), lua: readFileSync(new URL(file, dir), 'utf8') });
  }
  return name;
}

/** Calls a script registered with defineScript. */
export async function runScript<T>(redis: Redis, name: string, keys: string[], args: (string | number)[]) {
  const fn = (redis as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[name];
  if (!fn) throw new Error(`Lua script ${name} is not defined on this connection`);
  return fn.call(redis, ...keys, ...args);
}
