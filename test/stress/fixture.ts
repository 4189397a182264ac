/**
 * One stack of services for many generated cases: its own topics, group, Redis prefix and Batch
 * simulator, with a pool of Mirror syncs that each start from an empty catalog. Batch allows 5
 * catalogs per project, so the pool spreads over as many projects as it needs.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { parseConfig } from '../../src/config/config.js';
import { CHANGE_EVENT_SCHEMA } from '../../src/ingest/change-event.js';
import { createKafka, type Producer } from '../../src/kafka/client.js';
import { createLogger } from '../../src/logger.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { readStatus, type StatusEventDecoded } from '../../src/status/reader.js';
import { startSimulator } from '../../tools/simulator/server.js';
import { productSync } from '../helpers/pipeline.js';
import { deleteKeys, endpoints, eventually, unique } from '../helpers/services.js';
import { MAX_DELETE_SHARE, PARTITIONS } from './cases.js';

const CATALOGS_PER_PROJECT = 5;

export interface SyncSlot {
  syncId: string;
  projectKey: string;
  catalog: string;
}

export type StressFixture = Awaited<ReturnType<typeof startStressFixture>>;

export async function startStressFixture(opts: { syncs: number; instances: number }) {
  const name = unique('stress');
  const projects = Math.ceil(opts.syncs / CATALOGS_PER_PROJECT);
  const env: NodeJS.ProcessEnv = { ...process.env };
  const simProjects: { projectKey: string; restApiKey: string }[] = [];
  const cfgProjects: Record<string, unknown> = {};
  for (let p = 0; p < projects; p++) {
    simProjects.push({ projectKey: `stress_p${p}`, restApiKey: `rest_p${p}` });
    env[`STRESS_P${p}_KEY`] = `stress_p${p}`;
    env[`STRESS_P${p}_REST`] = `rest_p${p}`;
    cfgProjects[`p${p}`] = {
      projectKey: { env: `STRESS_P${p}_KEY` },
      restApiKey: { env: `STRESS_P${p}_REST` },
    };
  }
  const sim = await startSimulator({ port: 0, batch: { indexingDelayMs: 20, projects: simProjects } });
  const slots: SyncSlot[] = Array.from({ length: opts.syncs }, (_, i) => ({
    syncId: `s${i}`,
    projectKey: `stress_p${Math.floor(i / CATALOGS_PER_PROJECT)}`,
    catalog: `cat${i % CATALOGS_PER_PROJECT}`,
  }));
  const raw = {
    instanceId: `${name}-a`,
    logLevel: process.env.TEST_LOG_LEVEL ?? 'error',
    kafka: {
      brokers: endpoints().kafkaBrokers,
      groupId: `${name}-group`,
      cdcTopic: `${name}.cdc`,
      cdcPartitions: PARTITIONS,
      statusTopic: `${name}.status`,
      deadLetterTopic: `${name}.dlq`,
      // The smallest the brokers allow: a killed instance's partitions move on sooner.
      sessionTimeoutMs: 6000,
    },
    schemaRegistry: { url: endpoints().registryUrl },
    redis: { url: endpoints().redisUrl, keyPrefix: name },
    http: { port: 0 },
    batch: { baseUrl: sim.batchUrl, projects: cfgProjects },
    syncs: slots.map((s, i) =>
      productSync(s.syncId, s.catalog, 'full_then_delta', 'mirror', {
        destination: {
          type: 'batch',
          project: `p${Math.floor(i / CATALOGS_PER_PROJECT)}`,
          catalog: s.catalog,
        },
        guardrail: { maxDeleteShare: MAX_DELETE_SHARE },
        flushWaitMs: 50,
      }),
    ),
  };
  const config = parseConfig(raw, env);
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  const { id: schemaId } = await registry.register(
    { type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA },
    { subject: `${config.kafka.cdcTopic}-value` },
  );
  const type = (await registry.getSchema(schemaId)) as avro.Type;
  const kafka = createKafka({ brokers: endpoints().kafkaBrokers });
  const producer = kafka.producer({ maxInFlightRequests: 1 });
  await producer.connect();
  const admin = kafka.admin();
  await admin.connect();

  const instances: CatalogSyncService[] = [];
  const children: ChildProcess[] = [];
  const startInstance = async (suffix: string) => {
    const logger = createLogger({ level: config.logLevel }).child({ instance: suffix });
    const svc = new CatalogSyncService({ ...config, instanceId: `${name}-${suffix}` }, {}, logger);
    instances.push(svc);
    await svc.start();
    return svc;
  };
  for (let i = 0; i < opts.instances; i++) await startInstance(String.fromCharCode(97 + i));
  await eventually(
    'the instances to share the partitions',
    () =>
      instances.every((s) => s.assignedPartitions.length > 0) &&
      instances.reduce((n, s) => n + s.assignedPartitions.length, 0) === PARTITIONS
        ? true
        : undefined,
    60_000,
  );

  const status: StatusEventDecoded[] = [];
  const statusSeen = new Map<number, bigint>();
  const reader = await readStatus({
    kafka,
    registry,
    topic: config.kafka.statusTopic,
    fromBeginning: true,
    onEvent: (e) => {
      status.push(e);
      statusSeen.set(e.partition, BigInt(e.offset));
    },
  });

  return {
    name,
    sim,
    config,
    env,
    registry,
    schemaId,
    type,
    producer: producer as Producer,
    admin,
    instances,
    status,
    /** Resolves once the status reader has read everything published so far. */
    async statusCaughtUp(timeoutMs = 10_000) {
      const high = await admin.fetchTopicOffsets(config.kafka.statusTopic);
      await eventually(
        'the status reader to catch up',
        () =>
          high.every((h) => (statusSeen.get(h.partition) ?? -1n) >= BigInt(h.high) - 1n) ? true : undefined,
        timeoutMs,
      );
    },
    /** A sync nobody used yet, or undefined when the pool is spent. */
    take: () => slots.shift(),
    get left() {
      return slots.length;
    },
    items(slot: SyncSlot) {
      return (
        sim.batch.catalog(slot.projectKey, slot.catalog)?.items ?? new Map<string, Record<string, unknown>>()
      );
    },
    /** An instance in a child process, so that a test can SIGKILL it; stderr is collected. */
    spawnChild(suffix: string) {
      const file = join(tmpdir(), `${name}-${suffix}.json`);
      writeFileSync(file, JSON.stringify({ ...raw, instanceId: `${name}-${suffix}` }));
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', 'src/runtime/cli.ts', 'start', '--config', file],
        {
          env: { ...env, LOG_LEVEL: 'warn' },
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      children.push(child);
      const stderr: string[] = [];
      child.stderr!.on('data', (d) => stderr.push(String(d)));
      return { child, stderr };
    },
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const s of instances) await s.stop().catch(() => undefined);
      await reader.stop().catch(() => undefined);
      await admin.disconnect();
      await producer.disconnect();
      await sim.close();
      await deleteKeys(name);
    },
  };
}

/** A pool of fixtures: when one runs out of syncs it is closed and a fresh one takes over. */
export function fixturePool(opts: { syncs: number; instances: number }) {
  let current: Promise<StressFixture> | undefined;
  return {
    async slot(): Promise<{ fx: StressFixture; slot: SyncSlot }> {
      current ??= startStressFixture(opts);
      let fx = await current;
      let slot = fx.take();
      if (!slot) {
        await fx.close();
        current = startStressFixture(opts);
        fx = await current;
        slot = fx.take()!;
      }
      return { fx, slot };
    },
    /** Closes the current fixture; the next slot starts a fresh one (after a failure: no leftovers). */
    async close() {
      const fx = current;
      current = undefined;
      await (await fx?.catch(() => undefined))?.close();
    },
  };
}
