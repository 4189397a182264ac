import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Redis } from 'ioredis';

export type { Redis };

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export function createRedis(url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 3, enableAutoPipelining: true, lazyConnect: false });
}

interface Script {
  lua: string;
  sha: string;
  keys: number;
}

/** Scripts by name, per connection: a connection only runs what was defined on it. */
const scripts = new WeakMap<Redis, Map<string, Script>>();

/**
 * Registers a Lua script kept beside its loader as `<name>-<numberOfKeys>.lua` (BullMQ's naming); it
 * runs by EVALSHA, and by EVAL once when Redis does not know it yet (NOSCRIPT). Idempotent per
 * connection.
 */
export function defineScript(redis: Redis, dir: URL, file: string): string {
  const match = /^(.+)-(\d+)\.lua$/.exec(file);
  const [name, keys] = [match?.[1], match?.[2]];
  if (!name || !keys) throw new Error(`Lua script name must be <name>-<keys>.lua: ${file}`);
  let mine = scripts.get(redis);
  if (!mine) {
    mine = new Map();
    scripts.set(redis, mine);
  }
  if (!mine.has(name)) {
    const lua = readFileSync(new URL(file, dir), 'utf8');
    mine.set(name, { lua, sha: createHash('sha1').update(lua).digest('hex'), keys: Number(keys) });
  }
  return name;
}

/** Calls a script registered with defineScript; `T` is the reply's shape, as its header documents. */
export async function runScript<T>(
  redis: Redis,
  name: string,
  keys: string[],
  args: (string | number)[],
): Promise<T> {
  const script = scripts.get(redis)?.get(name);
  if (!script) throw new Error(`Lua script ${name} is not defined on this connection`);
  if (keys.length !== script.keys)
    throw new Error(`Lua script ${name} takes ${script.keys} keys, not ${keys.length}`);
  try {
    return (await redis.evalsha(script.sha, keys.length, ...keys, ...args)) as T;
  } catch (err) {
    if (!(err instanceof Error && err.message.startsWith('NOSCRIPT'))) throw err;
    return (await redis.eval(script.lua, keys.length, ...keys, ...args)) as T;
  }
}
