/**
 * Starts, reuses or stops the local stack (Kafka in KRaft mode, the development schema registry, Redis)
 * without Docker. Every service is reused when something already answers at its endpoint; only what
 * this module started is recorded in pid files, so `down` stops nothing else.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { DEFAULT_KAFKA_BROKERS, parseBrokers } from '../src/kafka/client.js';
import { fetchKafkaJars, kafkaAnswers, kafkaPaths, startKafka } from './kafka.js';
import {
  freePort,
  isAlive,
  portFree,
  readPid,
  StackError,
  spawnDetached,
  stopPid,
  waitFor,
} from './process.js';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:18081';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface Endpoints {
  kafkaBrokers: string;
  registryUrl: string;
  redisUrl: string;
}

export interface StackReport extends Endpoints {
  /** Services this call started (the rest were already answering). */
  started: string[];
}

const stateDir = (root: string) => join(root, '.devstack');
const endpointsFile = (root: string) => join(stateDir(root), 'endpoints.json');
const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function configuredEndpoints(env = process.env): Endpoints {
  return {
    kafkaBrokers: env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS,
    registryUrl: env.SCHEMA_REGISTRY_URL ?? DEFAULT_REGISTRY_URL,
    redisUrl: env.REDIS_URL ?? DEFAULT_REDIS_URL,
  };
}

/** Endpoints written by the last `up`, so later commands find a Redis started on a fallback port. */
export function recordedEndpoints(root = ROOT): Endpoints | undefined {
  const f = endpointsFile(root);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as Endpoints) : undefined;
}

export async function registryAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url}/subjects`, { signal: AbortSignal.timeout(1500) });
    return res.ok;
  } catch {
    return false;
  }
}

export async function redisAnswers(url: string): Promise<boolean> {
  const r = new Redis(url, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
  });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

function hostPort(endpoint: string, what: string): { host: string; port: number } {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  if (!m) throw new StackError(`${what}: expected host:port, got ${endpoint}`);
  return { host: m[1]!, port: Number(m[2]) };
}

async function ensureKafka(root: string, brokers: string, say: (s: string) => void): Promise<boolean> {
  if (await kafkaAnswers(brokers)) return false;
  const { host, port } = hostPort(parseBrokers(brokers)[0]!, 'KAFKA_BROKERS');
  if (!LOOPBACK.has(host))
    throw new StackError(`Kafka at ${brokers} does not answer (not local, so not started here)`);
  const paths = kafkaPaths(root);
  const running = readPid(join(paths.dir, 'kafka.pid'));
  if (running === undefined || !isAlive(running)) {
    for (const p of [port, port + 1]) {
      if (!(await portFree(host, p))) {
        throw new StackError(
          `port ${host}:${p} is taken by another process; set KAFKA_BROKERS to a free port`,
        );
      }
    }
    fetchKafkaJars(paths, say);
    say(`starting Kafka (KRaft) on ${host}:${port}...`);
    startKafka(paths, { host, port, controllerPort: port + 1 });
  }
  const pid = readPid(join(paths.dir, 'kafka.pid'));
  await waitFor('Kafka', () => kafkaAnswers(brokers), {
    timeoutMs: 90_000,
    log: join(paths.dir, 'kafka.log'),
    ...(pid === undefined ? {} : { pid }),
  });
  return true;
}

async function ensureRegistry(root: string, url: string, brokers: string, say: (s: string) => void) {
  if (await registryAnswers(url)) return false;
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname))
    throw new StackError(`schema registry at ${url} does not answer (not local)`);
  const dir = join(stateDir(root), 'registry');
  mkdirSync(dir, { recursive: true });
  const log = join(dir, 'registry.log');
  const pidFile = join(dir, 'registry.pid');
  let pid = readPid(pidFile);
  if (pid === undefined || !isAlive(pid)) {
    const port = Number(u.port || 80);
    if (!(await portFree(u.hostname, port))) {
      throw new StackError(`port ${u.hostname}:${port} is taken by another process; set SCHEMA_REGISTRY_URL`);
    }
    say(`starting the development schema registry on ${url}...`);
    pid = spawnDetached(
      process.execPath,
      [
        '--import',
        'tsx',
        join(root, 'devstack/registry/main.ts'),
        '--port',
        String(port),
        '--host',
        u.hostname,
        '--brokers',
        brokers,
      ],
      { cwd: root, log, pidFile },
    );
  }
  await waitFor('schema registry', () => registryAnswers(url), { timeoutMs: 45_000, log, pid });
  return true;
}

async function ensureRedis(root: string, url: string, explicit: boolean, say: (s: string) => void) {
  if (await redisAnswers(url)) return { url, started: false };
  const dir = join(stateDir(root), 'redis');
  const pidFile = join(dir, 'redis.pid');
  const recorded = recordedEndpoints(root)?.redisUrl;
  const pid = readPid(pidFile);
  if (recorded && pid !== undefined && isAlive(pid) && (await redisAnswers(recorded)))
    return { url: recorded, started: false };
  if (explicit)
    throw new StackError(`Redis at ${url} does not answer (REDIS_URL is set, so nothing is started)`);
  mkdirSync(dir, { recursive: true });
  const port = await freePort('127.0.0.1', 16379);
  const started = `redis://127.0.0.1:${port}`;
  say(`no Redis at ${url}; starting redis-server on ${started}...`);
  const log = join(dir, 'redis.log');
  const newPid = spawnDetached(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { cwd: dir, log, pidFile },
  );
  await waitFor('Redis', () => redisAnswers(started), { timeoutMs: 15_000, log, pid: newPid });
  return { url: started, started: true };
}

export async function stackUp(
  opts: { root?: string; env?: NodeJS.ProcessEnv; say?: (s: string) => void } = {},
) {
  const root = opts.root ?? ROOT;
  const env = opts.env ?? process.env;
  const say = opts.say ?? (() => undefined);
  const wanted = configuredEndpoints(env);
  const started: string[] = [];
  if (await ensureKafka(root, wanted.kafkaBrokers, say)) started.push('kafka');
  if (await ensureRegistry(root, wanted.registryUrl, wanted.kafkaBrokers, say))
    started.push('schema-registry');
  const redis = await ensureRedis(root, wanted.redisUrl, env.REDIS_URL !== undefined, say);
  if (redis.started) started.push('redis');
  const report: StackReport = { ...wanted, redisUrl: redis.url, started };
  mkdirSync(stateDir(root), { recursive: true });
  writeFileSync(endpointsFile(root), `${JSON.stringify({ ...wanted, redisUrl: redis.url }, null, 2)}\n`);
  return report;
}

/** Stops what `stackUp` started (pid files), in reverse order; returns the services stopped. */
export async function stackDown(root = ROOT): Promise<string[]> {
  const stopped: string[] = [];
  const dir = stateDir(root);
  for (const [name, pidFile] of [
    ['schema-registry', join(dir, 'registry/registry.pid')],
    ['kafka', join(dir, 'kafka/kafka.pid')],
    ['redis', join(dir, 'redis/redis.pid')],
  ] as const) {
    if ((await stopPid(pidFile, name === 'kafka' ? 30_000 : 10_000)) !== undefined) stopped.push(name);
  }
  return stopped;
}
