#!/usr/bin/env node
/**
 * catalog-sync's command line. Each subcommand explains itself with --help; wrong arguments exit 2.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { type Config, loadConfig } from '../config/config.js';
import { CatalogSyncError, ConfigError } from '../errors.js';
import { createRedis } from '../redis/connection.js';
import { formatInspection, inspectSync } from './inspect.js';
import { CatalogSyncService } from './service.js';
import { TAIL_EXIT, tailStatus, UNTIL, type Until } from './status-tail.js';

/**
 * For commands that never call the Batch or Yotpo API: their secrets are read only if revealed
 * (inspect reads the project key or store id, which names the rate-limit account, when it is there).
 */
const loadWithoutDestinationSecrets = (file: string): Config =>
  loadConfig(file, process.env, { destinationSecrets: 'lazy' });

/** `{"event":"listening","port":9464,"host":"0.0.0.0"}`: printed once by `start`, before consuming. */
function listeningLine(port: number, host: string): string {
  return JSON.stringify({ event: 'listening', port, host });
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

const program = new Command()
  .name('catalog-sync')
  .description('Applies warehouse change events from Kafka to Batch catalogs and Yotpo contacts.')
  .exitOverride()
  .showHelpAfterError('(run with --help for usage)')
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

program
  .command('start')
  .description('run one consumer instance; start several with the same config to form a group')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .addHelpText(
    'after',
    `
Once /healthz, /readyz and /metrics listen, and before connecting to Kafka, prints one line on stdout:
  {"event":"listening","port":<bound port>,"host":"<http.host>"}
with the port the OS chose when http.port is 0. Log records are JSON lines with a "level" field; this
line has none.`,
  )
  .action(async (opts: { config: string }) => {
    const service = new CatalogSyncService(loadConfig(opts.config));
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) return;
      stopping = true;
      service.logger.info({ signal }, 'signal received');
      service.stop().then(
        () => process.exit(0),
        (err: unknown) => {
          service.logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    // The one stdout line that is not a log record: scripts read the bound port here (port 0).
    const port = await service.listen();
    process.stdout.write(`${listeningLine(port, service.config.http.host)}\n`);
    await service.start();
  });

program
  .command('validate-config')
  .description('parse a configuration file and report every problem, without connecting to anything')
  .argument('<file>', 'service configuration (YAML or JSON)')
  .action((file: string) => {
    const cfg = loadConfig(file);
    process.stdout.write(
      `${file}: valid, ${cfg.syncs.length} sync(s): ${cfg.syncs.map((s) => `${s.id} (${s.mode}/${s.operation})`).join(', ')}\n`,
    );
  });

program
  .command('release-deletions')
  .description('send the mirror deletions the guardrail held for a run, then finish the run')
  .argument('<sync>', 'sync id')
  .argument('<run>', 'run id (see the DELETIONS_HELD status event)')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .action(async (syncId: string, runId: string, opts: { config: string }) => {
    const service = new CatalogSyncService(loadConfig(opts.config));
    try {
      const r = await service.releaseDeletions(syncId, runId);
      process.stdout.write(
        r.released
          ? `released: ${r.count} deletions sent for ${syncId} run ${runId}\n`
          : `run ${runId} of ${syncId} holds no deletions\n`,
      );
    } finally {
      await service.stop();
    }
  });

program
  .command('discard-deletions')
  .description('finish a run whose deletions the guardrail held, without sending them (a wrong export)')
  .argument('<sync>', 'sync id')
  .argument('<run>', 'run id (see the DELETIONS_HELD status event)')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .action(async (syncId: string, runId: string, opts: { config: string }) => {
    const service = new CatalogSyncService(loadWithoutDestinationSecrets(opts.config));
    try {
      const r = await service.discardDeletions(syncId, runId);
      process.stdout.write(
        r.discarded
          ? `discarded: ${r.count} held deletions of ${syncId} run ${runId}; the run is finished\n`
          : `run ${runId} of ${syncId} holds no deletions\n`,
      );
    } finally {
      await service.stop();
    }
  });

program
  .command('resync')
  .description("forget a sync's fingerprints so its next run re-sends every item (full resync)")
  .argument('<sync>', 'sync id')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .action(async (syncId: string, opts: { config: string }) => {
    const service = new CatalogSyncService(loadWithoutDestinationSecrets(opts.config));
    try {
      await service.resync(syncId);
      process.stdout.write(`${syncId}: fingerprints cleared; the next run re-sends every item\n`);
    } finally {
      await service.stop();
    }
  });

/**
 * `produce` is a standalone entry point too, which parses process.argv when loaded: hand it its
 * arguments that way, so both entry points share one parser and one --help.
 */
function delegate(command: string, description: string, load: () => Promise<unknown>): void {
  program
    .command(command)
    .description(description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .argument('[args...]', `arguments of ${command} (see ${command} --help)`)
    .action(async (args: string[]) => {
      process.argv = [process.argv[0]!, command, ...args];
      await load();
    });
}

delegate(
  'produce',
  'publish one run of a sync to the CDC topic from an NDJSON or CSV file, as the warehouse would',
  () => import('./produce-cli.js'),
);

const status = program.command('status').description('read the status topic');
status
  .command('tail')
  .description(
    'follow the status topic, one line (or JSON object) per event, until interrupted or an --until event',
  )
  .option('--sync <id>', "only this sync's events")
  .option(
    '--run <id>',
    'only events of this run (the run id `produce` prints); request and indexing events carry no run id',
  )
  .addOption(
    new Option('--until <event>', 'exit 0 at the first such event (of --run, --sync if given)').choices(
      UNTIL,
    ),
  )
  .option(
    '--timeout <seconds>',
    'stop after this long; with --until, exit 3 if it was not reached',
    positiveSeconds,
  )
  .option('--json', 'one JSON object per event, with every item id, instead of text')
  .option(
    '--from-beginning',
    'start from the oldest retained event instead of now (implied by --until with --run)',
  )
  .requiredOption(
    '-c, --config <file>',
    'service configuration (YAML or JSON); no Batch or Yotpo secret is read',
  )
  .addHelpText(
    'after',
    `
--until run-completed waits for RUN_COMPLETED. A run whose deletions the guardrail held emits
DELETIONS_HELD and completes only after release-deletions or discard-deletions: wait for it with
--until deletions-held. With --run, the topic is read from its oldest retained event, so a run that
finished before the command started is found too.

Example:
  catalog-sync status tail --run full-1767600000000 --sync products --until run-completed --timeout 600 --json -c catalog-sync.yaml

Exit codes: ${TAIL_EXIT.reached} the --until event came (or, without --until, interrupted or --timeout), ${TAIL_EXIT.failed} error (configuration,
brokers, registry), ${TAIL_EXIT.usage} wrong arguments, ${TAIL_EXIT.notReached} --until not reached (--timeout, or interrupted).`,
  )
  .action(
    async (opts: {
      sync?: string;
      run?: string;
      until?: Until;
      timeout?: number;
      json?: boolean;
      fromBeginning?: boolean;
      config: string;
    }) => {
      const config = loadWithoutDestinationSecrets(opts.config);
      const interrupted = new Promise((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      const { config: _file, ...tail } = opts;
      process.exitCode = await tailStatus(config, tail, {
        out: (line) => process.stdout.write(`${line}\n`),
        err: (line) => process.stderr.write(`${line}\n`),
        interrupted,
      });
    },
  );

program
  .command('inspect')
  .description(
    "show a sync's shared state in Redis: members, runs in progress, held deletions, its destination account's rate bucket and pause",
  )
  .argument('<sync>', 'sync id')
  .requiredOption(
    '-c, --config <file>',
    'service configuration (YAML or JSON); of the destination secrets only the project key or store id is read, when set',
  )
  .option('--json', 'print one JSON object instead of text')
  .action(async (syncId: string, opts: { config: string; json?: boolean }) => {
    const config = loadWithoutDestinationSecrets(opts.config);
    const redis = createRedis(config.redis.url, config.redis);
    try {
      const inspection = await inspectSync(config, redis, syncId);
      process.stdout.write(
        opts.json ? `${JSON.stringify(inspection, null, 2)}\n` : formatInspection(inspection),
      );
    } finally {
      await redis.quit();
    }
  });

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    // An error of ours names its cause in one line: no stack (a Kafka refusal is not a crash).
    if (err instanceof CatalogSyncError) {
      process.stderr.write(`catalog-sync: ${err.message} [${err.code}]\n`);
      process.exit(1);
    }
    process.stderr.write(
      `catalog-sync: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  }
}

void main(process.argv);
