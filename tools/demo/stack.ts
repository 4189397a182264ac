/**
 * Stops only the stack services this demo started: `stackDown` stops every service with a pid file,
 * which would also take down a Kafka an earlier `services:up` left running.
 */
import { join } from 'node:path';
import { stopPid } from '../../devstack/process.js';
import { PID_FILES, ROOT, STOP_GRACE_MS } from '../../devstack/stack.js';

export async function stopStarted(started: string[], root = ROOT): Promise<string[]> {
  const stopped: string[] = [];
  for (const [name, pidFile] of Object.entries(PID_FILES)) {
    if (!started.includes(name)) continue;
    if ((await stopPid(join(root, pidFile), STOP_GRACE_MS[name] ?? 10_000)) !== undefined) stopped.push(name);
  }
  return stopped;
}
