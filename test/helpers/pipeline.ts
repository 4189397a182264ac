import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { parseConfig } from '../../src/config/config.js';
import { connectionOf, createKafka, type KafkaConnection, type Producer } from '../../src/kafka/client.js';
import { createLogger } from '../../src/logger.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { startSimulator } from '../../tools/simulator/server.js';
import { deleteKeys, endpoints, eventually, unique } from './services.js';

export const PROJECT = { projectKey: 'project_demo', restApiKey: 'rest_demo_key' };

/** Everything one pipeline test needs, isolated: its own topics, group, Redis prefix and simulator. */
export async function pipelineFixture(
  syncs: unknown[],
  /** registryUrl: what the instances use (a proxy, to cut them off); the test's producer uses the real one. */
  /** kafka: raw config fields (brokers, tls, sasl) for another broker; kafkaEnv: its secrets' variables. */
  opts: {
    indexingDelayMs?: number;
    cdcPartitions?: number;
    registryUrl?: string;
    kafka?: Record<string, unknown>;
    kafkaEnv?: NodeJS.ProcessEnv;
    /** raw `redis` fields (url, keyPrefix, tls, username, password) for another Redis. */
    redis?: Record<string, unknown>;
    /** raw `schemaRegistry` fields besides the URL (auth, tls) the instances use. */
    registry?: Record<string, unknown>;
  } = {},
) {
  const sim = await startSimulator({ port: 0, batch: { indexingDelayMs: opts.indexingDelayMs ?? 50 } });
  const name = unique('pipe');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEST_BATCH_PROJECT: PROJECT.projectKey,
    TEST_BATCH_KEY: PROJECT.restApiKey,
    ...opts.kafkaEnv,
  };
  // The environment overrides the file; the test's own registry URL and brokers must win.
  if (opts.registryUrl) delete env.SCHEMA_REGISTRY_URL;
  if (opts.kafka) delete env.KAFKA_BROKERS;
  if (opts.redis) delete env.REDIS_URL;
  if (opts.redis?.keyPrefix) delete env.REDIS_KEY_PREFIX;
  const raw = {
    instanceId: `${name}-a`,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'error',
    kafka: {
      brokers: endpoints().kafkaBrokers,
      groupId: `${name}-group`,
      cdcTopic: `${name}.cdc`,
      cdcPartitions: opts.cdcPartitions ?? 3,
      statusTopic: `${name}.status`,
      deadLetterTopic: `${name}.dlq`,
      sessionTimeoutMs: 10_000,
      ...opts.kafka,
    },
    schemaRegistry: { url: opts.registryUrl ?? endpoints().registryUrl, ...opts.registry },
    redis: { url: endpoints().redisUrl, keyPrefix: name, ...opts.redis },
    http: { port: 0 },
    batch: {
      baseUrl: sim.batchUrl,
      projects: {
        demo: { projectKey: { env: 'TEST_BATCH_PROJECT' }, restApiKey: { env: 'TEST_BATCH_KEY' } },
      },
    },
    syncs,
  };
  const config = parseConfig(raw, env);
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  /** How the test's own clients reach the fixture's broker (the instances' TLS and SASL too). */
  const connection: KafkaConnection = connectionOf(config.kafka);
  const producer = createKafka(connection).producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const services: CatalogSyncService[] = [];

  return {
    sim,
    config,
    connection,
    raw,
    env,
    name,
    registry,
    producer: producer as Producer,
    /** `logs`: also collect the instance's log lines from `warn` up (parsed JSON). */
    async startInstance(
      suffix = String.fromCharCode(97 + services.length),
      opts: { logs?: Record<string, unknown>[]; level?: string } = {},
    ) {
      const logs = opts.logs;
      const logger = logs
        ? createLogger({
            level: opts.level ?? 'warn',
            destination: { write: (line: string) => void logs.push(JSON.parse(line)) },
          })
        : createLogger({ level: config.logLevel });
      const svc = new CatalogSyncService(
        { ...config, instanceId: `${name}-${suffix}` },
        {},
        logger.child({ instance: suffix }),
      );
      services.push(svc);
      await svc.start();
      return svc;
    },
    async produce(
      syncId: string,
      kind: 'FULL' | 'DELTA',
      rows: Iterable<Row>,
      deletedIds: string[] = [],
      runSeq?: number,
    ) {
      return produceRun({
        producer,
        registry,
        topic: config.kafka.cdcTopic,
        syncId,
        kind,
        idColumn: 'sku',
        rows,
        deletedIds,
        ...(runSeq === undefined ? {} : { runSeq }),
      });
    },
    items(catalog: string) {
      return (
        sim.batch.catalog(PROJECT.projectKey, catalog)?.items ?? new Map<string, Record<string, unknown>>()
      );
    },
    async runDone(syncId: string, runId: string, timeoutMs = 60_000) {
      const state = services[0]!.state(syncId);
      return eventually(
        `run ${runId} of ${syncId} done`,
        async () => {
          const info = await state.runInfo(runId);
          return info && (info.state === 'done' || info.state === 'held') ? info : undefined;
        },
        timeoutMs,
      );
    },
    async close() {
      for (const s of services) await s.stop().catch(() => undefined);
      await producer.disconnect();
      await sim.close();
      await deleteKeys(name);
    },
  };
}

