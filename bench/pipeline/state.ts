/**
 * (c) Mirror derivation time and Redis bytes per item: bench/state-memory.ts measures exactly this
 * through the real SyncState and scripts, so it runs as a child and its printed figures are parsed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export interface StateResult {
  items: number;
  absent: number;
  bytesPerItem: number;
  countSeconds: number;
  markSeconds: number;
  deriveSeconds: number;
  scriptCalls: number;
  scriptMedianMs: number;
  scriptMaxMs: number;
  output: string;
}

export async function runStateMemory(o: {
  items: number;
  absent: number;
  log: (line: string) => void;
}): Promise<StateResult> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'bench/state-memory.ts', '--items', String(o.items), '--absent', String(o.absent)],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  child.stdout!.on('data', (d) => {
    output += String(d);
    for (const line of String(d).trimEnd().split('\n')) o.log(`(c) ${line}`);
  });
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`bench/state-memory.ts exited with ${code}:\n${output}`);
  const memory = /memory: ([\d.]+) bytes\/item/.exec(output);
  const derive =
    /derivation of (\d+) deletions among (\d+) items: count ([\d.]+) s, mark ([\d.]+) s, total ([\d.]+) s/.exec(
      output,
    );
  const calls = /(\d+) script calls: median ([\d.]+) ms, max ([\d.]+) ms/.exec(output);
  if (!memory || !derive || !calls) throw new Error(`unexpected bench/state-memory.ts output:\n${output}`);
  return {
    items: Number(derive[2]),
    absent: Number(derive[1]),
    bytesPerItem: Number(memory[1]),
    countSeconds: Number(derive[3]),
    markSeconds: Number(derive[4]),
    deriveSeconds: Number(derive[5]),
    scriptCalls: Number(calls[1]),
    scriptMedianMs: Number(calls[2]),
    scriptMaxMs: Number(calls[3]),
    output,
  };
}
