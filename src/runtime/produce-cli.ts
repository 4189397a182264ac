/**
 * `produce`: publishes one run of a sync from a rows file, as the warehouse would.
 * Exit codes: 0 done, 1 the run failed (bad input line, broker or registry error), 2 wrong arguments.
 */
import { existsSync, readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { parse as parseYaml } from 'yaml';
import { configSchema, formatIssues, resolveKafka, resolveRegistry } from '../config/config.js';
import { CatalogSyncError, describe } from '../errors.js';
import type { RunKind } from '../ingest/change-event.js';
import { checkKafkaAccess, createKafka, type KafkaConnection, Partitioners } from '../kafka/client.js';
import { createRegistry, type RegistryAccess } from '../kafka/registry.js';
import { ensureTopics, type TopicDurability, topicDurability } from '../kafka/topics.js';
import { ProduceInputError, prepareEntry, produceRun } from './produce.js';
import {
  type ColumnTypes,
  columnTypes,
  formatOf,
  type InputFormat,
  readIdsFile,
  readInput,
  spool,
} from './produce-input.js';

const DEFAULT_TOPIC = 'catalog-sync.cdc';
const DEFAULT_REGISTRY_URL = 'http://127.0.0.1:18090/apis/ccompat/v7';

class UsageError extends Error {}

interface CliOptions {
  sync: string;
  run: 'full' | 'delta';
  file: string;
  format?: InputFormat;
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
    .requiredOption('--file <path>', 'rows (and NDJSON deletions): .csv, or NDJSON; - reads stdin')
    .addOption(
      new Option('--format <format>', 'input format (default: csv for a .csv file, else ndjson)').choices([
        'csv',
        'ndjson',
      ]),
    )
    .option(
      '--deletes <path>',
      'delta runs: deleted ids, one per line, trimmed, # comments (kept for compatibility; NDJSON ' +
        'deletions take any id)',
    )
    .option('--id-column <column>', 'column holding the item id (overrides --config)')
    .option(
      '--config <file>',
      "service config: the sync's idColumn and column types (CSV), kafka.cdcTopic, kafka.cdcPartitions, " +
        'kafka.tls and kafka.sasl',
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
          arrays of strings and null pass as they are; any other value is an error. A line whose object
          has the single key "delete" deletes that id (delta runs): {"delete": "SKU-1"}. The id is taken
          as it is (spaces, a leading #, a newline written \\n in JSON all kept); deletions are sent in
          their place among the rows. Blank lines are skipped.
  CSV     the first line is the header; RFC 4180 quoting. An empty field without quotes is null (the
          attribute is removed); "" is an empty string. With --config, a column the sync maps with a
          type is converted: integer, float -> number; bool -> true/false (any case); date -> Unix
          seconds (digits) or an RFC 3339 date kept as text; array -> JSON text ["a","b"]. string, url,
          untyped custom attributes, unmapped columns and the id column stay strings (without --config,
          every column stays a string). CSV cannot carry deletions: use NDJSON or --deletes.
  The id column must hold a value on every row. The whole input is read and checked before anything is
  sent: an error names the line (<file> line N: <reason>, stdin line N for --file -) and nothing is
  published. --file - copies stdin to a temporary file first (removed afterwards; no size limit but disk).

Environment:
  KAFKA_BROKERS        comma-separated brokers (default 127.0.0.1:19092; overrides --config)
  SCHEMA_REGISTRY_URL  schema registry (default ${DEFAULT_REGISTRY_URL}; overrides --config)

Examples:
  produce --sync products --run full --file examples/products-full.ndjson --id-column sku
  produce --sync products --run delta --file changed.csv --deletes deleted.txt --config catalog-sync.yaml
  export-delta | produce --sync products --run delta --file - --config catalog-sync.yaml

Exit codes: 0 done, 1 the run failed (a bad input line: nothing sent; broker or registry error), 2 wrong
arguments.`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride();
}

interface Settings {
  idColumn: string;
  /** CSV column types from the sync's mapping (empty without --config). */
  types: ColumnTypes;
  topic: string;
  partitions: number;
  /** kafka.replicationFactor / minInsyncReplicas of --config, for a CDC topic created here. */
  durability?: TopicDurability;
  brokers: string | undefined;
  /** schemaRegistry of --config with its credentials resolved; the URL alone without --config. */
  registry: RegistryAccess;
  /** kafka.tls and kafka.sasl of --config, resolved (plaintext without --config). */
  security: Pick<KafkaConnection, 'tls' | 'sasl'>;
}

function settings(o: CliOptions, env: NodeJS.ProcessEnv): Settings {
  if (o.file !== '-' && !existsSync(o.file)) throw new UsageError(`--file ${o.file}: no such file`);
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
      types: new Map(),
      topic: o.topic ?? DEFAULT_TOPIC,
      partitions: o.partitions ?? 6,
      brokers: fromEnv.brokers,
      registry: { url: fromEnv.registryUrl ?? DEFAULT_REGISTRY_URL },
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
    types: columnTypes(sync),
    topic: o.topic ?? cfg.kafka.cdcTopic,
    partitions: o.partitions ?? cfg.kafka.cdcPartitions,
    durability: {
      replicationFactor: cfg.kafka.replicationFactor,
      minInsyncReplicas: cfg.kafka.minInsyncReplicas,
    },
    brokers: fromEnv.brokers ?? cfg.kafka.brokers,
    registry: {
      ...registryAccess(cfg.schemaRegistry, env, o.config),
      ...(fromEnv.registryUrl ? { url: fromEnv.registryUrl } : {}),
    },
    security: kafkaSecurity(cfg.kafka, env, o.config),
  };
}

function registryAccess(
  registry: Parameters<typeof resolveRegistry>[0],
  env: NodeJS.ProcessEnv,
  file: string,
): RegistryAccess {
  try {
    return resolveRegistry(registry, env);
  } catch (err) {
    throw new UsageError(`--config ${file}: ${describe(err)}`);
  }
}

function kafkaSecurity(kafka: Parameters<typeof resolveKafka>[0], env: NodeJS.ProcessEnv, file: string) {
  try {
    const { tls, sasl } = resolveKafka(kafka, env);
    return { tls, sasl };
  } catch (err) {
    throw new UsageError(`--config ${file}: ${describe(err)}`);
  }
}

interface Input {
  path: string;
  format: InputFormat;
  label: string;
}

/** A first pass over the input, so a bad entry stops the run before any event of it is sent. */
async function check(input: Input, kind: RunKind, s: Settings): Promise<void> {
  const source = readInput(input.path, { ...input, types: s.types, idColumn: s.idColumn });
  for await (const entry of source.entries) {
    try {
      prepareEntry(entry, kind, s.idColumn);
    } catch (err) {
      if (!(err instanceof ProduceInputError)) throw err;
      throw new ProduceInputError(`${source.position()}: ${err.message}`);
    }
  }
}

async function run(o: CliOptions, s: Settings): Promise<string> {
  if (o.file !== '-') {
    return publish(o, s, { path: o.file, format: o.format ?? formatOf(o.file), label: o.file });
  }
  const spooled = await spool(process.stdin);
  try {
    return await publish(o, s, { path: spooled.path, format: o.format ?? 'ndjson', label: 'stdin' });
  } finally {
    await spooled.remove();
  }
}

async function publish(o: CliOptions, s: Settings, input: Input): Promise<string> {
  const started = Date.now();
  const kind: RunKind = o.run === 'full' ? 'FULL' : 'DELTA';
  await check(input, kind, s);
  const deletedIds = o.deletes ? await readIdsFile(o.deletes) : [];
  const connection = { brokers: s.brokers, ...s.security, clientId: 'catalog-sync-produce' };
  await checkKafkaAccess(connection);
  const kafka = createKafka(connection);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopics(admin, [
      { topic: s.topic, numPartitions: s.partitions, ...topicDurability(s.durability ?? {}) },
    ]);
  } finally {
    await admin.disconnect();
  }
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  try {
    const source = readInput(input.path, { ...input, types: s.types, idColumn: s.idColumn });
    const r = await produceRun({
      producer,
      registry: createRegistry(s.registry, 'catalog-sync-produce'),
      topic: s.topic,
      syncId: o.sync,
      runId: o.runId,
      runSeq: o.runSeq,
      kind,
      idColumn: s.idColumn,
      rows: source.entries,
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
