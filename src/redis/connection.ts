import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { CatalogSyncError } from '../errors.js';

export type { Redis };

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/** A value that must not print (src/secret.ts's Secret): read only where the client is built. */
export interface Revealable {
  reveal(): string;
}

/** TLS to Redis (`rediss://`): server verification on by default, optional client certificate. */
export interface RedisTls {
  /** PEM CA bundle; without it, Node's default trust store (public CAs). */
  ca?: Revealable;
  cert?: Revealable;
  key?: Revealable;
  rejectUnauthorized?: boolean;
  servername?: string;
}

/** How to reach Redis beyond its URL: TLS and an ACL user (both may also be in the URL). */
export interface RedisAccess {
  tls?: RedisTls | undefined;
  username?: string | undefined;
  password?: Revealable | undefined;
  /** Redis Cluster: seed nodes (`host:port`); the URL's scheme and credentials still apply. */
  cluster?: { nodes: string[] } | undefined;
}

/** Connection behaviour a caller may change (the access probe turns reconnection off). */
export interface RedisBehaviour {
  lazyConnect?: boolean;
  retryStrategy?: () => number | null;
  maxRetriesPerRequest?: number;
  enableOfflineQueue?: boolean;
  connectTimeout?: number;
}

/**
 * ioredis options for a URL and access settings; settings given here win over the URL's. No CLIENT
 * SETINFO on connect (ioredis sends it by default): Redis 7.2+ checks it against the ACL user, which
 * the operators' rule (acl.ts) does not grant, and Redis 7.0 has no such subcommand to grant.
 */
export function redisOptions(url: string, access: RedisAccess = {}) {
  const { tls, username, password } = access;
  const wantsTls = tls !== undefined || /^rediss:/i.test(url);
  return {
    disableClientInfo: true,
    ...(username !== undefined ? { username } : {}),
    ...(password !== undefined ? { password: password.reveal() } : {}),
    ...(wantsTls
      ? {
          tls: {
            ...(tls?.ca ? { ca: tls.ca.reveal() } : {}),
            ...(tls?.cert ? { cert: tls.cert.reveal() } : {}),
            ...(tls?.key ? { key: tls.key.reveal() } : {}),
            rejectUnauthorized: tls?.rejectUnauthorized ?? true,
            ...(tls?.servername ? { servername: tls.servername } : {}),
          },
        }
      : {}),
  };
}

export function createRedis(
  url = process.env.REDIS_URL ?? DEFAULT_REDIS_URL,
  access: RedisAccess = {},
  extra: RedisBehaviour = {},
): Redis {
  if (access.cluster) return createCluster(url, access, access.cluster.nodes, extra);
  return new Redis(overridden(url, access), {
    maxRetriesPerRequest: 3,
    enableAutoPipelining: true,
    lazyConnect: false,
    ...redisOptions(url, access),
    ...extra,
  });
}

/**
 * A Redis Cluster client, typed as `Redis`: catalog-sync only calls commands both share, and every
 * multi-key call (scripts, MGET, pipelines) names keys of one hash tag (keys.ts), hence one slot.
 */
function createCluster(url: string, access: RedisAccess, nodes: string[], extra: RedisBehaviour): Redis {
  const fromUrl = (() => {
    try {
      const u = new URL(url);
      return {
        ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
        ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
      };
    } catch {
      return {};
    }
  })();
  const seeds = nodes.map((n) => {
    const at = n.lastIndexOf(':');
    return at > 0 ? { host: n.slice(0, at), port: Number(n.slice(at + 1)) } : { host: n, port: 6379 };
  });
  const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = extra;
  const cluster = new Cluster(seeds, {
    // Off on a cluster: while a slot moved (test/runtime/pipeline-reshard.integration.test.ts) ioredis's
    // auto-pipelining failed calls with "All keys in the pipeline should belong to the same slots
    // allocation group" (its slot map changed under a queued pipeline), once threw an uncaught
    // TypeError ("results[i] is not iterable", cf. ioredis #1931) and left a call unanswered, which
    // stalled the sync; without it the same test ends exact.
    enableAutoPipelining: false,
    lazyConnect: lazyConnect ?? false,
    ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    redisOptions: { maxRetriesPerRequest: 3, ...fromUrl, ...redisOptions(url, access), ...perNode },
  });
  return cluster as unknown as Redis;
}

