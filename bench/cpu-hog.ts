/**
 * A child process that keeps one core busy beside a benchmark, the way another tenant or a test suite
 * does on a small machine. Its loop ends by itself after `maxMs`, so a benchmark that dies cannot
 * leave it spinning; `stop()` ends it earlier.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { processCpuMs } from './pipeline/processes.js';

export interface CpuHog {
  pid: number;
  /** CPU time the hog used so far, ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

const LOOP = 'const end = Date.now() + Number(process.argv[1]); let x = 0; while (Date.now() < end) x++;';

export function startCpuHog(maxMs: number): CpuHog {
  const child = spawn(process.execPath, ['-e', LOOP, String(Math.max(1, Math.round(maxMs)))], {
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  let lastCpuMs = 0;
  const cpuMs = () => {
    const now = processCpuMs(child.pid!);
    if (Number.isFinite(now)) lastCpuMs = now;
    return lastCpuMs;
  };
  return {
    pid: child.pid!,
    cpuMs,
    stop: async () => {
      cpuMs();
      if (child.exitCode !== null || child.signalCode !== null) return;
      // The busy loop never yields to a JS handler; SIGTERM's default action ends it.
      child.kill('SIGTERM');
      await exited;
    },
  };
}
