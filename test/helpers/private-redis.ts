/**
 * A private plaintext redis-server on its own port and directory, for tests that make Redis lose its
 * state: kill it and start it empty, FLUSHALL it, or start it again from an older RDB snapshot. Never
 * the shared 127.0.0.1:6379.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tail } from '../../devstack/process.js';
import { createRedis, type Redis } from '../../src/redis/connection.js';

export interface PrivateRedis {
  url: string;
  dir: string;
  /** A client of its own (reconnects after a restart). */
  client(): Redis;
  /** SIGKILL, then start again with no data. */
  restartEmpty(): Promise<void>;
  /** SAVE now and keep the RDB as `name`, to restart from later. */
  snapshot(name: string): Promise<string>;
  /** SIGKILL, then start again from an RDB kept by snapshot(): a rollback to that moment. */
  restartFrom(snapshotFile: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-private-redis-'));
  const port = await freePort('127.0.0.1', 31_000 + Math.floor(Math.random() * 500) * 2);
  const log = join(dir, 'redis.log');
  const conf = join(dir, 'redis.conf');
  // No automatic saves: only the test's SAVE writes the dump, so a kill loses everything after it.
  writeFileSync(
    conf,
    [
      `port ${port}`,
      'bind 127.0.0.1',
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'dbfilename dump.rdb',
      '',
    ].join('\n'),
  );
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let exited = true;
  const killOnExit = () => child?.kill('SIGKILL');
  process.once('exit', killOnExit);

  const probe = async () => {
    const r = createRedis(url, {}, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    r.on('error', () => undefined);
    const ok = await r
      .connect()
      .then(() => r.ping())
      .then(
        () => true,
        () => false,
      );
    r.disconnect();
    return ok;
  };

  const start = async () => {
    const fd = openSync(log, 'a');
    child = spawn('redis-server', [conf], { cwd: dir, stdio: ['ignore', fd, fd] });
    closeSync(fd);
    exited = false;
    child.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + 15_000;
    while (!(await probe())) {
      if (exited || Date.now() > deadline)
        throw new Error(`private redis-server did not start: ${tail(log)}`);
      await sleep(100);
    }
  };

  const kill = async () => {
    if (!child || exited) return;
    child.kill('SIGKILL');
    while (!exited) await sleep(20);
  };

  await start();
  const clients: Redis[] = [];
  return {
    url,
    dir,
    client() {
      const c = createRedis(url);
      c.on('error', () => undefined);
      clients.push(c);
      return c;
    },
    async restartEmpty() {
      await kill();
      rmSync(join(dir, 'dump.rdb'), { force: true });
      await start();
    },
    async snapshot(name) {
      const c = createRedis(url);
      try {
        await c.save();
      } finally {
        c.disconnect();
      }
      const file = join(dir, name);
      copyFileSync(join(dir, 'dump.rdb'), file);
      return file;
    },
    async restartFrom(snapshotFile) {
      if (!existsSync(snapshotFile)) throw new Error(`no snapshot ${snapshotFile}`);
      await kill();
      copyFileSync(snapshotFile, join(dir, 'dump.rdb'));
      await start();
    },
    async stop() {
      for (const c of clients) c.disconnect();
      process.off('exit', killOnExit);
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
