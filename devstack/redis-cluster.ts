/**
 * `services:up --redis-cluster`: a 3-master Redis Cluster on loopback for those who want to try
 * catalog-sync on one (the default stack keeps the machine's single Redis). Three `redis-server
 * --cluster-enabled yes` on consecutive ports (cluster bus: port + 10000), joined by `redis-cli --cluster
 * create`, no persistence, no replicas. Data, logs and pid files live in one directory (default
 * `.devstack/redis-cluster/`); `cluster.json` there records the ports, so a later `up` reuses a healthy
 * cluster and `down` stops exactly these three processes.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { isAlive, portFree, readPid, StackError, spawnDetached, stopPid, tail, waitFor } from './process.js';

export const REDIS_CLUSTER_SIZE = 3;
export const DEFAULT_REDIS_CLUSTER_PORT = 7001;
const HOST = '127.0.0.1';

export interface RedisClusterPlace {
  dir: string;
  /** The first node's port; the others follow it. */
  port: number;
}

/** Where the cluster lives: REDIS_CLUSTER_DIR and REDIS_CLUSTER_PORT move it (tests use their own). */
export function redisClusterPlace(root: string, env: NodeJS.ProcessEnv = process.env): RedisClusterPlace {
  const port = Number(env.REDIS_CLUSTER_PORT ?? DEFAULT_REDIS_CLUSTER_PORT);
  if (!Number.isInteger(port) || port < 1024 || port + REDIS_CLUSTER_SIZE > 55_535) {
    throw new StackError(
      `REDIS_CLUSTER_PORT must be a port from 1024 to ${55_535 - REDIS_CLUSTER_SIZE} (its cluster bus is port + 10000)`,
    );
  }
  return { dir: env.REDIS_CLUSTER_DIR ?? join(root, '.devstack/redis-cluster'), port };
}

const ports = (first: number) => Array.from({ length: REDIS_CLUSTER_SIZE }, (_, i) => first + i);
const recordFile = (dir: string) => join(dir, 'cluster.json');
const pidFile = (dir: string, port: number) => join(dir, `redis-${port}.pid`);
const logFile = (dir: string, port: number) => join(dir, `redis-${port}.log`);

/** The ports of the cluster recorded in `dir` (by the `up` that started it). */
export function recordedClusterPorts(dir: string): number[] | undefined {
  if (!existsSync(recordFile(dir))) return undefined;
  const { ports: p } = JSON.parse(readFileSync(recordFile(dir), 'utf8')) as { ports: number[] };
  return p;
}

async function clusterInfo(port: number): Promise<string | undefined> {
  const r = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    retryStrategy: () => null,
    disableClientInfo: true,
  });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return String(await r.call('CLUSTER', 'INFO'));
  } catch {
    return undefined;
  } finally {
    r.disconnect();
  }
}

/** Every node answers and says the cluster is ok with all 16384 slots assigned. */
export async function redisClusterHealthy(nodePorts: number[]): Promise<boolean> {
  const infos = await Promise.all(nodePorts.map(clusterInfo));
  return infos.every(
    (i) =>
      i !== undefined &&
      /cluster_state:ok/.test(i) &&
      /cluster_slots_assigned:16384/.test(i) &&
      new RegExp(`cluster_known_nodes:${nodePorts.length}\\b`).test(i),
  );
}

/** Stops the recorded nodes (SIGTERM, then SIGKILL); returns whether any was running. */
export async function stopRedisCluster(dir: string): Promise<boolean> {
  const p = recordedClusterPorts(dir);
  if (!p) return false;
  let any = false;
  for (const port of p) if ((await stopPid(pidFile(dir, port), 10_000)) !== undefined) any = true;
  rmSync(recordFile(dir), { force: true });
  return any;
}

export interface RedisClusterUp {
  nodes: string[];
  started: boolean;
  pids: number[];
}

/**
 * Reuses the recorded cluster when every node is alive and healthy; otherwise stops what is left of it,
 * wipes its data and starts three fresh nodes. `launched` is called before the first node starts, so
 * that a failure half way stops those already running (stackUp's rollback, through stopRedisCluster).
 */
export async function ensureRedisCluster(
  place: RedisClusterPlace,
  say: (s: string) => void,
  launched: () => void,
): Promise<RedisClusterUp> {
  const { dir } = place;
  const recorded = recordedClusterPorts(dir);
  if (recorded) {
    const pids = recorded.map((port) => readPid(pidFile(dir, port)));
    const alive = pids.every((pid) => pid !== undefined && isAlive(pid));
    if (alive && (await redisClusterHealthy(recorded))) {
      return { nodes: recorded.map((p) => `${HOST}:${p}`), started: false, pids: pids as number[] };
    }
    say('the recorded Redis Cluster is not healthy; stopping what is left of it and starting it anew...');
    await stopRedisCluster(dir);
  }
  const want = ports(place.port);
  for (const p of want) {
    if (!(await portFree(HOST, p))) {
      throw new StackError(
        `port ${HOST}:${p} is taken by another process; set REDIS_CLUSTER_PORT to the first of ${REDIS_CLUSTER_SIZE} free ports`,
      );
    }
  }
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new StackError('redis-server is missing: the cluster needs it (apt-get install redis-server)');
  }
  // Fresh state: a node's nodes.conf from an earlier cluster would make it refuse to join a new one.
  for (const p of new Set([...(recorded ?? []), ...want]))
    rmSync(join(dir, `node-${p}`), { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(recordFile(dir), `${JSON.stringify({ ports: want })}\n`);
  launched();
  say(
    `starting a ${REDIS_CLUSTER_SIZE}-master Redis Cluster on ${want.map((p) => `${HOST}:${p}`).join(', ')}...`,
  );
  const pids: number[] = [];
  for (const port of want) {
    const nodeDir = join(dir, `node-${port}`);
    mkdirSync(nodeDir, { recursive: true });
    pids.push(
      spawnDetached(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          HOST,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(nodeDir, 'nodes.conf'),
          '--cluster-node-timeout',
          '5000',
          '--save',
          '',
          '--appendonly',
          'no',
          '--dir',
          nodeDir,
        ],
        { cwd: nodeDir, log: logFile(dir, port), pidFile: pidFile(dir, port) },
      ),
    );
  }
  for (const [i, port] of want.entries()) {
    await waitFor(`Redis Cluster node ${HOST}:${port}`, async () => (await clusterInfo(port)) !== undefined, {
      timeoutMs: 15_000,
      log: logFile(dir, port),
      pid: pids[i]!,
    });
  }
  const created = spawnSync(
    'redis-cli',
    ['--cluster', 'create', ...want.map((p) => `${HOST}:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  writeFileSync(join(dir, 'create.log'), `${created.stdout ?? ''}${created.stderr ?? ''}`);
  if (created.status !== 0) {
    throw new StackError('redis-cli --cluster create failed', tail(join(dir, 'create.log')));
  }
  await waitFor('Redis Cluster to report cluster_state:ok', () => redisClusterHealthy(want), {
    timeoutMs: 30_000,
    log: join(dir, 'create.log'),
  });
  return { nodes: want.map((p) => `${HOST}:${p}`), started: true, pids };
}
