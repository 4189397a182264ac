/**
 * Starts, reuses or stops the local stack (Kafka in KRaft mode, Apicurio Registry, Redis) without Docker.
 * Every service is reused when something already answers at its endpoint; only what this module started
 * is recorded in pid files, so `down` stops nothing else.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import {
  APICURIO_VERSION,
  apicurioPaths,
  CCOMPAT_PATH,
  fetchApicurio,
  findJava,
  prepareStorage,
  startApicurio,
  storageCluster,
} from './apicurio.js';
import { fetchKafkaJars, kafkaAnswers, kafkaClusterId, kafkaPaths, startKafka } from './kafka.js';
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
import { ensureRedisCluster, redisClusterPlace, stopRedisCluster } from './redis-cluster.js';

export const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
export const DEFAULT_REGISTRY_URL = `http://127.0.0.1:18090${CCOMPAT_PATH}`;
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';

export interface Endpoints {
  kafkaBrokers: string;
  registryUrl: string;
  redisUrl: string;
}

export interface StackReport extends Endpoints {
  /** Services this call started (the rest were already answering). */
  started: string[];
  /** With `redisCluster`: the seed nodes (host:port) of the 3-master cluster. */
  redisClusterNodes?: string[];
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

/** A real Confluent API request answered: the subject list (a JSON array), from any compatible registry. */
export async function registryAnswers(url: string): Promise<boolean> {
  try {
    const res = await fetch(`${url.replace(/\/+$/, '')}/subjects`, { signal: AbortSignal.timeout(1500) });
    return res.ok && Array.isArray(await res.json());
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

/** `whileStarting` runs once Kafka is launched (or found), before waiting for it to answer. */
async function ensureKafka(
  root: string,
  brokers: string,
  say: (s: string) => void,
  launched: (name: string) => void,
  whileStarting: () => void = () => undefined,
): Promise<boolean> {
  if (await kafkaAnswers(brokers)) {
    whileStarting();
    return false;
  }
  const { host, port } = hostPort(brokers.split(',')[0]?.trim() ?? '', 'KAFKA_BROKERS');
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
    launched('kafka');
  }
  whileStarting();
  const pid = readPid(join(paths.dir, 'kafka.pid'));
  await waitFor('Kafka', () => kafkaAnswers(brokers), {
    timeoutMs: 90_000,
    log: join(paths.dir, 'kafka.log'),
    ...(pid === undefined ? {} : { pid }),
  });
  return true;
}

/** Is the registry at `url` one `services:up` may start: Apicurio's Confluent API on this machine? */
export function registryStartable(url: string): { host: string; port: number } {
  const u = new URL(url);
  if (!LOOPBACK.has(u.hostname))
    throw new StackError(`schema registry at ${url} does not answer (not local, so not started here)`);
  if (u.pathname.replace(/\/+$/, '') !== CCOMPAT_PATH) {
    throw new StackError(
      `nothing answers at SCHEMA_REGISTRY_URL=${url}; services:up starts Apicurio Registry, whose ` +
        `Confluent-compatible API is at http://127.0.0.1:PORT${CCOMPAT_PATH}: set SCHEMA_REGISTRY_URL to such a URL`,
    );
  }
  return { host: u.hostname, port: Number(u.port || 80) };
}

async function ensureRegistry(
  root: string,
  url: string,
  brokers: string,
  say: (s: string) => void,
  launched: (name: string) => void,
  fetching: Promise<void> | undefined,
): Promise<boolean> {
  const paths = apicurioPaths(root);
  const pidFile = join(paths.dir, 'apicurio.pid');
  const log = join(paths.dir, 'apicurio.log');
  const cluster = await kafkaClusterId(brokers);
  let pid = readPid(pidFile);
  if (await registryAnswers(url)) {
    const stored = storageCluster(paths);
    const ours = pid !== undefined && isAlive(pid) && stored?.url === url;
    if (!ours || stored.kafkaClusterId === cluster) return false;
    // Our registry holds the ids of a Kafka cluster whose data is gone: its messages carry none of them.
    say(
      'Kafka is a new cluster since Apicurio Registry started; restarting the registry on empty storage...',
    );
    await stopPid(pidFile, 10_000);
    pid = undefined;
  }
  const { host, port } = registryStartable(url);
  if (pid === undefined || !isAlive(pid)) {
    for (const p of [port, port + 1]) {
      if (!(await portFree(host, p))) {
        throw new StackError(
          `port ${host}:${p} is taken by another process; Apicurio Registry needs the port of ` +
            'SCHEMA_REGISTRY_URL and the next one (management): set SCHEMA_REGISTRY_URL to free ports',
        );
      }
    }
    const { java } = findJava();
    await (fetching ?? fetchApicurio(paths, say));
    if (prepareStorage(paths, { kafkaClusterId: cluster, url })) {
      say('Kafka is a new cluster: wiped the registry storage that held the ids of the previous one');
    }
    say(`starting Apicurio Registry ${APICURIO_VERSION} on ${url} (${java})...`);
    pid = startApicurio(paths, { java, host, port, managementPort: port + 1 }).pid;
    launched('schema-registry');
  }
  await waitFor('Apicurio Registry', () => registryAnswers(url), { timeoutMs: 90_000, log, pid });
  return true;
}

async function ensureRedis(
  root: string,
  url: string,
  explicit: boolean,
  say: (s: string) => void,
  launched: (name: string) => void,
) {
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
  launched('redis');
  await waitFor('Redis', () => redisAnswers(started), { timeoutMs: 15_000, log, pid: newPid });
  return { url: started, started: true };
}

/** Why `stackUp` failed, after it stopped what it had launched itself (`stopped`). */
export class StackUpError extends StackError {
  constructor(
    readonly reason: unknown,
    readonly stopped: string[],
  ) {
    super(
      `${reason instanceof Error ? reason.message : String(reason)}` +
        (stopped.length ? `\n(stopped what this call had started: ${stopped.join(', ')})` : ''),
    );
    this.name = 'StackUpError';
  }
}

/**
 * Starts what does not answer yet. A failure half way stops the services this call launched (not
 * those it reused, nor one an earlier call left running) and throws a StackUpError naming them.
 */
export async function stackUp(
  opts: {
    root?: string;
    env?: NodeJS.ProcessEnv;
    say?: (s: string) => void;
    /** Also start (or reuse) the 3-master Redis Cluster of devstack/redis-cluster.ts. */
    redisCluster?: boolean;
  } = {},
) {
  const root = opts.root ?? ROOT;
  const env = opts.env ?? process.env;
  const launched: string[] = [];
  try {
    return await up(
      root,
      env,
      opts.say ?? (() => undefined),
      (name) => {
        launched.push(name);
      },
      opts.redisCluster ?? false,
    );
  } catch (err) {
    throw new StackUpError(err, await stopLaunched(root, launched, env));
  }
}

/** Stops, latest first, the services named (pid files of PID_FILES); returns those that were running. */
export async function stopLaunched(
  root: string,
  names: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of [...names].reverse()) {
    if (name === 'redis-cluster') {
      if (await stopRedisCluster(redisClusterPlace(root, env).dir)) stopped.push(name);
      continue;
    }
    const pidFile = PID_FILES[name];
    if (pidFile === undefined) continue;
    if ((await stopPid(join(root, pidFile), STOP_GRACE_MS[name] ?? 10_000)) !== undefined) stopped.push(name);
  }
  return stopped;
}

