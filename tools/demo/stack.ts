/**
 * Stops only the stack services this demo started: `stackDown` stops every service with a pid file,
 * which would also take down a Kafka an earlier `services:up` left running.
 */
import { join } from 'node:path';
import { stopPid } from '../../devstack/process.js';
import { ROOT } from '../../devstack/stack.js';

const PID_FILES: Record<string, string> = {
  'schema-registry': '.devstack/registry/registry.pid',
  kafka: '.devstack/kafka/kafka.pid',
  redis: '.devstack/redis/redis.pid',
};
const ORDER = ['schema-registry', 'kafka', 'redis'];

export async function stopStarted(started: string[], root = ROOT): Promise<string[]> {
  const stopped: string[] = [];
  for (const name of ORDER.filter((s) => started.includes(s))) {
    const pidFile = PID_FILES[name];
    if (pidFile && (await stopPid(join(root, pidFile), name === 'kafka' ? 30_000 : 10_000)) !== undefined) {
      stopped.push(name);
    }
  }
  return stopped;
}
