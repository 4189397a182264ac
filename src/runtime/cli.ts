#!/usr/bin/env node
/**
 * catalog-sync's command line. Each subcommand explains itself with --help; wrong arguments exit 2.
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../errors.js';
import { loadConfig } from './config.js';
import { CatalogSyncService } from './service.js';

const program = new Command()
  .name('catalog-sync')
  .description('Applies warehouse change events from Kafka to Batch catalogs and Yotpo contacts.')
  .exitOverride()
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

export async function main(argv: string[]): Promise<void> {
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
    if (err instanceof ConfigError) {
      process.stderr.write(`invalid configuration: ${err.message}\n`);
      process.exit(1);
    }
    process.stderr.write(
      `catalog-sync: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  }
}

void main(process.argv);
