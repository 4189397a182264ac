/**
 * Builds one catalog-sync instance from a parsed Config: connections, topics, the per-sync pipelines
 * and the consumer. `start` and `stop` are the whole lifecycle.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { BatchDestination, type BatchEvent, type FieldSpec } from '../destinations/batch/index.js';
import { batchSyncDestination } from '../destinations/batch/sync-destination.js';
import type { SyncDestination } from '../destinations/port.js';
import { CdcConsumer } from '../ingest/consumer.js';
import { DeadLetterWriter } from '../ingest/dead-letter.js';
import { Decoder } from '../ingest/decoder.js';
import { createKafka, type Producer } from '../kafka/client.js';
import { ensureTopics } from '../kafka/topics.js';
import { attributeSpecs } from '../planning/planner.js';
import { SyncState } from '../planning/state.js';
import { createRedis, type Redis } from '../redis/connection.js';
import { createKeys, type Keys } from '../redis/keys.js';
import { StatusPublisher } from '../status/publisher.js';
import type { Config, SyncConfig } from './config.js';
import { createLogger, type Logger, redactUrl } from './logger.js';
import { SyncPipeline } from './sync-pipeline.js';

export interface ServiceHooks {
  onBatchEvent?: (syncId: string, e: BatchEvent) => void;
  onTokenWait?: (ms: number) => void;
  onBatch?: (info: { partition: number; messages: number; lag: number }) => void;
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
  private readonly pipelines = new Map<string, SyncPipeline>();
  private readonly destinations: BatchDestination[] = [];

  constructor(
    readonly config: Config,
    private readonly hooks: ServiceHooks = {},
    logger?: Logger,
  ) {
    this.logger = logger ?? createLogger({ level: config.logLevel }).child({ instance: config.instanceId });
    this.redis = createRedis(config.redis.url);
    this.keys = createKeys(config.redis.keyPrefix);
    this.kafka = createKafka({
      brokers: config.kafka.brokers,
      clientId: config.kafka.clientId,
      logger: this.logger,
    });
    this.registry = new SchemaRegistry({ host: config.schemaRegistry.url });
  }

  get ready(): boolean {
    return this.consumer !== undefined && this.consumer.assignedPartitions.length > 0;
  }

  get assignedPartitions(): number[] {
    return this.consumer?.assignedPartitions ?? [];
  }

  state(syncId: string): SyncState {
    return new SyncState(this.redis, this.keys, syncId);
  }

  async start(): Promise<void> {
    const { kafka: k } = this.config;
    this.logger.info(
      {
        brokers: k.brokers,
        registry: this.config.schemaRegistry.url,
        redis: redactUrl(this.config.redis.url),
        syncs: this.config.syncs.map((s) => s.id),
      },
      'starting',
    );
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [
        { topic: k.cdcTopic, numPartitions: k.cdcPartitions, replicationFactor: -1 },
        { topic: k.statusTopic, numPartitions: 3, replicationFactor: -1 },
        { topic: k.deadLetterTopic, numPartitions: 1, replicationFactor: -1 },
      ]);
    } finally {
      await admin.disconnect();
    }
    this.producer = this.kafka.producer({ maxInFlightRequests: 1 });
    await this.producer.connect();
    this.status = await StatusPublisher.create({
      producer: this.producer,
      registry: this.registry,
      topic: k.statusTopic,
      instanceId: this.config.instanceId,
      logger: this.logger,
    });
    const deadLetters = new DeadLetterWriter(this.producer, k.deadLetterTopic, this.config.instanceId);
    const syncs = new Map<
      string,
      { sync: SyncConfig; specs: ReturnType<typeof attributeSpecs>; pipeline: SyncPipeline }
    >();
    for (const sync of this.config.syncs) {
      const destination = this.destinationFor(sync);
      const pipeline = new SyncPipeline({
        sync,
        state: this.state(sync.id),
        destination,
        status: this.status,
        deadLetters,
        logger: this.logger,
      });
      this.pipelines.set(sync.id, pipeline);
      syncs.set(sync.id, { sync, specs: attributeSpecs(sync), pipeline });
      await destination
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
      syncs,
      deadLetters,
      status: this.status,
      beforeCommit: () => this.status!.flush(),
      logger: this.logger,
      ...(this.hooks.onBatch ? { onBatch: this.hooks.onBatch } : {}),
    });
    await this.consumer.start();
    this.logger.info('consuming');
  }

  pipeline(syncId: string): SyncPipeline | undefined {
    return this.pipelines.get(syncId);
  }

  async stop(): Promise<void> {
    this.logger.info('stopping: flushing buffers and committing');
    await this.consumer?.stop();
    for (const p of this.pipelines.values()) await p.close();
    await Promise.all(this.destinations.map((d) => d.close()));
    await this.status?.close();
    await this.producer?.disconnect();
    await this.redis.quit();
    this.logger.info('stopped');
  }

  private destinationFor(sync: SyncConfig): SyncDestination {
    const batch = this.config.batch;
    const project = batch?.projects[sync.destination.project];
    if (!batch || !project) throw new Error(`sync ${sync.id}: no Batch project ${sync.destination.project}`);
    const destination = new BatchDestination({
      redis: this.redis,
      keys: this.keys,
      logger: this.logger.child({ sync: sync.id }),
      limits: {
        requestsPerSecond: batch.limits.requestsPerSecond,
        itemsPerSecond: batch.limits.itemsPerSecond,
        headroom: batch.limits.headroom,
      },
      onEvent: (e) => {
        this.forwardBatchEvent(sync.id, e);
        this.hooks.onBatchEvent?.(sync.id, e);
      },
      ...(this.hooks.onTokenWait ? { onTokenWait: this.hooks.onTokenWait } : {}),
    });
    this.destinations.push(destination);
    const fields: FieldSpec[] = attributeSpecs(sync)
      .filter((s) => s.type !== undefined)
      .map((s) => ({ name: s.attribute, type: s.type! }));
    return batchSyncDestination(destination, {
      project: {
        projectKey: project.projectKey.reveal(),
        restApiKey: project.restApiKey.reveal(),
        baseUrl: batch.baseUrl,
      },
      catalog: sync.destination.catalog,
      fields,
    });
  }

  private forwardBatchEvent(syncId: string, e: BatchEvent): void {
    const status = this.status;
    if (!status) return;
    const destination = `batch:${e.catalog}`;
    switch (e.type) {
      case 'request_accepted':
        status.emit({
          syncId,
          type: 'REQUEST_ACCEPTED',
          destination,
          itemIds: e.itemIds,
          indexingToken: e.indexingToken,
          attempt: e.attempt,
        });
        break;
      case 'request_retried':
        status.emit({
          syncId,
          type: 'REQUEST_RETRIED',
          destination,
          itemIds: e.itemIds,
          attempt: e.attempt,
          errorCode: e.code,
          message: `${e.status ? `HTTP ${e.status}, ` : ''}retrying in ${e.delayMs} ms`,
        });
        break;
      case 'request_rejected':
        status.emit({
          syncId,
          type: 'REQUEST_REJECTED',
          destination,
          itemIds: e.itemIds,
          errorCode: e.code,
          message: e.message,
        });
        break;
      case 'item_rejected':
        status.emit({
          syncId,
          type: 'ITEM_REJECTED',
          destination,
          itemIds: [e.id],
          errorCode: e.code,
          message: e.reason,
        });
        break;
      case 'indexing_applied':
        status.emit({
          syncId,
          type: 'INDEXING_APPLIED',
          destination,
          itemIds: e.itemIds,
          indexingToken: e.indexingToken,
        });
        break;
    }
  }
}
