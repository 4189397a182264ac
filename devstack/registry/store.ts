import { randomUUID } from 'node:crypto';
import { type Admin, Kafka, type KafkaMessage, type logCreator, logLevel, Partitioners } from 'kafkajs';
import { describe } from '../../src/errors.js';
import type { Logger } from '../../src/logger.js';
import { RegistryError, storeError } from './errors.js';
import { type LogRecord, noopRecord } from './state.js';

export interface LogStoreOptions<T> {
  brokers: string[];
  topic: string;
  logger: Logger;
  /** Called once per record, in log order; what it returns is what `append` resolves with for that record. */
  apply(key: Buffer | null, value: Buffer | null): T;
  /** How long `append` waits for its record to come back through the consumer. */
  timeoutMs?: number;
}

export interface LogStore<T> {
  /** Produces the record and resolves once this instance's consumer has applied it (read-your-writes). */
  append(record: LogRecord): Promise<T>;
  /** Resolves once every record produced before the call has been applied here. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The registry's storage, shaped like Confluent's: one compacted single-partition topic that every instance
 * reads from the beginning with its own consumer group, so each holds the whole state in memory.
 */
export async function openLogStore<T>(opts: LogStoreOptions<T>): Promise<LogStore<T>> {
  const { topic, logger } = opts;
  const kafka = new Kafka({
    clientId: 'dev-schema-registry',
    brokers: opts.brokers,
    logLevel: logLevel.WARN,
    logCreator: toPino(logger),
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(admin, topic);
  } finally {
    await admin.disconnect();
  }
  const tail = new Tail<T>(opts.apply);
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const consumer = kafka.consumer({
    groupId: `dev-schema-registry-${randomUUID()}`,
    allowAutoTopicCreation: false,
    // Bounds how long disconnect waits on an idle long-poll fetch.
    maxWaitTimeInMs: 500,
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    if (!payload.restart) tail.fail(storeError(`the ${topic} consumer stopped: ${describe(payload.error)}`));
  });
  const close = async () => {
    tail.fail(storeError('the registry is closing'));
    await Promise.allSettled([consumer.disconnect(), producer.disconnect()]);
  };
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const append = async (record: LogRecord): Promise<T> => {
    tail.inflight += 1;
    try {
      const [meta] = await producer.send({
        topic,
        messages: [{ key: JSON.stringify(record.key), value: record.value && JSON.stringify(record.value) }],
      });
      if (meta?.baseOffset === undefined) throw storeError(`no offset came back from ${topic}`);
      return await tail.outcome(Number(meta.baseOffset), timeoutMs);
    } catch (err) {
      throw err instanceof RegistryError ? err : storeError(describe(err), err);
    } finally {
      tail.inflight -= 1;
    }
  };
  try {
    await Promise.all([producer.connect(), consumer.connect()]);
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => tail.consume(message) });
    // Confluent's trick: a marker written now comes back only after everything before it was replayed.
    await append(noopRecord());
  } catch (err) {
    await close();
    throw err;
  }
  logger.debug({ topic }, 'schema store replayed');
  return {
    append,
    sync: async () => {
      await append(noopRecord());
    },
    close,
  };
}

async function ensureTopic(admin: Admin, topic: string): Promise<void> {
  // Asking first spares an ERROR line from kafkajs for the usual case, a topic that already exists.
  const exists = (await admin.listTopics()).includes(topic);
  const created =
    !exists &&
    (await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: 1,
          replicationFactor: 1,
          configEntries: [{ name: 'cleanup.policy', value: 'compact' }],
        },
      ],
    }));
  if (created) return;
  const { topics } = await admin.fetchTopicMetadata({ topics: [topic] });
  const partitions = topics[0]?.partitions.length ?? 0;
  // One partition is what gives every instance the same total order of writes.
  if (partitions !== 1) throw storeError(`topic ${topic} has ${partitions} partitions, it needs exactly 1`);
}

/** Applies consumed records exactly once each and hands writers the outcome of their own record. */
class Tail<T> {
  inflight = 0;
  private next = 0;
  private failure: RegistryError | undefined;
  private readonly waiters = new Map<number, { resolve(outcome: T): void; reject(err: Error): void }>();
  // A record can be consumed before producer.send() returns its offset; keep outcomes while writes are pending.
  private readonly recent = new Map<number, T>();

  constructor(private readonly apply: (key: Buffer | null, value: Buffer | null) => T) {}

  consume(message: KafkaMessage): void {
    const offset = Number(message.offset);
    // A restarted consumer group without committed offsets starts again from the beginning.
    if (offset < this.next) return;
    const outcome = this.apply(message.key ?? null, message.value ?? null);
    this.next = offset + 1;
    const waiter = this.waiters.get(offset);
    if (waiter) {
      this.waiters.delete(offset);
      waiter.resolve(outcome);
    } else if (this.inflight > 0) this.recent.set(offset, outcome);
    else this.recent.clear();
  }

  outcome(offset: number, timeoutMs: number): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (offset < this.next) {
      const outcome = this.recent.get(offset);
      this.recent.delete(offset);
      if (outcome === undefined)
        return Promise.reject(storeError(`the outcome of offset ${offset} was lost`));
      return Promise.resolve(outcome);
    }
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(offset);
        reject(
          new RegistryError(
            50002,
            `Operation timed out: offset ${offset} was not read back in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const settle = {
        resolve: (o: T) => {
          clearTimeout(timer);
          resolve(o);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      this.waiters.set(offset, settle);
    });
  }

  fail(err: RegistryError): void {
    this.failure ??= err;
    for (const waiter of this.waiters.values()) waiter.reject(err);
    this.waiters.clear();
  }
}

function toPino(logger: Logger): logCreator {
  return () =>
    ({ level, label, log }) => {
      const { message, ...fields } = log;
      const method = level <= logLevel.ERROR ? 'error' : level === logLevel.WARN ? 'warn' : 'debug';
      logger[method]({ kafkajs: { label, ...fields } }, `kafkajs: ${message}`);
    };
}
