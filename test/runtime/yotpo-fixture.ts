import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { parseConfig } from '../../src/config/config.js';
import type { DestinationEvent } from '../../src/destinations/status.js';
import { createKafka, type Producer } from '../../src/kafka/client.js';
import { createLogger } from '../../src/logger.js';
import { produceRun, type Row } from '../../src/runtime/produce.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { startSimulator } from '../../tools/simulator/server.js';
import { deleteKeys, endpoints, eventually, unique } from '../helpers/services.js';

export const STORE = { storeId: 'store_demo', token: 'yotpo_demo_token' };

/** A Yotpo pipeline test's world, isolated: its own topics, group, Redis prefix and simulator. */
export async function yotpoFixture(
  syncs: unknown[],
  opts: {
    simRate?: number;
    requestsPerSecond?: number;
    concurrency?: number;
    store?: { storeId: string; token: string };
    logLevel?: string;
    /** Receives every log line of the instances. */
    logStream?: { write(line: string): void };
  } = {},
) {
  const store = opts.store ?? STORE;
  const sim = await startSimulator({
    port: 0,
    yotpo: { requestsPerSecond: opts.simRate ?? 500, stores: [store] },
  });
  const name = unique('yotpo');
  const env = { ...process.env, TEST_YOTPO_STORE: store.storeId, TEST_YOTPO_TOKEN: store.token };
  const config = parseConfig(
    {
      instanceId: `${name}-a`,
      logLevel: opts.logLevel ?? process.env.TEST_LOG_LEVEL ?? 'warn',
      kafka: {
        brokers: endpoints().kafkaBrokers,
        groupId: `${name}-group`,
        cdcTopic: `${name}.cdc`,
        cdcPartitions: 3,
        statusTopic: `${name}.status`,
        deadLetterTopic: `${name}.dlq`,
        sessionTimeoutMs: 10_000,
      },
      schemaRegistry: { url: endpoints().registryUrl },
      redis: { url: endpoints().redisUrl, keyPrefix: name },
      http: { port: 0 },
      yotpo: {
        baseUrl: sim.yotpoUrl,
        defaultCountry: 'FR',
        stores: { main: { storeId: { env: 'TEST_YOTPO_STORE' }, token: { env: 'TEST_YOTPO_TOKEN' } } },
        limits: { requestsPerSecond: opts.requestsPerSecond ?? 400, concurrency: opts.concurrency ?? 8 },
      },
      syncs,
    },
    env,
  );
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  const producer = createKafka({ brokers: endpoints().kafkaBrokers }).producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const services: CatalogSyncService[] = [];
  const events: { syncId: string; event: DestinationEvent }[] = [];

  return {
    sim,
    config,
    name,
    registry,
    events,
    producer: producer as Producer,
    async startInstance(suffix = String.fromCharCode(97 + services.length)) {
      const svc = new CatalogSyncService(
        { ...config, instanceId: `${name}-${suffix}` },
        { onDestinationEvent: (syncId, event) => events.push({ syncId, event }) },
        createLogger({
          level: config.logLevel,
          ...(opts.logStream ? { destination: opts.logStream } : {}),
        }).child({ instance: suffix }),
      );
      services.push(svc);
      await svc.start();
      return svc;
    },
    produce(syncId: string, kind: 'FULL' | 'DELTA', rows: Row[]) {
      return produceRun({
        producer,
        registry,
        topic: config.kafka.cdcTopic,
        syncId,
        kind,
        idColumn: 'id',
        rows,
      });
    },
    customers() {
      return sim.yotpo.customers(store.storeId);
    },
    stats() {
      return sim.yotpo.stats(store.storeId);
    },
    async runDone(syncId: string, runId: string, timeoutMs = 60_000) {
      const state = services[0]!.state(syncId);
      return eventually(
        `run ${runId} of ${syncId} done`,
        async () => {
          const info = await state.runInfo(runId);
          return info && info.state === 'done' ? info : undefined;
        },
        timeoutMs,
      );
    },
    /** The dead-letter topic's records (x-dlq-* headers), from the beginning. */
    async deadLetters() {
      const records: Record<string, string>[] = [];
      const consumer = createKafka({ brokers: endpoints().kafkaBrokers }).consumer({
        groupId: unique('dlq'),
      });
      await consumer.connect();
      await consumer.subscribe({ topics: [config.kafka.deadLetterTopic], fromBeginning: true });
      await consumer.run({
        eachMessage: async ({ message }) => {
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(message.headers ?? {})) headers[k] = String(v);
          records.push(headers);
        },
      });
      return { records, stop: () => consumer.disconnect() };
    },
    async close() {
      for (const s of services) await s.stop().catch(() => undefined);
      await producer.disconnect();
      await sim.close();
      await deleteKeys(name);
    },
  };
}

export function contactSync(
  id: string,
  matchKey: 'external_id' | 'email' | 'phone',
  insertMode: boolean,
  more: Record<string, unknown> = {},
) {
  return {
    id,
    destination: { type: 'yotpo', store: 'main', matchKey, insertMode },
    mode: 'full_then_delta',
    operation: 'upsert',
    idColumn: 'id',
    fields: [
      { source: 'first', attribute: 'first_name', type: 'string' },
      { source: 'last', attribute: 'last_name', type: 'string' },
    ],
    customAttributes: ['tier', 'points'],
    flushWaitMs: 50,
    ...more,
  };
}

/** Contacts `from..to`; `id` is built by `idOf` (an external id, an email or a phone number). */
export function contacts(from: number, to: number, idOf: (i: number) => string, extra: Row = {}): Row[] {
  const rows: Row[] = [];
  for (let i = from; i <= to; i++) {
    rows.push({
      id: idOf(i),
      first: `First${i}`,
      last: `Last${i}`,
      tier: i % 2 ? 'gold' : 'silver',
      points: i,
      ...extra,
    });
  }
  return rows;
}

export const byExternalId = (i: number) => `shop-${i}`;
export const byEmail = (i: number) => `user${i}@example.com`;
/** French mobile numbers as a warehouse holds them (national format), E.164 in Yotpo. */
export const byPhone = (i: number) =>
  `06 12 ${String(i)
    .padStart(6, '0')
    .replace(/(\d\d)(\d\d)(\d\d)/, '$1 $2 $3')}`;
export const e164 = (i: number) => `+33612${String(i).padStart(6, '0')}`;
