import { performance } from 'node:perf_hooks';
import { StackError } from './process.js';
import { StackUpError, stackDown, stackUp } from './stack.js';

const SERVICES = ['kafka', 'schema-registry', 'redis'];
const USAGE = `usage: tsx devstack/cli.ts up [--json] [--redis-cluster] | down [--redis-cluster]

up --redis-cluster also starts (or reuses) a 3-master Redis Cluster on 127.0.0.1:7001-7003
(REDIS_CLUSTER_PORT moves the first port, REDIS_CLUSTER_DIR its directory, default .devstack/redis-cluster);
the default stack keeps the single Redis. down --redis-cluster stops the cluster only.

up --json prints one JSON object on stdout (progress stays on stderr):
  {"ok":true,"seconds":1.2,"started":["redis"],"reused":["kafka","schema-registry"],
   "endpoints":{"kafkaBrokers":"...","registryUrl":"...","redisUrl":"..."},
   "env":{"KAFKA_BROKERS":"...","SCHEMA_REGISTRY_URL":"...","REDIS_URL":"..."}}
or, on failure (exit 1), after stopping what this call had started:
  {"ok":false,"error":"...","stopped":["kafka"]}
With --redis-cluster, "redis-cluster" is in started or reused, and endpoints.redisClusterNodes and
env.REDIS_CLUSTER_NODES list its seed nodes.
Exit codes: 0 ready, 1 failed, 2 wrong arguments.
`;

const say = (s: string) => process.stderr.write(`services: ${s}\n`);

async function up(json: boolean, redisCluster: boolean): Promise<number> {
  const t0 = performance.now();
  let r: Awaited<ReturnType<typeof stackUp>>;
  try {
    r = await stackUp({ say, redisCluster });
  } catch (err) {
    if (!json) throw err;
    const stopped = err instanceof StackUpError ? err.stopped : [];
    const error = err instanceof Error ? err.message : String(err);
    process.stdout.write(`${JSON.stringify({ ok: false, error, stopped })}\n`);
    say(error);
    return 1;
  }
  const seconds = Number(((performance.now() - t0) / 1000).toFixed(1));
  const services = redisCluster ? [...SERVICES, 'redis-cluster'] : SERVICES;
  const clusterNodes = r.redisClusterNodes ?? [];
  if (json) {
    const endpoints = {
      kafkaBrokers: r.kafkaBrokers,
      registryUrl: r.registryUrl,
      redisUrl: r.redisUrl,
      ...(redisCluster ? { redisClusterNodes: clusterNodes } : {}),
    };
    const report = {
      ok: true,
      seconds,
      started: r.started,
      reused: services.filter((s) => !r.started.includes(s)),
      endpoints,
      env: {
        KAFKA_BROKERS: r.kafkaBrokers,
        SCHEMA_REGISTRY_URL: r.registryUrl,
        REDIS_URL: r.redisUrl,
        ...(redisCluster ? { REDIS_CLUSTER_NODES: clusterNodes.join(',') } : {}),
      },
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
    return 0;
  }
  process.stdout.write(
    [
      `stack ready in ${seconds} s (${r.started.length ? `started: ${r.started.join(', ')}` : 'all reused'})`,
      `  KAFKA_BROKERS=${r.kafkaBrokers}`,
      `  SCHEMA_REGISTRY_URL=${r.registryUrl}`,
      `  REDIS_URL=${r.redisUrl}`,
      ...(redisCluster
        ? [`  REDIS_CLUSTER_NODES=${clusterNodes.join(',')}   (Redis Cluster: redis.cluster.nodes)`]
        : []),
      '',
    ].join('\n'),
  );
  return 0;
}

async function main(args: string[]): Promise<number> {
  const [cmd, ...rest] = args;
  if (cmd === 'up' && rest.every((a) => a === '--json' || a === '--redis-cluster'))
    return up(rest.includes('--json'), rest.includes('--redis-cluster'));
  if (cmd === 'down' && rest.every((a) => a === '--redis-cluster')) {
    const stopped = await stackDown(undefined, rest.length ? { only: ['redis-cluster'] } : {});
    process.stdout.write(
      stopped.length ? `stopped: ${stopped.join(', ')}\n` : 'nothing of ours was running\n',
    );
    return 0;
  }
  if (cmd === '--help' || cmd === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  process.stderr.write(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `services: ${err instanceof StackError ? err.message : String((err as Error)?.stack ?? err)}\n`,
    );
    process.exit(1);
  },
);
