/**
 * `produce`: publishes one run of a sync from a rows file, as the warehouse would.
 * Exit codes: 0 done, 1 the run failed (bad row, broker or registry error), 2 wrong arguments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { configSchema, formatIssues, resolveKafka } from '../config/config.js';
import { CatalogSyncError, describe } from '../errors.js';
import { checkKafkaAccess, createKafka, type KafkaConnection, Partitioners } from '../kafka/client.js';
import { ensureTopics } from '../kafka/topics.js';
import { prepareRow, produceRun, readIdsFile, readRowsFile } from './produce.js';

const DEFAULT_TOPIC = 'catalog-sync.cdc';
const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:18090/apis/ccompat/v7';

class UsageError extends Error {}

interface CliOptions {
  sync: string;
  run: 'full' | 'delta';
  file: string;
  deletes?: string;
  idColumn?: string;
  config?: string;
  topic?: string;
  runId?: string;
  runSeq?: number;
  partitions?: number;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function program(): Command {
  return new Command('produce')
    .description(
      'Publish one run of a sync to the CDC topic: RUN_STARTED, one ROW_UPSERTED per row, one ROW_DELETED ' +
        'per deleted id (delta), then RUN_ENDED with the number of distinct item ids.',
    )
    .requiredOption('--sync <id>', 'sync id carried by every event')
    .addOption(new Option('--run <kind>', 'run kind').choices(['full', 'delta']).makeOptionMandatory())
    .requiredOption('--file <path>', 'rows: .csv, or NDJSON (any other extension)')
    .option('--deletes <path>', 'delta runs: deleted item ids, one per line (# comments allowed)')
    .option('--id-column <column>', 'column holding the item id (overrides --config)')
    .option(
      '--config <file>',
      "service config: the sync's idColumn, kafka.cdcTopic, kafka.cdcPartitions, kafka.tls and kafka.sasl",
    )
    .option('--topic <topic>', `CDC topic (default: kafka.cdcTopic of --config, else ${DEFAULT_TOPIC})`)
    .option('--run-id <id>', 'run id (default: <run>-<run seq>)')
    .option(
      '--run-seq <n>',
      'run sequence, increasing with every run of the sync (default: now, epoch ms)',
      positiveInt,
    )
    .option('--partitions <n>', 'partitions if the topic must be created (default 6)', positiveInt)
    .addHelpText(
      'after',
      `
Rows:
  NDJSON  one JSON object per line; numbers become long when integral, else double; strings, booleans,
          arrays of strings and null pass as they are; any other value is an error naming line and column.
  CSV     the first line is the header; values stay strings; an empty field is null; RFC 4180 quoting.
  The id column must hold a value on every row. The whole file is checked before anything is sent.

Environment:
  KAFKA_BROKERS        comma-separated brokers (default 127.0.0.1:19092; overrides --config)
  SCHEMA_REGISTRY_URL  schema registry (default ${DEFAULT_REGISTRY_URL}; overrides --config)

Examples:
  produce --sync products --run full --file examples/products-full.ndjson --id-column sku
  produce --sync products --run delta --file changed.csv --deletes deleted.txt --config catalog-sync.yaml

Exit codes: 0 done, 1 the run failed, 2 wrong arguments.`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

interface Settings {
  idColumn: string;
  topic: string;
  partitions: number;
  brokers: string | undefined;
  registryUrl: string;
  /** kafka.tls and kafka.sasl of --config, resolved (plaintext without --config). */
  security: Pick<KafkaConnection, 'tls' | 'sasl'>;
}

