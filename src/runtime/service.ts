/**
 * Builds one catalog-sync instance from a parsed Config: connections, topics, the per-sync pipelines
 * and the consumer. `start` and `stop` are the whole lifecycle.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Config, SyncConfig } from '../config/config.js';
import { DEFAULT_TIMEOUT_MS } from '../destinations/http.js';
import type { SyncDestination } from '../destinations/port.js';
import { DESTINATIONS, destinationPlugin, sectionOf } from '../destinations/registry.js';
import { type DestinationEvent, destinationStatusEvent } from '../destinations/status.js';
import { ConfigError } from '../errors.js';
import { CdcConsumer } from '../ingest/consumer.js';
import { DeadLetterWriter } from '../ingest/dead-letter.js';
import { DebeziumDecoder } from '../ingest/debezium.js';
import { Decoder } from '../ingest/decoder.js';
import { InFlightFence } from '../ingest/fence.js';
import {
  checkKafkaAccess,
  classifyKafkaError,
  connectionOf,
  createKafka,
  KafkaAccessError,
  Partitioners,
  type Producer,
  securityOf,
} from '../kafka/client.js';
import { BrokerProbe } from '../kafka/probe.js';
import {
  checkRegistryAccess,
  createRegistry,
  RegistryAccessError,
  registryReadiness,
} from '../kafka/registry.js';
import { ensureTopics, serviceTopics } from '../kafka/topics.js';
import { createLogger, type Logger, redactUrl } from '../logger.js';
import type { StatusSink } from '../pipeline/sinks.js';
import { SyncPipeline } from '../pipeline/sync-pipeline.js';
import { changelogTopicName } from '../planning/changelog.js';
import { SyncPause } from '../planning/pause.js';
import { attributeSpecs } from '../planning/planner.js';
import { SyncState } from '../planning/state.js';
import { StateDurability } from '../planning/state-guard.js';
import { checkRedisAccess, createRedis, type Redis, RedisAccessError } from '../redis/connection.js';
import { createKeys, type Keys } from '../redis/keys.js';
import { StatusJournal } from '../status/journal.js';
import { StatusPublisher } from '../status/publisher.js';
import { RunStartGate } from '../status/run-start.js';
import { adminRoutes } from './admin/api.js';
import { type OpsServer, type Readiness, startOpsServer } from './http.js';
import { ServiceMetrics } from './metrics.js';

/** An in-flight entry outlives the destination clients' request timeout, with margin. */
const FENCE_TTL_MS = 2 * DEFAULT_TIMEOUT_MS;

export interface ServiceHooks {
  onDestinationEvent?: (syncId: string, e: DestinationEvent) => void;
  onTokenWait?: (ms: number) => void;
  onBatch?: (info: { partition: number; messages: number; lag: number }) => void;
}

interface Outputs {
  producer: Producer;
  status: StatusPublisher;
  sink: StatusSink;
}

export class CatalogSyncService {
  readonly logger: Logger;
  readonly redis: Redis;
  readonly keys: Keys;
  private readonly kafka;
  private readonly registry: SchemaRegistry;
  private producer: Producer | undefined;
  private status: StatusPublisher | undefined;
  private consumer: CdcConsumer | undefined;
  /** One per Debezium topic some sync reads (docs/debezium.md), each in a group of its own. */
  private readonly debeziumConsumers: CdcConsumer[] = [];
  private readonly pipelines = new Map<string, SyncPipeline>();
  private readonly states = new Map<string, SyncState>();
  readonly metrics: ServiceMetrics;
  /** Run history and rejections in Redis, for the admin API and status page. */
  readonly journal: StatusJournal;
  private ops: Promise<OpsServer> | undefined;
  private outputs: Outputs | undefined;
  private unobserveHttp: (() => void) | undefined;
  private kafkaChecked: Promise<void> | undefined;
  /** Loss detection and the membership changelog (planning/state-guard.ts), once started. */
  private durability: StateDurability | undefined;
  private readonly brokerProbe: BrokerProbe;