async function up(
  root: string,
  env: NodeJS.ProcessEnv,
  say: (s: string) => void,
  launched: (name: string) => void,
  redisCluster: boolean,
): Promise<StackReport> {
  const wanted = configuredEndpoints(env);
  // Checked first, so that a bad REDIS_CLUSTER_PORT fails before anything starts.
  const clusterPlace = redisCluster ? redisClusterPlace(root, env) : undefined;
  const started: string[] = [];
  // A registry to start here is fetched (first run only) while Kafka boots; without Java 21+ nothing starts.
  let fetching: Promise<void> | undefined;
  const startRegistry = !(await registryAnswers(wanted.registryUrl));
  if (startRegistry) {
    registryStartable(wanted.registryUrl);
    findJava();
  }
  const prefetch = () => {
    if (!startRegistry) return;
    fetching = fetchApicurio(apicurioPaths(root), say);
    fetching.catch(() => undefined); // awaited, and reported, by ensureRegistry
  };
  if (await ensureKafka(root, wanted.kafkaBrokers, say, launched, prefetch)) started.push('kafka');
  if (await ensureRegistry(root, wanted.registryUrl, wanted.kafkaBrokers, say, launched, fetching))
    started.push('schema-registry');
  const redis = await ensureRedis(root, wanted.redisUrl, env.REDIS_URL !== undefined, say, launched);
  if (redis.started) started.push('redis');
  const report: StackReport = { ...wanted, redisUrl: redis.url, started };
  if (clusterPlace) {
    const c = await ensureRedisCluster(clusterPlace, say, () => launched('redis-cluster'));
    if (c.started) started.push('redis-cluster');
    report.redisClusterNodes = c.nodes;
  }
  mkdirSync(stateDir(root), { recursive: true });
  writeFileSync(endpointsFile(root), `${JSON.stringify({ ...wanted, redisUrl: redis.url }, null, 2)}\n`);
  return report;
}

/** Pid files of what `stackUp` starts, relative to the root, in the order `stackDown` stops them. */
export const PID_FILES: Record<string, string> = {
  'schema-registry': '.devstack/apicurio/apicurio.pid',
  // Left by services:up before Apicurio replaced the development registry; stopped once, then gone.
  'old development registry': '.devstack/registry/registry.pid',
  kafka: '.devstack/kafka/kafka.pid',
  redis: '.devstack/redis/redis.pid',
};
export const STOP_GRACE_MS: Record<string, number> = { kafka: 30_000 };

/**
 * Stops what `stackUp` started (pid files), in reverse order; returns the services stopped. The Redis
 * Cluster goes first (its directory: REDIS_CLUSTER_DIR or the default); `only: ['redis-cluster']`
 * stops nothing else.
 */
export async function stackDown(
  root = ROOT,
  opts: { env?: NodeJS.ProcessEnv; only?: string[] } = {},
): Promise<string[]> {
  const stopped: string[] = [];
  const wanted = (name: string) => opts.only === undefined || opts.only.includes(name);
  if (wanted('redis-cluster') && (await stopRedisCluster(redisClusterPlace(root, opts.env).dir)))
    stopped.push('redis-cluster');
  for (const [name, pidFile] of Object.entries(PID_FILES)) {
    if (!wanted(name)) continue;
    if ((await stopPid(join(root, pidFile), STOP_GRACE_MS[name] ?? 10_000)) !== undefined) stopped.push(name);
  }
  return stopped;
}
