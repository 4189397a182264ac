/**
 * The demo's consumer instances: real `catalog-sync start` child processes, as an operator runs them,
 * so the demo exercises the CLI, the config file and the environment overrides.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface Instance {
  name: string;
  port: number;
  log: string;
  child: ChildProcess;
  /** Last lines of stderr, for failure messages. */
  tail(): string;
}

export async function freeTcpPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startInstance(opts: {
  root: string;
  name: string;
  configFile: string;
  logDir: string;
  env: NodeJS.ProcessEnv;
}): Promise<Instance> {
  const port = await freeTcpPort();
  const log = join(opts.logDir, `${opts.name}.log`);
  const out: WriteStream = createWriteStream(log);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(opts.root, 'src/runtime/cli.ts'), 'start', '--config', opts.configFile],
    {
      cwd: opts.root,
      env: { ...opts.env, CATALOG_SYNC_INSTANCE_ID: opts.name, HTTP_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const lines: string[] = [];
  child.stdout!.pipe(out, { end: false });
  child.stderr!.on('data', (chunk: Buffer) => {
    out.write(chunk);
    lines.push(...String(chunk).split('\n').filter(Boolean));
    lines.splice(0, Math.max(0, lines.length - 20));
  });
  child.once('exit', () => out.end());
  return { name: opts.name, port, log, child, tail: () => lines.join('\n') };
}

export const exited = (i: Instance) => i.child.exitCode !== null || i.child.signalCode !== null;

/** Ready once its /readyz answers 200: brokers, registry, Redis reachable and a member of the group. */
export async function waitReady(instances: Instance[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const pending = new Set(instances);
  while (pending.size > 0) {
    for (const i of pending) {
      if (exited(i)) throw new Error(`instance ${i.name} exited during start-up:\n${i.tail()}`);
      const ok = await fetch(`http://127.0.0.1:${i.port}/readyz`, { signal: AbortSignal.timeout(1000) }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) pending.delete(i);
    }
    if (pending.size === 0) return;
    if (Date.now() > deadline) {
      const names = [...pending].map((i) => i.name).join(', ');
      throw new Error(`instance(s) ${names} not ready after ${timeoutMs / 1000}s (see their logs)`);
    }
    await sleep(250);
  }
}

/** SIGTERM (the instance flushes and commits), then SIGKILL after graceMs. */
export async function stopInstance(i: Instance, graceMs = 20_000): Promise<'stopped' | 'killed'> {
  if (exited(i)) return 'stopped';
  const done = new Promise<void>((resolve) => i.child.once('exit', () => resolve()));
  i.child.kill('SIGTERM');
  const timer = sleep(graceMs).then(() => 'timeout' as const);
  if ((await Promise.race([done.then(() => 'done' as const), timer])) === 'done') return 'stopped';
  i.child.kill('SIGKILL');
  await done;
  return 'killed';
}
