#!/usr/bin/env node
/**
 * catalog-sync's command line. Each subcommand explains itself with --help; wrong arguments exit 2.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Command, CommanderError } from 'commander';
import { loadConfig } from '../config/config.js';
import { CatalogSyncError, ConfigError } from '../errors.js';
import { checkKafkaAccess, connectionOf, createKafka } from '../kafka/client.js';
import { createRedis } from '../redis/connection.js';
import { formatStatusLine, readStatus } from '../status/reader.js';
import { formatInspection, inspectSync } from './inspect.js';
import { CatalogSyncService } from './service.js';

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
    const service = new CatalogSyncService(loadConfig(opts.config));
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
    const service = new CatalogSyncService(loadConfig(opts.config));
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
  .description('follow the status topic, one line per event, until interrupted')
  .option('--sync <id>', "only this sync's events")
  .option('--from-beginning', 'start from the oldest retained event instead of now')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .action(async (opts: { sync?: string; fromBeginning?: boolean; config: string }) => {
    const config = loadConfig(opts.config);
    const connection = { ...connectionOf(config.kafka), clientId: `${config.kafka.clientId}-status-tail` };
    await checkKafkaAccess(connection);
    const reader = await readStatus({
      kafka: createKafka(connection),
      registry: new SchemaRegistry({ host: config.schemaRegistry.url }),
      topic: config.kafka.statusTopic,
      fromBeginning: opts.fromBeginning ?? false,
      ...(opts.sync ? { filter: (e: { syncId: string }) => e.syncId === opts.sync } : {}),
      onEvent: (e) => process.stdout.write(`${formatStatusLine(e)}\n`),
      onError: (err, m) =>
        process.stderr.write(`status tail: offset ${m.offset} does not decode: ${String(err)}\n`),
    });
    await new Promise((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await reader.stop();
  });

program
  .command('inspect')
  .description(
    "show a sync's shared state in Redis: members, runs in progress, held deletions, its destination account's rate bucket and pause",
  )
  .argument('<sync>', 'sync id')
  .requiredOption('-c, --config <file>', 'service configuration (YAML or JSON)')
  .option('--json', 'print JSON instead of text')
  .action(async (syncId: string, opts: { config: string; json?: boolean }) => {
    const config = loadConfig(opts.config);
    const redis = createRedis(config.redis.url);
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
