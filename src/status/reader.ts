/** Reads the status topic back: for the `status tail` command, the demo and tests. */
import { randomUUID } from 'node:crypto';
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Kafka, KafkaMessage } from '../kafka/client.js';
import type { RunCounts, StatusEventDecoded, StatusEventRecord, StatusType } from './types.js';

export type { StatusEventDecoded } from './types.js';

export interface ReadStatusOptions {
  kafka: Kafka;
  registry: SchemaRegistry;
  topic: string;
  /** Default false: only events published after the reader joined. */
  fromBeginning?: boolean;
  /** Only this sync's events; records keyed by another sync are skipped before decoding. */
  syncId?: string;
  filter?: (e: StatusEventDecoded) => boolean;
  onEvent: (e: StatusEventDecoded) => void;
  /** A record that does not decode; skipped when not given. */
  onError?: (err: unknown, message: KafkaMessage) => void;
}

const KNOWN_TYPES = new Set<string>([
  'RUN_STARTED',
  'RUN_COMPLETED',
  'REQUEST_ACCEPTED',
  'REQUEST_REJECTED',
  'REQUEST_RETRIED',
  'ITEM_REJECTED',
  'ITEMS_SKIPPED',
  'DELETIONS_DERIVED',
  'DELETIONS_HELD',
  'DELETIONS_RELEASED',
  'INDEXING_APPLIED',
  'DEAD_LETTER',
  'SCHEMA_CHANGED',
  'STATE_LOST',
  'STATE_RESTORED',
]);

/**
 * Starts a consumer in a group of its own (a reader sees every partition and commits nothing) and calls
 * onEvent for each status event, in order per sync. Resolves once the consumer runs.
 */
export async function readStatus(opts: ReadStatusOptions): Promise<{ stop(): Promise<void> }> {
  // A short fetch wait keeps stop() prompt: disconnect waits for the fetch in flight.
  const consumer = opts.kafka.consumer({
    groupId: `catalog-sync-status-reader-${randomUUID()}`,
    maxWaitTimeInMs: 500,
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [opts.topic], fromBeginning: opts.fromBeginning ?? false });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        if (opts.syncId !== undefined && message.key && message.key.toString() !== opts.syncId) return;
        let event: StatusEventDecoded;
        try {
          if (!message.value) throw new Error('status record without a value');
          const record = (await opts.registry.decode(message.value)) as Partial<StatusEventRecord>;
          event = fromRecord(record, partition, message.offset);
        } catch (err) {
          opts.onError?.(err, message);
          return;
        }
        if (opts.syncId !== undefined && event.syncId !== opts.syncId) return;
        if (!opts.filter || opts.filter(event)) opts.onEvent(event);
      },
    });
  } catch (err) {
    await consumer.disconnect();
    throw err;
  }
  return { stop: () => consumer.disconnect() };
}

/** Decoded with the writer's schema: fields an older writer lacks take the schema defaults. */
function fromRecord(r: Partial<StatusEventRecord>, partition: number, offset: string): StatusEventDecoded {
  if (typeof r.sync_id !== 'string') throw new Error('status record without sync_id');
  return {
    syncId: r.sync_id,
    runId: r.run_id ?? null,
    type: r.type && KNOWN_TYPES.has(r.type) ? r.type : 'UNKNOWN',
    at: r.at ?? 0,
    instance: r.instance ?? '',
    destination: r.destination ?? null,
    itemIds: r.item_ids ?? [],
    indexingToken: r.indexing_token ?? null,
    attempt: r.attempt ?? null,
    errorCode: r.error_code ?? null,
    message: r.message ?? null,
    counts: r.counts ?? null,
    partition,
    offset,
  };
}

const SHOWN_IDS = 3;

/** One line per event, e.g. `2026-01-05T10:00:00.000Z products RUN_COMPLETED run=r1 upserted=10 ...`. */
export function formatStatusLine(e: StatusEventDecoded): string {
  const parts = [new Date(e.at).toISOString(), e.syncId, e.type.padEnd(18)];
  if (e.runId) parts.push(`run=${e.runId}`);
  if (e.destination) parts.push(`dest=${e.destination}`);
  if (e.attempt !== null) parts.push(`attempt=${e.attempt}`);
  if (e.errorCode) parts.push(`error=${e.errorCode}`);
  if (e.indexingToken) parts.push(`token=${e.indexingToken}`);
  if (e.counts) parts.push(formatCounts(e.counts));
  if (e.itemIds.length > 0) {
    const shown = e.itemIds.slice(0, SHOWN_IDS).join(',');
    parts.push(`items=${e.itemIds.length}[${shown}${e.itemIds.length > SHOWN_IDS ? ',…' : ''}]`);
  }
  // JSON quoting keeps a multi-line message on one line.
  if (e.message) parts.push(JSON.stringify(e.message));
  parts.push(`(${e.instance})`);
  return parts.join(' ');
}

function formatCounts(c: RunCounts): string {
  return `upserted=${c.upserted} removed=${c.removed} rejected=${c.rejected} skipped=${c.skipped} held=${c.held}`;
}

export function isStatusType(value: string): value is StatusType {
  return KNOWN_TYPES.has(value);
}
