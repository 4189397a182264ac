/** What a failed `services:up` stops: the services it launched, by their pid files, latest first. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isAlive } from '../../devstack/process.js';
import { PID_FILES, stopLaunched } from '../../devstack/stack.js';

describe('stopLaunched', () => {
  it('stops the launched services whose process runs, and nothing else', async () => {
    const root = mkdtempSync(join(tmpdir(), 'stack-rollback-'));
    const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60_000)'], { stdio: 'ignore' });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const pid = child.pid ?? 0;
    const pidFile = join(root, PID_FILES.redis ?? '');
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${pid}\n`);
    // kafka was "launched" but has no pid file left; schema-registry was reused, so not named.
    expect(await stopLaunched(root, ['kafka', 'redis'])).toEqual(['redis']);
    await exited;
    expect(isAlive(pid)).toBe(false);
  });
});