/** ioredis lets a URL's user and password win over options: drop those the settings replace. */
function overridden(url: string, access: RedisAccess): string {
  if (access.username === undefined && access.password === undefined) return url;
  try {
    const u = new URL(url);
    if (access.username !== undefined) u.username = '';
    if (access.password !== undefined) u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

export type RedisAccessCode =
  | 'REDIS_AUTH_FAILED'
  | 'REDIS_ACL_DENIED'
  | 'REDIS_TLS_UNTRUSTED'
  | 'REDIS_TLS_FAILED'
  | 'REDIS_UNREACHABLE';

/**
 * Redis refused this instance for a reason no retry can fix (or stayed unreachable past the probe's
 * deadline). `code` names the cause; the message never holds a password or a key.
 */
export class RedisAccessError extends CatalogSyncError {
  constructor(code: RedisAccessCode, message: string, cause?: unknown) {
    super(code, message, { retriable: false, cause });
  }
}

const UNTRUSTED =
  /^(UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_|INVALID_CA|ERR_TLS_CERT_ALTNAME_INVALID)/;
/** The server's TLS alerts about the client certificate (Redis with tls-auth-clients yes). */
const CLIENT_CERT_REFUSED = /ALERT_(CERTIFICATE_REQUIRED|UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN)/;
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Sorts a Redis connection or command failure: a RedisAccessError when no retry can fix it. */
export function classifyRedisError(err: unknown): RedisAccessError | undefined {
  if (err instanceof RedisAccessError) return err;
  // A cluster that could not load its slots carries the last node's failure.
  const lastNodeError = (err as { lastNodeError?: unknown } | undefined)?.lastNodeError;
  if (lastNodeError) return classifyRedisError(lastNodeError);
  if (!(err instanceof Error)) return undefined;
  const raw = (err as Error & { code?: unknown }).code;
  const code = typeof raw === 'string' ? raw : '';
  const message = (err.message.split('\n')[0] ?? '').trim();
  if (/^(WRONGPASS|NOAUTH)/.test(message) || /invalid (username-)?password/i.test(message)) {
    return new RedisAccessError(
      'REDIS_AUTH_FAILED',
      `Redis rejected the credentials (check redis.username and redis.password, or the URL's): ${message.split(' ')[0]}`,
      err,
    );
  }
  if (message.startsWith('NOPERM')) {
    return new RedisAccessError(
      'REDIS_ACL_DENIED',
      `the Redis ACL user may not run what catalog-sync needs (see "Connecting to a secured Redis" in docs/operations.md): ${message}`,
      err,
    );
  }
  if (UNTRUSTED.test(code)) {
    return new RedisAccessError(
      'REDIS_TLS_UNTRUSTED',
      `Redis's TLS certificate is not trusted (check redis.tls.ca and the host name): ${code}`,
      err,
    );
  }
  if (CLIENT_CERT_REFUSED.test(code)) {
    return new RedisAccessError(
      'REDIS_TLS_FAILED',
      `Redis refused this client's TLS certificate (${code}): set redis.tls.cert and redis.tls.key to a client certificate Redis's CA signed`,
      err,
    );
  }
  if (code.startsWith('ERR_SSL_') || code === 'EPROTO' || /alert|handshake/i.test(code)) {
    return new RedisAccessError(
      'REDIS_TLS_FAILED',
      `TLS to Redis failed (${code}); is this a TLS port?`,
      err,
    );
  }
  return undefined;
}

/**
 * Connects once, without ioredis's reconnection loop, and runs a command the product needs on a key
 * under `keyPrefix`, so a refusal (wrong password, untrusted certificate, an ACL without the commands
 * or keys) fails at once with a RedisAccessError. A Redis that does not answer is tried again until
 * `timeoutMs`, then reported as REDIS_UNREACHABLE.
 */
export async function checkRedisAccess(
  url: string,
  access: RedisAccess,
  keyPrefix: string,
  probe: { timeoutMs?: number; pauseMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (probe.timeoutMs ?? 30_000);
  let last: unknown;
  for (let attempt = 0; attempt < 1000; attempt++) {
    const redis = createRedis(url, access, {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      connectTimeout: 5000,
    });
    let emitted: unknown;
    redis.on('error', (err: unknown) => {
      emitted ??= err;
    });
    try {
      await redis.connect();
      await redis.pttl(`${keyPrefix}:access-check`);
      return;
    } catch (err) {
      const verdict = classifyRedisError(emitted) ?? classifyRedisError(err);
      if (verdict) throw verdict;
      last = emitted ?? err;
    } finally {
      redis.disconnect();
    }
    if (Date.now() + (probe.pauseMs ?? 1000) > deadline) break;
    await new Promise((r) => setTimeout(r, probe.pauseMs ?? 1000));
  }
  const why = last instanceof Error ? (last.message.split('\n')[0] ?? '') : String(last);
  const code = (last as { code?: unknown } | undefined)?.code;
  throw new RedisAccessError(
    'REDIS_UNREACHABLE',
    `Redis did not answer (${typeof code === 'string' && NETWORK.has(code) ? code : why})`,
    last,
  );
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
