import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

export interface StartResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `catalog-sync start --config <file>` as a child process, killed after `limitMs` if still running. */
export function startCli(config: string, env: NodeJS.ProcessEnv, limitMs = 40_000): Promise<StartResult> {
  return new Promise((resolve, reject) => {
    const began = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', config], { env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - began });
    });
  });
}
