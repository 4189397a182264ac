/** What the demo starts and must stop, and the state it leaves behind only when asked to (--keep). */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT, type StackReport } from '../../devstack/stack.js';
import { describe } from '../../src/errors.js';
import type { createKafka, Producer } from '../../src/kafka/client.js';
import { createRedis } from '../../src/redis/connection.js';
import type { Simulator } from '../simulator/server.js';
import { type Instance, stopInstance } from './instances.js';
import { stopStarted } from './stack.js';

/** Everything the demo started, stopped in reverse order whatever happened. */
export class Resources {
  stack?: StackReport;
  sim?: Simulator;
  producer?: Producer;
  readers: { stop(): Promise<void> }[] = [];
  instances: Instance[] = [];
  /** Other processes (the Debezium demo's Postgres and Kafka Connect), stopped first, last started first. */
  processes: { name: string; stop(): Promise<void> }[] = [];
  /** Demo topics, Redis keys and files: kept with --keep, so they can still be inspected. */
  cleanup: (() => Promise<void>)[] = [];
  keepData = false;

  async release(say: (s: string) => void): Promise<void> {
    const step = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (err) {
        say(`could not stop ${what}: ${describe(err)}`);
      }
    };
    for (const p of [...this.processes].reverse()) {
      await step(p.name, async () => {
        await p.stop();
        say(`${p.name}: stopped`);
      });
    }
    await Promise.all(
      this.instances.map((i) => step(i.name, async () => say(`${i.name}: ${await stopInstance(i)}`))),
    );
    for (const r of this.readers) await step('the status reader', () => r.stop());
    if (this.producer) await step('the producer', () => this.producer!.disconnect());
    if (!this.keepData) for (const c of this.cleanup) await step('demo topics and keys', c);
    if (this.sim) await step('the simulator', () => this.sim!.close());
    if (this.stack?.started.length) {
      await step('the stack', async () =>
        say(`stopped ${(await stopStarted(this.stack!.started)).join(', ')}`),
      );
    }
  }
}

/** Subcommands of this checkout's CLI, so the summary only suggests commands that exist. */
export function cliCommands(): string[] {
  try {
    const help = execFileSync(
      process.execPath,
      ['--import', 'tsx', join(ROOT, 'src/runtime/cli.ts'), '--help'],
      {
        cwd: ROOT,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    return [...help.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]!);
  } catch (err) {
    const out = (err as { stdout?: string }).stdout ?? '';
    return [...out.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]!);
  }
}

/** The demo's topics and every Redis key under its prefix. */
export async function removeDemoState(
  stack: StackReport,
  kafka: ReturnType<typeof createKafka>,
  topics: string[],
  prefix: string,
) {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 10_000 });
  } finally {
    await admin.disconnect();
  }
  const redis = createRedis(stack.redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
