/**
 * A private 3-master Redis Cluster on loopback for the cluster test: three `redis-server
 * --cluster-enabled yes` (no persistence, temporary directory), joined by `redis-cli --cluster create`,
 * ready when every node reports cluster_state:ok. Stop it with stop().
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tail } from '../../devstack/process.js';
import { aclRule } from '../../src/redis/acl.js';

export interface RedisCluster {
  nodes: string[];
  stop(): Promise<void>;
}

function cli(port: number, args: string[]): string {
  return execFileSync('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], {
    encoding: 'utf8',
    timeout: 10_000,
  });
}

/** `user`: also an ACL user with catalog-sync's cluster rule for that key prefix (default user stays, for setup). */
export async function startRedisCluster(user?: {
  name: string;
  password: string;
  keyPrefix: string;
}): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-redis-cluster-'));
  const ports: number[] = [];
  // Cluster bus ports are port + 10000: keep both ranges clear of the shared stack.
  let from = 27_000 + Math.floor(Math.random() * 300) * 3;
  for (let i = 0; i < 3; i++) {
    const p = await freePort('127.0.0.1', from);
    ports.push(p);
    from = p + 1;
  }
  const children: ChildProcess[] = [];
  const exited = new Set<ChildProcess>();
  const log = (p: number) => join(dir, `redis-${p}.log`);
  for (const port of ports) {
    const fd = openSync(log(port), 'a');
    // An ACL `user` line must come from a file: on the command line it is split at its spaces.
    const conf = join(dir, `redis-${port}.conf`);
    writeFileSync(
      conf,
      user ? `user ${aclRule(user.name, user.password, user.keyPrefix, { cluster: true })}\n` : '',
    );
    const child = spawn(
      'redis-server',
      [
        conf,
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '5000',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        dir,
      ],
      { cwd: dir, stdio: ['ignore', fd, fd] },
    );
    closeSync(fd);
    child.once('exit', () => exited.add(child));
    children.push(child);
  }
  const killOnExit = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.once('exit', killOnExit);
  const stop = async () => {
    process.off('exit', killOnExit);
    for (const c of children) if (!exited.has(c)) c.kill('SIGTERM');
    const deadline = Date.now() + 5000;
    while (exited.size < children.length && Date.now() < deadline) await sleep(50);
    for (const c of children) if (!exited.has(c)) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 20_000;
    for (const port of ports) {
      for (;;) {
        try {
          if (cli(port, ['ping']).trim() === 'PONG') break;
        } catch {}
        if (Date.now() > deadline) throw new Error(`redis-server ${port} did not start: ${tail(log(port))}`);
        await sleep(100);
      }
    }
    execFileSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    for (const port of ports) {
      for (;;) {
        if (/cluster_state:ok/.test(cli(port, ['cluster', 'info']))) break;
        if (Date.now() > deadline)
          throw new Error(`cluster not ok on ${port}: ${cli(port, ['cluster', 'info'])}`);
        await sleep(200);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: ports.map((p) => `127.0.0.1:${p}`), stop };
}
