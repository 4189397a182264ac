import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export class StackError extends Error {
  constructor(
    message: string,
    readonly logTail = '',
  ) {
    super(logTail ? `${message}\n--- last lines of the log ---\n${logTail}` : message);
    this.name = 'StackError';
  }
}

export function tail(file: string, lines = 30): string {
  if (!existsSync(file)) return '';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Starts a process that outlives this one (services:up returns while it runs) and records its pid. */
export function spawnDetached(
  cmd: string,
  args: string[],
  opts: { cwd: string; log: string; pidFile: string },
) {
  mkdirSync(dirname(opts.log), { recursive: true });
  const fd = openSync(opts.log, 'a');
  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    detached: true,
    stdio: ['ignore', fd, fd],
    env: process.env,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new StackError(`could not start ${cmd}`);
  child.unref();
  writeFileSync(opts.pidFile, `${child.pid}\n`);
  return child.pid;
}

export function readPid(pidFile: string): number | undefined {
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Stops the process recorded in pidFile: SIGTERM, then SIGKILL after graceMs. */
export async function stopPid(pidFile: string, graceMs = 15_000): Promise<number | undefined> {
  const pid = readPid(pidFile);
  rmSync(pidFile, { force: true });
  if (pid === undefined || !isAlive(pid)) return undefined;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  return pid;
}

export function portFree(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, host, () => srv.close(() => resolve(true)));
  });
}

export async function freePort(host: string, from: number): Promise<number> {
  for (let p = from; p < from + 200; p++) if (await portFree(host, p)) return p;
  throw new StackError(`no free port on ${host} from ${from}`);
}

/** Polls probe until it resolves true; fails with the service's log tail after timeoutMs. */
export async function waitFor(
  what: string,
  probe: () => Promise<boolean>,
  opts: { timeoutMs: number; log?: string; pid?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  while (Date.now() < deadline) {
    if (await probe().catch(() => false)) return;
    if (opts.pid !== undefined && !isAlive(opts.pid)) {
      throw new StackError(`${what} exited during start-up`, opts.log ? tail(opts.log) : '');
    }
    await sleep(250);
  }
  throw new StackError(
    `${what} did not answer within ${Math.round(opts.timeoutMs / 1000)} s`,
    opts.log ? tail(opts.log) : '',
  );
}