export function products(from: number, to: number, extra: Record<string, unknown> = {}): Row[] {
  const rows: Row[] = [];
  for (let i = from; i <= to; i++) {
    rows.push({
      sku: `sku-${i}`,
      name: `Product ${i}`,
      price: i + 0.99,
      in_stock: i % 3 !== 0,
      tags: ['demo'],
      ...extra,
    });
  }
  return rows;
}

export function productSync(
  id: string,
  catalog: string,
  mode: string,
  operation: string,
  more: Record<string, unknown> = {},
) {
  return {
    id,
    destination: { type: 'batch', project: 'demo', catalog },
    mode,
    operation,
    idColumn: 'sku',
    fields: [
      { source: 'name', attribute: 'name', type: 'string' },
      { source: 'price', attribute: 'price', type: 'float' },
      { source: 'in_stock', attribute: 'in_stock', type: 'bool' },
    ],
    customAttributes: ['tags'],
    flushWaitMs: 100,
    ...more,
  };
}

/** Collects every status event of a fixture's status topic from the beginning, for assertions. */
export async function collectStatus(fx: Awaited<ReturnType<typeof pipelineFixture>>) {
  const { readStatus } = await import('../../src/status/reader.js');
  const events: import('../../src/status/types.js').StatusEventDecoded[] = [];
  const reader = await readStatus({
    kafka: createKafka(fx.connection),
    registry: fx.registry,
    topic: fx.config.kafka.statusTopic,
    fromBeginning: true,
    onEvent: (e) => events.push(e),
  });
  return { events, stop: () => reader.stop() };
}

/** Collects the dead-letter topic's records (original bytes plus x-dlq-* headers). */
export async function collectDeadLetters(fx: Awaited<ReturnType<typeof pipelineFixture>>) {
  const records: { value: Buffer | null; headers: Record<string, string> }[] = [];
  const consumer = createKafka(fx.connection).consumer({
    groupId: unique('dlq-reader'),
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [fx.config.kafka.deadLetterTopic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
      records.push({ value: message.value, headers });
    },
  });
  return { records, stop: () => consumer.disconnect() };
}

/** Resolves when the consumer group has committed every CDC event produced so far: all settled. */
export async function caughtUp(fx: Awaited<ReturnType<typeof pipelineFixture>>, timeoutMs = 60_000) {
  const admin = createKafka(fx.connection).admin();
  await admin.connect();
  try {
    const topic = fx.config.kafka.cdcTopic;
    const high = await admin.fetchTopicOffsets(topic);
    await eventually(
      'the consumer group to commit every produced event',
      async () => {
        const [committed] = await admin.fetchOffsets({ groupId: fx.config.kafka.groupId, topics: [topic] });
        const byPartition = new Map(committed!.partitions.map((p) => [p.partition, p.offset]));
        return high.every((h) => h.high === '0' || byPartition.get(h.partition) === h.high)
          ? true
          : undefined;
      },
      timeoutMs,
    );
  } finally {
    await admin.disconnect();
  }
}
