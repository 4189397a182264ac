/**
 * The one place that imports kafkajs. Its maintenance has slowed; @confluentinc/kafka-javascript offers a
 * KafkaJS-compatible API, so a swap should only touch this file.
 */
import { Kafka, type LogEntry, logLevel } from 'kafkajs';
import type { Logger } from '../logger.js';

export type {
  Admin,
  Consumer,
  EachBatchPayload,
  IHeaders,
  ITopicConfig,
  KafkaMessage,
  Message,
  Producer,
} from 'kafkajs';
/**
 * Producers name `Partitioners.DefaultPartitioner` (Java-compatible murmur2, kafkajs 2's default): choosing
 * it explicitly is how kafkajs documents silencing its "switched default partitioner" warning.
 */
export { CompressionTypes, Partitioners } from 'kafkajs';

export const DEFAULT_KAFKA_BROKERS = '127.0.0.1:19092';

export interface KafkaOptions {
  brokers?: string[] | string;
  clientId?: string;
  logger?: Logger;
  /** Fail fast (devstack probes) instead of kafkajs's default retry schedule. */
  retries?: number;
  connectionTimeoutMs?: number;
}

export function parseBrokers(value: string | string[] | undefined): string[] {
  if (Array.isArray(value)) return value;
  return (value ?? process.env.KAFKA_BROKERS ?? DEFAULT_KAFKA_BROKERS)
    .split(',')
    .map((b) => b.trim())
    .filter(Boolean);
}

export function createKafka(opts: KafkaOptions = {}): Kafka {
  const log = opts.logger;
  return new Kafka({
    clientId: opts.clientId ?? 'catalog-sync',
    brokers: parseBrokers(opts.brokers),
    connectionTimeout: opts.connectionTimeoutMs ?? 3000,
    retry: opts.retries === undefined ? { retries: 8 } : { retries: opts.retries },
    logLevel: log ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => (entry: LogEntry) => {
      if (!log) return;
      const { message, ...extra } = entry.log;
      const fields = { kafka: entry.namespace, ...extra };
      // A heartbeat answered "rebalancing" is how every member learns of a rebalance: routine, not an error.
      const routine = typeof extra.error === 'string' && /rebalanc/i.test(extra.error);
      if (entry.level === logLevel.ERROR && !routine) log.error(fields, message);
      else if (routine) log.info(fields, message);
      else if (entry.level === logLevel.WARN) log.warn(fields, message);
      else log.debug(fields, message);
    },
  });
}

export type { Kafka };
