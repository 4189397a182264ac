/**
 * Child processes of the pipeline benchmark: the Batch simulator and catalog-sync instances started
 * through the real CLI, each with its RSS sampled from /proc (VmHWM is the kernel's own peak).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { BatchSimStats } from '../../tools/simulator/server.js';

/** USER_HZ: 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

export const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };

export interface SimulatorChild {
  pid: number;
  url: string;
  batchUrl: string;
  stats(): Promise<BatchSimStats>;
  stop(): Promise<void>;
}

/** The simulator in its own process, so its CPU is not the driver's or an instance's. */
export async function startSimulator(limits: {
  requestsPerSecond: number;
  itemsPerSecond: number;
}): Promise<SimulatorChild> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'tools/simulator/main.ts',
      '--port',
      '0',
      '--requests-per-second',
      String(limits.requestsPerSecond),
      '--items-per-second',
      String(limits.itemsPerSecond),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const batch = /batch\s+(\S+)/.exec(out);
    const sim = /simulator\s+(\S+)/.exec(out);
    if (batch?.[1] && sim?.[1]) {
      const url = sim[1];
      child.stdout!.resume();
      return {
        pid: child.pid!,
        url,
        batchUrl: batch[1],
        stats: async () => (await (await fetch(`${url}/_sim/batch/stats`)).json()) as BatchSimStats,
        stop: () => stopChild(child),
      };
    }
  }
  throw new Error(`simulator exited before it listened: ${out}`);
}

export interface LogLine {
  time: number;
  msg: string;
  [field: string]: unknown;
}

export interface InstanceChild {
  name: string;
  pid: number;
  /** Info-level log lines so far (the driver reads partition assignment and run completion times). */
  logs: LogLine[];
  /** Highest VmRSS seen by the sampler and the kernel's VmHWM at the last sample, bytes. */
  memory(): { sampledPeak: number; hwm: number };
  /** User plus system CPU time used so far, ms. */
  cpuMs(): number;
  waitFor(msg: string, timeoutMs?: number): Promise<LogLine>;
  stop(): Promise<void>;
}

/**
 * One instance as `catalog-sync start --config <file>`: JSON config in the temp dir, secrets by env,
 * like a deployment. Its error log lines are forwarded; failures quote the tail of its stderr.
 */
export function startInstance(
  rawConfig: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  opts: { sampleMs?: number; cpuProfDir?: string; cwd?: string } = {},
): InstanceChild {
  const name = String(rawConfig.instanceId);
  const file = join(tmpdir(), `${name}.json`);
  writeFileSync(file, JSON.stringify(rawConfig));
  const prof = opts.cpuProfDir ? ['--cpu-prof', '--cpu-prof-dir', opts.cpuProfDir] : [];
  const args = [...prof, '--import', 'tsx', 'src/runtime/cli.ts', 'start', '--config', file];
  const child = spawn(process.execPath, args, {
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = child.pid!;
  const logs: LogLine[] = [];
  const waiters: { msg: string; resolve: (l: LogLine) => void }[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => {
    stderr = (stderr + String(d)).slice(-4000);
  });
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return;
    }
    logs.push(line);
    if (line.level !== undefined && Number(line.level) >= 50) process.stderr.write(`[${name}] ${text}\n`);
    for (const w of waiters.splice(0)) {
      if (w.msg === line.msg) w.resolve(line);
      else waiters.push(w);
    }
  });
  let sampledPeak = 0;
  let hwm = 0;
  const sample = () => {
    const status = procStatus(pid);
    if (!status) return;
    sampledPeak = Math.max(sampledPeak, status.rss);
    hwm = Math.max(hwm, status.hwm);
  };
  const timer = setInterval(sample, opts.sampleMs ?? 100);
  const exited = once(child, 'exit');
  return {
    name,
    pid,
    logs,
    memory: () => {
      sample();
      return { sampledPeak, hwm };
    },
    cpuMs: () => processCpuMs(pid),
    waitFor: (msg, timeoutMs = 60_000) => {
      const seen = logs.find((l) => l.msg === msg);
      if (seen) return Promise.resolve(seen);
      return new Promise<LogLine>((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`${name}: no "${msg}" log line in ${timeoutMs} ms; stderr: ${stderr}`)),
          timeoutMs,
        );
        const done = (l: LogLine) => {
          clearTimeout(t);
          resolve(l);
        };
        waiters.push({ msg, resolve: done });
        void exited.then(() => {
          clearTimeout(t);
          reject(new Error(`${name} exited (${child.exitCode}); stderr: ${stderr}`));
        });
      });
    },
    stop: async () => {
      sample();
      clearInterval(timer);
      await stopChild(child);
      rmSync(file, { force: true });
    },
  };
}

/** VmRSS and VmHWM of a live process, bytes; undefined once it is gone. */
/** User plus system CPU time a process used so far, ms (NaN once it is gone). */
export function processCpuMs(pid: number): number {
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

/** SIGTERM (the instance flushes and commits), SIGKILL after 30 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}
