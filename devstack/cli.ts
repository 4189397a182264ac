import { performance } from 'node:perf_hooks';
import { StackError } from './process.js';
import { stackDown, stackUp } from './stack.js';

const say = (s: string) => process.stderr.write(`services: ${s}\n`);

async function main(cmd: string | undefined): Promise<number> {
  if (cmd === 'up') {
    const t0 = performance.now();
    const r = await stackUp({ say });
    const secs = ((performance.now() - t0) / 1000).toFixed(1);
    process.stdout.write(
      [
        `stack ready in ${secs} s (${r.started.length ? `started: ${r.started.join(', ')}` : 'all reused'})`,
        `  KAFKA_BROKERS=${r.kafkaBrokers}`,
        `  SCHEMA_REGISTRY_URL=${r.registryUrl}`,
        `  REDIS_URL=${r.redisUrl}`,
        '',
      ].join('\n'),
    );
    return 0;
  }
  if (cmd === 'down') {
    const stopped = await stackDown();
    process.stdout.write(
      stopped.length ? `stopped: ${stopped.join(', ')}\n` : 'nothing of ours was running\n',
    );
    return 0;
  }
  process.stderr.write('usage: tsx devstack/cli.ts up|down\n');
  return 2;
}

main(process.argv[2]).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `services: ${err instanceof StackError ? err.message : String((err as Error)?.stack ?? err)}\n`,
    );
    process.exit(1);
  },
);