function settings(o: CliOptions, env: NodeJS.ProcessEnv): Settings {
  if (!existsSync(o.file)) throw new UsageError(`--file ${o.file}: no such file`);
  if (o.deletes !== undefined && o.run !== 'delta') throw new UsageError('--deletes is for --run delta only');
  if (o.deletes !== undefined && !existsSync(o.deletes)) {
    throw new UsageError(`--deletes ${o.deletes}: no such file`);
  }
  const fromEnv = {
    brokers: env.KAFKA_BROKERS || undefined,
    registryUrl: env.SCHEMA_REGISTRY_URL || undefined,
  };
  if (!o.config) {
    if (!o.idColumn) throw new UsageError("give --id-column, or --config to read the sync's idColumn");
    return {
      idColumn: o.idColumn,
      topic: o.topic ?? DEFAULT_TOPIC,
      partitions: o.partitions ?? 6,
      brokers: fromEnv.brokers,
      registryUrl: fromEnv.registryUrl ?? DEFAULT_REGISTRY_URL,
      security: {},
    };
  }
  // The config is validated; of its secrets, only the Kafka ones (TLS, SASL) are resolved.
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(o.config, 'utf8'));
  } catch (err) {
    throw new UsageError(`--config ${o.config}: ${describe(err)}`);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) throw new UsageError(`--config ${o.config}:\n${formatIssues(parsed.error)}`);
  const cfg = parsed.data;
  const sync = cfg.syncs.find((s) => s.id === o.sync);
  if (!sync) {
    throw new UsageError(
      `sync ${o.sync} is not in ${o.config} (syncs: ${cfg.syncs.map((s) => s.id).join(', ')})`,
    );
  }
  return {
    idColumn: o.idColumn ?? sync.idColumn,
    topic: o.topic ?? cfg.kafka.cdcTopic,
    partitions: o.partitions ?? cfg.kafka.cdcPartitions,
    brokers: fromEnv.brokers ?? cfg.kafka.brokers,
    registryUrl: fromEnv.registryUrl ?? cfg.schemaRegistry.url,
    security: kafkaSecurity(cfg.kafka, env, o.config),
  };
}

function kafkaSecurity(kafka: Parameters<typeof resolveKafka>[0], env: NodeJS.ProcessEnv, file: string) {
  try {
    const { tls, sasl } = resolveKafka(kafka, env);
    return { tls, sasl };
  } catch (err) {
    throw new UsageError(`--config ${file}: ${describe(err)}`);
  }
}

/** A first pass over the file, so a bad row stops the run before any event of it is sent. */
async function check(file: string, idColumn: string): Promise<number> {
  const source = readRowsFile(file);
  let rows = 0;
  for await (const row of source.rows) {
    try {
      prepareRow(row, idColumn);
    } catch (err) {
      throw new Error(`${source.position()}: ${describe(err)}`);
    }
    rows++;
  }
  return rows;
}

async function run(o: CliOptions, s: Settings): Promise<string> {
  const started = Date.now();
  await check(o.file, s.idColumn);
  const deletedIds = o.deletes ? await readIdsFile(o.deletes) : [];
  const connection = { brokers: s.brokers, ...s.security, clientId: 'catalog-sync-produce' };
  await checkKafkaAccess(connection);
  const kafka = createKafka(connection);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [{ topic: s.topic, numPartitions: s.partitions, replicationFactor: -1 }]);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const source = readRowsFile(o.file);
    const r = await produceRun({
      producer,
      registry: new SchemaRegistry({ host: s.registryUrl, clientId: 'catalog-sync-produce' }),
      topic: s.topic,
      syncId: o.sync,
      runId: o.runId,
      runSeq: o.runSeq,
      kind: o.run === 'full' ? 'FULL' : 'DELTA',
      idColumn: s.idColumn,
      rows: source.rows,
      deletedIds,
      position: source.position,
    });
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    return `produced ${o.run} run ${r.runId} (seq ${r.runSeq}) of sync ${o.sync} to ${s.topic}: ${r.rows} rows, ${r.deletions} deletions, ${r.distinctIds} distinct ids in ${seconds}s`;
  } finally {
    await producer.disconnect();
  }
}

async function main(argv: string[]): Promise<number> {
  const cmd = program();
  try {
    cmd.parse(argv);
  } catch (err) {
    // Commander has printed the help or the error already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  const o = cmd.opts<CliOptions>();
  let s: Settings;
  try {
    s = settings(o, process.env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`produce: ${err.message}\n(run with --help for usage)\n`);
    return 2;
  }
  try {
    process.stdout.write(`${await run(o, s)}\n`);
    return 0;
  } catch (err) {
    const code = err instanceof CatalogSyncError ? ` [${err.code}]` : '';
    process.stderr.write(`produce: ${describe(err)}${code}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
