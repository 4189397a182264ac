/**
 * Publishes status events (schemas/status-event.avsc) keyed by sync id. Events are buffered and sent
 * in order by one send at a time; flush() is the barrier the consumer passes before committing offsets.
 */
import { type SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { CatalogSyncError, describe } from '../errors.js';
import type { Message, Producer } from '../kafka/client.js';
import { registerSchema } from '../kafka/registry.js';
import { WIRE_HEADER_BYTES, writeWireHeader } from '../kafka/wire-format.js';
import type { Logger } from '../logger.js';
import { STATUS_EVENT_SCHEMA, type StatusEventRecord, type StatusInput } from './types.js';

export type { RunCounts, StatusInput, StatusType } from './types.js';

export interface StatusPublisherOptions {
  producer: Producer;
  registry: SchemaRegistry;
  topic: string;
  instanceId: string;
  /** Longest time an emitted event waits before a send starts (default 200 ms). */
  flushIntervalMs?: number;
  /** Buffered events that start a send at once (default 500). */
  maxBuffered?: number;
  logger?: Logger;
}

/** Longer id lists are split over several events, so one event never nears the broker's size limit. */
export const MAX_IDS_PER_EVENT = 1000;
const MAX_MESSAGE_CHARS = 4000;
const MAX_SEND_MESSAGES = 500;
const MAX_SEND_BYTES = 512 * 1024;

export class StatusPublisher {
  private pending: Message[] = [];
  private emitted = 0;
  private acked = 0;
  private sending: Promise<void> | null = null;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly flushIntervalMs: number;
  private readonly maxBuffered: number;
  private scratch = Buffer.allocUnsafe(16 * 1024);

  private constructor(
    private readonly opts: StatusPublisherOptions,
    private readonly schemaId: number,
    private readonly type: avro.Type,
  ) {
    this.flushIntervalMs = opts.flushIntervalMs ?? 200;
    this.maxBuffered = opts.maxBuffered ?? 500;
  }

  /** Registers the status schema under `<topic>-value` (a no-op when it is already there). */
  static async create(opts: StatusPublisherOptions): Promise<StatusPublisher> {
    const { id } = await registerSchema(
      opts.registry,
      { type: SchemaType.AVRO, schema: STATUS_EVENT_SCHEMA },
      `${opts.topic}-value`,
    );
    const type = (await opts.registry.getSchema(id)) as avro.Type;
    return new StatusPublisher(opts, id, type);
  }

  /** Buffers the event; never throws (an event that does not encode is logged and dropped). */
  emit(e: StatusInput): void {
    if (this.closed) {
      this.opts.logger?.warn({ syncId: e.syncId, type: e.type }, 'status event emitted after close: dropped');
      return;
    }
    try {
      const ids = e.itemIds ?? [];
      const messages: Message[] = [];
      const at = Date.now();
      for (let i = 0; i === 0 || i < ids.length; i += MAX_IDS_PER_EVENT) {
        const chunk = ids.length <= MAX_IDS_PER_EVENT ? ids : ids.slice(i, i + MAX_IDS_PER_EVENT);
        messages.push({ key: e.syncId, value: this.encode(this.toRecord(e, chunk, at)) });
      }
      this.pending.push(...messages);
      this.emitted += messages.length;
    } catch (err) {
      this.opts.logger?.error(
        { syncId: e.syncId, type: e.type, err: describe(err) },
        'status event does not encode: dropped',
      );
      return;
    }
    if (this.pending.length >= this.maxBuffered && !this.sending) this.sendInBackground();
    else this.schedule();
  }

  /** Resolves once every event emitted before the call is acknowledged by all in-sync replicas. */
  async flush(): Promise<void> {
    const target = this.emitted;
    while (this.acked < target) {
      try {
        await this.sendPending();
      } catch (err) {
        throw new CatalogSyncError(
          'STATUS_PUBLISH_FAILED',
          `status events not published (${this.pending.length} kept for the next flush): ${describe(err)}`,
          { retriable: true, cause: err },
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private toRecord(e: StatusInput, itemIds: string[], at: number): StatusEventRecord {
    const message = e.message ?? null;
    return {
      sync_id: e.syncId,
      run_id: e.runId ?? null,
      type: e.type,
      at,
      instance: this.opts.instanceId,
      destination: e.destination ?? null,
      item_ids: itemIds,
      indexing_token: e.indexingToken ?? null,
      attempt: e.attempt ?? null,
      error_code: e.errorCode ?? null,
      message:
        message && message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS)}…` : message,
      counts: e.counts ?? null,
    };
  }

  /**
   * The wire-format message of one record. avsc's toBuffer writes a record past 1 KB twice (its shared
   * buffer is 1 KB) and the header needs a copy more; encoding into a buffer kept here writes it once.
   */
  private encode(record: StatusEventRecord): Buffer {
    for (;;) {
      const end = this.type.encode(record, this.scratch, WIRE_HEADER_BYTES);
      if (end >= 0) {
        const out = Buffer.allocUnsafe(end);
        this.scratch.copy(out, 0, 0, end);
        writeWireHeader(out, this.schemaId);
        return out;
      }
      // A negative end is the number of bytes missing.
      this.scratch = Buffer.allocUnsafe(2 * (this.scratch.length - end));
    }
  }

  private schedule(): void {
    if (this.timer || this.closed || this.pending.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.sendInBackground();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  private sendInBackground(): void {
    this.sendPending().then(
      () => {
        if (this.pending.length >= this.maxBuffered) this.sendInBackground();
        else this.schedule();
      },
      (err: unknown) => {
        this.opts.logger?.warn(
          { err: describe(err), buffered: this.pending.length },
          'status events not published yet; kept for the next flush',
        );
        this.schedule();
      },
    );
  }

  /** Sends the oldest buffered events; one send at a time keeps the order per sync. */
  private async sendPending(): Promise<void> {
    while (this.sending) await this.sending.catch(() => undefined);
    if (this.pending.length === 0) return;
    const batch = this.takeBatch();
    this.sending = this.opts.producer
      .send({ topic: this.opts.topic, acks: -1, messages: batch })
      .then(
        () => {
          this.acked += batch.length;
        },
        (err: unknown) => {
          this.pending.unshift(...batch);
          throw err;
        },
      )
      .finally(() => {
        this.sending = null;
      });
    await this.sending;
  }

  private takeBatch(): Message[] {
    let bytes = 0;
    let n = 0;
    while (n < this.pending.length && n < MAX_SEND_MESSAGES) {
      bytes += (this.pending[n]!.value as Buffer).length;
      if (n > 0 && bytes > MAX_SEND_BYTES) break;
      n++;
    }
    return this.pending.splice(0, n);
  }
}