  constructor(
    readonly config: Config,
    private readonly hooks: ServiceHooks = {},
    logger?: Logger,
  ) {
    this.logger = logger ?? createLogger({ level: config.logLevel }).child({ instance: config.instanceId });
    // Connected by its first command, after start() has probed the credentials (checkRedisAccess).
    this.redis = createRedis(config.redis.url, config.redis, { lazyConnect: true });
    this.redis.on('error', (err: Error & { code?: unknown }) =>
      this.logger.warn({ code: err.code, reason: err.message.split('\n')[0] }, 'redis connection error'),
    );
    this.keys = createKeys(config.redis.keyPrefix);
    this.kafka = createKafka({
      ...connectionOf(config.kafka),
      clientId: config.kafka.clientId,
      logger: this.logger,
    });
    this.registry = createRegistry(config.schemaRegistry);
    this.journal = new StatusJournal(this.redis, this.keys, config.instanceId);
    this.brokerProbe = new BrokerProbe({ ...connectionOf(config.kafka), clientId: config.kafka.clientId });
    this.metrics = new ServiceMetrics({
      assignedPartitions: () => this.assignedPartitions,
      queued: () => [...this.pipelines].map(([id, p]) => [id, p.queued] as const),
      runs: () =>
        Promise.all(
          config.syncs.map(async (s) => {
            const runs = await this.state(s.id).runsInProgress();
            const held = runs.filter((r) => r.state === 'held').reduce((n, r) => n + r.held, 0);
            return [s.id, { inProgress: runs.length, held }] as const;
          }),
        ),
      paused: () =>
        Promise.all(
          config.syncs.map(
            async (s) => [s.id, await new SyncPause(this.redis, this.keys, s.id).isPaused()] as const,
          ),
        ),
    });
  }

  /** Starts the metrics and health endpoint (start() does too); resolves to the bound port. */
  async listen(): Promise<number> {
    this.ops ??= startOpsServer({
      port: this.config.http.port,
      host: this.config.http.host,
      registry: this.metrics.registry,
      readiness: () => this.readiness(),
      logger: this.logger,
      routes: adminRoutes({
        config: this.config,
        redis: this.redis,
        keys: this.keys,
        journal: this.journal,
        commands: this,
        instanceId: this.config.instanceId,
        token: this.config.admin.token,
        protectReads: this.config.admin.protectReads,
        logger: this.logger,
      }),
    });
    return (await this.ops).port;
  }

  /**
   * Ready when Redis, the schema registry and a broker answer and the consumer is connected and a member
   * of the group, with or without partitions (an instance beyond the partition count idles, ready).
   */
  async readiness(): Promise<Readiness> {
    const checks: Readiness['checks'] = {};
    checks.redis = this.redis.status === 'ready' || `redis connection is ${this.redis.status}`;
    checks.state = (await this.durability?.readiness()) ?? true;
    checks.schemaRegistry = await registryReadiness(this.config.schemaRegistry);
    // Brokers that do not answer explain a consumer that is not connected or not a member: said first.
    const brokers = this.consumer ? await this.brokerProbe.check() : true;
    checks.kafka = !this.consumer
      ? 'consumer not started'
      : brokers !== true
        ? brokers
        : !this.consumer.connected
          ? 'consumer not connected to the brokers'
          : !this.consumer.member
            ? 'not a member of the consumer group yet (joining)'
            : true;
    const reasons = Object.values(checks).filter((c): c is string => c !== true);
    return { ready: reasons.length === 0, checks, reasons, partitions: this.assignedPartitions };
  }

  get assignedPartitions(): number[] {
    return this.consumer?.assignedPartitions ?? [];
  }

  /** One per sync per process: its token is this instance's identity in run leases. */
  state(syncId: string): SyncState {
    let state = this.states.get(syncId);
    if (!state) {
      state = new SyncState(this.redis, this.keys, syncId, {}, this.durability?.guard(syncId));
      this.states.set(syncId, state);
    }
    return state;
  }

