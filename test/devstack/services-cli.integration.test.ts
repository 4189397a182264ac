/**
 * `services:up --json` against the running stack: every service reused, nothing started or stopped.
 * `--redis-cluster` against a cluster of the test's own (REDIS_CLUSTER_PORT, REDIS_CLUSTER_DIR): started,
 * reused, stopped by `down --redis-cluster`, and rolled back when a node cannot start.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, isAlive, portFree, readPid } from '../../devstack/process.js';
import { endpoints, unique } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../devstack/cli.ts', import.meta.url));

async function up(env: NodeJS.ProcessEnv, args = ['up', '--json']) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const [code] = await once(child, 'close');
  return { code: code as number, stdout, stderr };
}

describe('services:up --json (integration)', { timeout: 60_000 }, () => {
  it('prints one JSON object: the endpoints, what it started and what it reused', async () => {
    const ep = endpoints();
    const env = {
      ...process.env,
      KAFKA_BROKERS: ep.kafkaBrokers,
      SCHEMA_REGISTRY_URL: ep.registryUrl,
      REDIS_URL: ep.redisUrl,
    };
    const r = await up(env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      seconds: expect.any(Number),
      started: [],
      reused: ['kafka', 'schema-registry', 'redis'],
      endpoints: { kafkaBrokers: ep.kafkaBrokers, registryUrl: ep.registryUrl, redisUrl: ep.redisUrl },
      env: { KAFKA_BROKERS: ep.kafkaBrokers, SCHEMA_REGISTRY_URL: ep.registryUrl, REDIS_URL: ep.redisUrl },
    });
  });

  it('a failure prints {"ok":false} with the reason and what it stopped, exit 1', async () => {
    const ep = endpoints();
    const r = await up({
      ...process.env,
      KAFKA_BROKERS: ep.kafkaBrokers,
      // Not local, so never started here: fails before anything starts.
      SCHEMA_REGISTRY_URL: 'http://192.0.2.1:18090/apis/ccompat/v7',
      REDIS_URL: ep.redisUrl,
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: expect.stringContaining('not local, so not started here'),
      stopped: [],
    });
  });
});

describe('services:up --redis-cluster (integration, own ports and directory)', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'cs-devstack-cluster-'));
  const pids = () => [0, 1, 2].map((i) => readPid(join(dir, `redis-${first + i}.pid`)));
  let first = 0;
  const env = () => {
    const ep = endpoints();
    return {
      ...process.env,
      KAFKA_BROKERS: ep.kafkaBrokers,
      SCHEMA_REGISTRY_URL: ep.registryUrl,
      REDIS_URL: ep.redisUrl,
      REDIS_CLUSTER_PORT: String(first),
      REDIS_CLUSTER_DIR: dir,
    };
  };
  afterAll(async () => {
    if (first) await up(env(), ['down', '--redis-cluster']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts a 3-master cluster, lists its seeds, reuses it, and down --redis-cluster stops it', async () => {
    // Three free client ports in a row, their cluster bus ports (+10000) free too.
    for (let from = 24_000 + Math.floor(Math.random() * 1000) * 3; ; from += 3) {
      const all = [0, 1, 2].flatMap((i) => [from + i, from + i + 10_000]);
      if ((await Promise.all(all.map((p) => portFree('127.0.0.1', p)))).every(Boolean)) {
        first = from;
        break;
      }
    }
    const nodes = [0, 1, 2].map((i) => `127.0.0.1:${first + i}`);
    const r = await up(env(), ['up', '--json', '--redis-cluster']);
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({
      ok: true,
      started: ['redis-cluster'],
      reused: ['kafka', 'schema-registry', 'redis'],
      endpoints: { redisClusterNodes: nodes },
      env: { REDIS_CLUSTER_NODES: nodes.join(',') },
    });
    const started = pids();
    expect(started.every((p) => p !== undefined && isAlive(p))).toBe(true);

    // A real cluster: keys of many slots written and read through the seeds, each master owning some.
    const client = new Cluster(nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    try {
      const prefix = unique('dsc');
      for (let i = 0; i < 30; i++) await client.set(`${prefix}:${i}`, String(i));
      expect(await Promise.all(Array.from({ length: 30 }, (_, i) => client.get(`${prefix}:${i}`)))).toEqual(
        Array.from({ length: 30 }, (_, i) => String(i)),
      );
      const slots = await client.cluster('SLOTS');
      expect(new Set(slots.map((s) => s[2]?.[1]))).toEqual(new Set([first, first + 1, first + 2]));
    } finally {
      client.disconnect();
    }

    const again = await up(env(), ['up', '--json', '--redis-cluster']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({
      started: [],
      reused: ['kafka', 'schema-registry', 'redis', 'redis-cluster'],
      endpoints: { redisClusterNodes: nodes },
    });
    expect(pids()).toEqual(started);

    const down = await up(env(), ['down', '--redis-cluster']);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain('stopped: redis-cluster');
    expect(started.some((p) => isAlive(p!))).toBe(false);
    expect(await Promise.all(nodes.map((_, i) => portFree('127.0.0.1', first + i)))).toEqual([
      true,
      true,
      true,
    ]);
  });

  it('a node that cannot start: {"ok":false}, and the nodes already started are stopped', async () => {
    first ||= await freePort('127.0.0.1', 24_000 + Math.floor(Math.random() * 1000) * 3);
    // The third node's cluster bus port is taken: that node exits at start-up, after the first two run.
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(first + 2 + 10_000, '127.0.0.1', resolve));
    try {
      const r = await up(env(), ['up', '--json', '--redis-cluster']);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.stdout)).toEqual({
        ok: false,
        error: expect.stringContaining(`Redis Cluster node 127.0.0.1:${first + 2} exited during start-up`),
        stopped: ['redis-cluster'],
      });
    } finally {
      blocker.close();
    }
    expect(await Promise.all([0, 1, 2].map((i) => portFree('127.0.0.1', first + i)))).toEqual([
      true,
      true,
      true,
    ]);
  });
});
