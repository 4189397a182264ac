/**
 * npm run bench:pipeline [-- --quick] [-- --json] [-- --phases ingest,e2e,state] [sizes: see --help]
 *
 * The CDC pipeline end to end against the running stack (Kafka, registry, Redis) and the Batch
 * simulator: (a) ingest rate of one unthrottled instance beside a bare kafkajs consumer, (b) items/s of
 * two instances (`--instances`) at Batch's real limits, optionally beside a CPU hog (`--cpu-hog`), (c) mirror derivation time and Redis bytes per item (through
 * bench/state-memory.ts), (d) peak RSS of every instance process. Instances run as child processes
 * (`cli.ts start`); progress goes to stderr, the table (or JSON) to stdout.
 */
import { Command, InvalidArgumentError } from 'commander';
import { runEndToEnd } from './pipeline/e2e.js';
import { runIngest } from './pipeline/ingest.js';
import { buildReport, formatReport } from './pipeline/report.js';
import { endpoints, startPrivateRedis } from './pipeline/setup.js';
import { runStateMemory } from './pipeline/state.js';

const PHASES = ['ingest', 'e2e', 'state'] as const;

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

function phases(value: string): string[] {
  const list = value.split(',').map((p) => p.trim());
  const bad = list.find((p) => !(PHASES as readonly string[]).includes(p));
  if (bad !== undefined) throw new InvalidArgumentError(`unknown phase ${bad}; use ${PHASES.join(', ')}`);
  return list;
}

const opts = new Command('bench:pipeline')
  .option('--quick', 'small sizes for a smoke run (5,000 / 3,000 / 200,000 items)')
  .option('--json', 'print the figures as JSON instead of the table')
  .option('--phases <list>', `comma-separated subset of ${PHASES.join(',')}`, phases, [...PHASES])
  .option('--ingest-items <n>', '(a) rows in the pre-filled topic (default 50,000)', positiveInt)
  .option('--e2e-items <n>', '(b) rows of the full run (default 30,000)', positiveInt)
  .option('--state-items <n>', '(c) items in the sync state (default 2,000,000)', positiveInt)
  .option('--partitions <n>', 'partitions of the CDC topics', positiveInt, 6)
  .option('--repeat <n>', '(a) service runs; the median is reported', positiveInt, 3)
  .option('--bare-repeat <n>', '(a) bare consumer runs of each kind; the median is reported', positiveInt, 3)
  .option('--warmup-ms <ms>', '(b) left out of the rate', positiveInt, 2000)
  .option('--instances <n>', '(b) instance processes in the group', positiveInt, 2)
  .option('--cpu-hog', '(b) run a busy-loop process on one core beside the instances')
  .option(
    '--private-redis',
    'run a redis-server of its own (clean INFO cpu; the shared one has other clients)',
  )
  .option('--cpu-prof <dir>', '(a) write a V8 CPU profile of each service instance to this directory')
  .option(
    '--instance-cwd <dir>',
    '(a) run the instances from this tree (a patched copy, to measure a change)',
  )
  .parse()
  .opts<{
    quick?: boolean;
    json?: boolean;
    phases: string[];
    ingestItems?: number;
    e2eItems?: number;
    stateItems?: number;
    partitions: number;
    repeat: number;
    bareRepeat: number;
    warmupMs: number;
    instances: number;
    cpuHog?: boolean;
    privateRedis?: boolean;
    cpuProf?: string;
    instanceCwd?: string;
  }>();

const log = (line: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`);

async function main(): Promise<void> {
  const privateRedis = opts.privateRedis ? await startPrivateRedis() : undefined;
  try {
    await run(privateRedis ? { ...endpoints(), redisUrl: privateRedis.url } : endpoints());
  } finally {
    await privateRedis?.stop();
  }
}

async function run(ep: ReturnType<typeof endpoints>): Promise<void> {
  const q = opts.quick === true;
  const ingest = opts.phases.includes('ingest')
    ? await runIngest({
        ep,
        items: opts.ingestItems ?? (q ? 5000 : 50_000),
        partitions: opts.partitions,
        repeat: opts.repeat,
        bareRepeat: opts.bareRepeat,
        ...(opts.cpuProf ? { cpuProfDir: opts.cpuProf } : {}),
        ...(opts.instanceCwd ? { instanceCwd: opts.instanceCwd } : {}),
        log,
      })
    : undefined;
  const e2e = opts.phases.includes('e2e')
    ? await runEndToEnd({
        ep,
        items: opts.e2eItems ?? (q ? 3000 : 30_000),
        partitions: opts.partitions,
        instances: opts.instances,
        warmupMs: opts.warmupMs,
        cpuHog: opts.cpuHog === true,
        log,
      })
    : undefined;
  const state = opts.phases.includes('state')
    ? await runStateMemory({ items: opts.stateItems ?? (q ? 200_000 : 2_000_000), absent: 0.01, log })
    : undefined;
  const report = buildReport({
    ...(ingest ? { ingest } : {}),
    ...(e2e ? { e2e } : {}),
    ...(state ? { state } : {}),
  });
  process.stdout.write(opts.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
}

main().then(
  // Kafka and Redis clients of finished phases may keep sockets open for a moment.
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