  /**
   * Connects everything and starts consuming. The brokers are probed first: a refusal no retry can fix
   * (credentials, certificates, security protocol) rejects with a KafkaAccessError naming the cause;
   * Redis and the schema registry are probed the same way (RedisAccessError, RegistryAccessError).
   */
  async start(): Promise<void> {
    try {
      await this.startOnce();
    } catch (err) {
      if (err instanceof RedisAccessError || err instanceof RegistryAccessError) throw err;
      const verdict = classifyKafkaError(err, this.config.kafka);
      throw verdict instanceof KafkaAccessError ? verdict : err;
    }
  }

  private async startOnce(): Promise<void> {
    const { kafka: k } = this.config;
    await this.listen();
    this.logger.debug(
      { config: { ...this.config, redis: { ...this.config.redis, url: redactUrl(this.config.redis.url) } } },
      'effective configuration',
    );
    this.unobserveHttp ??= this.metrics.observeHttp(
      DESTINATIONS.flatMap((p) => {
        const section = sectionOf(this.config.destinations, p.type);
        return section ? [{ name: p.type, baseUrl: p.baseUrl(section) }] : [];
      }),
    );
    this.logger.info(
      {
        brokers: k.brokers,
        kafkaSecurity: securityOf(k),
        registry: redactUrl(this.config.schemaRegistry.url),
        redis: redactUrl(this.config.redis.url),
        syncs: this.config.syncs.map((s) => s.id),
      },
      'starting',
    );
    await checkRedisAccess(this.config.redis.url, this.config.redis, this.config.redis.keyPrefix);
    if (this.redis.status === 'wait') await this.redis.connect();
    await checkRegistryAccess(this.config.schemaRegistry);
    await this.checkKafka();
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, serviceTopics(k));
    } finally {
      await admin.disconnect();
    }
    const out = await this.ensureStatus();
    this.durability ??= await StateDurability.create({
      redis: this.redis,
      keys: this.keys,
      kafka: this.kafka,
      producer: out.producer,
      topic: changelogTopicName(k),
      durability: k,
      groupPrefix: `${k.groupId}.changelog-scan`,
      status: out.sink,
      logger: this.logger,
      registry: this.metrics.registry,
      label: (id) => this.destinationLabel(this.syncConfig(id)),
    });
    this.states.clear();
    await this.durability.checkAll(this.config.syncs.map((s) => s.id));
    const deadLetters = new DeadLetterWriter(out.producer, k.deadLetterTopic, this.config.instanceId);
    for (const sync of this.config.syncs) {
      const pipeline = this.buildPipeline(sync, deadLetters, out.sink);
      this.pipelines.set(sync.id, pipeline);
      await pipeline.destination
        .ensure()
        .catch((err: unknown) =>
          this.logger.warn(
            { err, sync: sync.id },
            'could not ensure the destination yet; will retry on first send',
          ),
        );
    }
    this.consumer = new CdcConsumer({
      kafka: this.kafka,
      groupId: k.groupId,
      topic: k.cdcTopic,
      sessionTimeoutMs: k.sessionTimeoutMs,
      decoder: new Decoder(this.registry),
      syncs: this.pipelines,
      deadLetters,
      status: out.sink,
      beforeCommit: async () => {
        await out.status.flush();
        await this.durability?.flushHeads();
      },
      logger: this.logger,
      fence: new InFlightFence(this.redis, this.keys.inFlight(k.groupId, k.cdcTopic), {
        ttlMs: FENCE_TTL_MS,
        generationKey: this.keys.generations(k.groupId, k.cdcTopic),
      }),
      onFenced: () => this.metrics.fenced.inc(),
      instanceId: this.config.instanceId,
      onBatch: (info) => {
        this.metrics.setLag(info.partition, info.lag);
        this.hooks.onBatch?.(info);
      },
      onEvent: (sync, type) => this.metrics.events.inc({ sync, type }),
    });
    await this.consumer.start();
    await this.startDebeziumConsumers(deadLetters, out);
    this.logger.info('consuming');
  }

  /**
   * Operator command: sends the deletions the guardrail held for a run, through the same buffer, rate
   * limit and status events as the consumer, then finishes the run. Needs no consumer.
   */
  async releaseDeletions(syncId: string, runId: string): Promise<{ released: boolean; count: number }> {
    const sync = this.syncConfig(syncId);
    const state = this.state(syncId);
    const info = await state.runInfo(runId);
    if (info?.state !== 'held') return { released: false, count: 0 };
    const out = await this.ensureStatus();
    await state.releaseDeletions(runId);
    const run = { runId, seq: info.seq, kind: info.kind as 'FULL' | 'DELTA' };
    // An earlier run still finishing, or a consumer that claimed it first, answers for a moment.
    let claim = await state.claim(run);
    for (let i = 0; i < 120 && (claim === 'waiting' || claim === 'busy'); i++) {
      await sleep(500);
      claim = await state.claim(run);
    }
    if (claim !== 'claimed') return { released: true, count: 0 };
    const pipeline = this.buildPipeline(
      sync,
      new DeadLetterWriter(out.producer, this.config.kafka.deadLetterTopic, this.config.instanceId),
      out.sink,
    );
    try {
      const result = await pipeline.runs.complete(run, { ignoreGuardrail: true });
      await out.status.flush();
      return { released: true, count: result.kind === 'sent' ? result.count : 0 };
    } finally {
      await pipeline.close();
    }
  }

  /** Operator command: finishes a held run without sending its deletions (the export was wrong). */
  async discardDeletions(syncId: string, runId: string): Promise<{ discarded: boolean; count: number }> {
    const sync = this.syncConfig(syncId);
    const counts = await this.state(syncId).discardDeletions(runId);
    if (!counts) return { discarded: false, count: 0 };
    const { status, sink } = await this.ensureStatus();
    sink.emit({
      syncId,
      runId,
      type: 'RUN_COMPLETED',
      destination: this.destinationLabel(sync),
      counts,
      message: `${counts.held} held deletions discarded by an operator; nothing was removed`,
    });
    await status.flush();
    return { discarded: true, count: counts.held };
  }

  /** Operator command: forgets a sync's fingerprints so the next run re-sends every item. */
  async resync(syncId: string): Promise<void> {
    this.syncConfig(syncId);
    await this.state(syncId).resetFingerprints();
  }

  pipeline(syncId: string): SyncPipeline | undefined {
    return this.pipelines.get(syncId);
  }

  async stop(): Promise<void> {
    this.logger.info('stopping: flushing buffers and committing');
    await this.consumer?.stop();
    for (const c of this.debeziumConsumers) await c.stop();
    for (const p of this.pipelines.values()) await p.close();
    await this.status?.close();
    await this.producer?.disconnect();
    await this.brokerProbe.close();
    await this.redis.quit();
    this.unobserveHttp?.();
    await (await this.ops?.catch(() => undefined))?.close();
    this.logger.info('stopped');
  }

  /**
   * The syncs fed by Debezium table topics: per topic, a consumer in the group `<groupId>.<topic>` (a
   * kafkajs group assigns only the topics its leader subscribed to) with the Debezium decoder.
   */
  private async startDebeziumConsumers(deadLetters: DeadLetterWriter, out: Outputs): Promise<void> {
    const k = this.config.kafka;
    const byTopic = new Map<string, typeof this.config.syncs>();
    for (const s of this.config.syncs) {
      if (s.input?.envelope !== 'debezium') continue;
      byTopic.set(s.input.topic, [...(byTopic.get(s.input.topic) ?? []), s]);
    }
    for (const [topic, syncs] of byTopic) {
      const groupId = `${k.groupId}.${topic}`;
      const consumer = new CdcConsumer({
        kafka: this.kafka,
        groupId,
        topic,
        sessionTimeoutMs: k.sessionTimeoutMs,
        decoder: new DebeziumDecoder(this.registry, topic, syncs),
        syncs: new Map(syncs.map((s) => [s.id, this.pipelines.get(s.id)!])),
        deadLetters,
        status: out.sink,
        beforeCommit: () => out.status.flush(),
        logger: this.logger.child({ topic }),
        fence: new InFlightFence(this.redis, this.keys.inFlight(groupId, topic), {
          ttlMs: FENCE_TTL_MS,
          generationKey: this.keys.generations(groupId, topic),
        }),
        onFenced: () => this.metrics.fenced.inc(),
        instanceId: this.config.instanceId,
        onEvent: (sync, type) => this.metrics.events.inc({ sync, type }),
      });
      this.debeziumConsumers.push(consumer);
      await consumer.start();
    }
  }

  /** Once per instance, before the first Kafka client connects (see checkKafkaAccess). */
  private checkKafka(): Promise<void> {
    this.kafkaChecked ??= checkKafkaAccess({
      ...connectionOf(this.config.kafka),
      clientId: this.config.kafka.clientId,
    });
    return this.kafkaChecked;
  }

  /** The status publisher, its metrics-observing sink and the producer behind both, created once. */
  private async ensureStatus(): Promise<Outputs> {
    if (this.outputs) return this.outputs;
    await this.checkKafka();
    const producer = this.kafka.producer({
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    this.producer = producer;
    const status = await StatusPublisher.create({
      producer,
      registry: this.registry,
      topic: this.config.kafka.statusTopic,
      instanceId: this.config.instanceId,
      logger: this.logger,
    });
    this.status = status;
    const sink: StatusSink = {
      emit: (e) => {
        this.metrics.observeStatus(e);
        status.emit(e);
        this.journal.record(e, (err) => this.logger.debug({ err }, 'status journal not written'));
      },
      flush: () => status.flush(),
    };
    this.outputs = { producer, status, sink };
    return this.outputs;
  }

  private destinationLabel(sync: SyncConfig): string {
    return destinationPlugin(sync.destination.type).label(sync.destination);
  }

  private syncConfig(syncId: string): SyncConfig {
    const sync = this.config.syncs.find((s) => s.id === syncId);
    if (!sync) throw new ConfigError(`no sync "${syncId}" in the configuration`, 'syncs');
    return sync;
  }

  private buildPipeline(sync: SyncConfig, deadLetters: DeadLetterWriter, status: StatusSink): SyncPipeline {
    return new SyncPipeline({
      sync,
      state: this.state(sync.id),
      destination: this.destinationFor(sync),
      status,
      deadLetters,
      logger: this.logger,
      paused: () => new SyncPause(this.redis, this.keys, sync.id).isPaused(),
      runStarts: new RunStartGate(this.redis, this.keys, sync.id),
    });
  }

  /** The sync's destination, built by its plugin; its events become status events and metrics. */
  private destinationFor(sync: SyncConfig): SyncDestination {
    const plugin = destinationPlugin(sync.destination.type);
    const section = this.config.destinations[sync.destination.type];
    if (!section)
      throw new ConfigError(`sync ${sync.id}: no ${sync.destination.type} section in the configuration`);
    const label = plugin.label(sync.destination);
    const specs = attributeSpecs(sync);
    return plugin.create(
      {
        redis: this.redis,
        keys: this.keys,
        logger: this.logger.child({ sync: sync.id, destination: label }),
        onEvent: (e) => {
          this.metrics.observeDestinationEvent(sync.id, label, e);
          this.outputs?.sink.emit(destinationStatusEvent(sync.id, label, e));
          this.hooks.onDestinationEvent?.(sync.id, e);
        },
        onTokenWait: (ms) => {
          this.metrics.tokenWait.observe({ sync: sync.id }, ms / 1000);
          this.hooks.onTokenWait?.(ms);
        },
      },
      section,
      {
        id: sync.id,
        target: sync.destination,
        attributes: specs.map(({ attribute, type }) => ({ attribute, type })),
        custom: sync.customAttributes.map((c) => (typeof c === 'string' ? c : c.name)),
      },
    );
  }
}
