import type { IHeaders, KafkaMessage, Producer } from '../kafka/client.js';

export interface DeadLetterEntry {
  message: KafkaMessage;
  topic: string;
  partition: number;
  /** Stable error code (PoisonMessageError code, destination rejection code...). */
  code: string;
  reason: string;
  syncId?: string;
  itemId?: string;
}

/** Headers carry reasons, not payloads: a very long reason would only bloat every DLQ record. */
const MAX_REASON = 2000;

/**
 * Writes a message that cannot be applied to the dead-letter topic with its original key, value bytes
 * and headers, so it can be inspected and replayed as it was; the reason travels in `x-dlq-*` headers.
 */
export class DeadLetterWriter {
  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly instanceId: string,
  ) {}

  /** Resolves once every in-sync replica has the record, so the caller may commit the source offset. */
  async send(entry: DeadLetterEntry): Promise<void> {
    const { message } = entry;
    const headers: IHeaders = {
      ...originalHeaders(message.headers),
      'x-dlq-code': entry.code,
      'x-dlq-reason':
        entry.reason.length > MAX_REASON ? `${entry.reason.slice(0, MAX_REASON)}…` : entry.reason,
      'x-dlq-source-topic': entry.topic,
      'x-dlq-source-partition': String(entry.partition),
      'x-dlq-source-offset': message.offset,
      'x-dlq-source-timestamp': message.timestamp,
      'x-dlq-instance': this.instanceId,
      'x-dlq-at': new Date().toISOString(),
    };
    if (entry.syncId !== undefined) headers['x-dlq-sync'] = entry.syncId;
    if (entry.itemId !== undefined) headers['x-dlq-item'] = entry.itemId;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [{ key: message.key, value: message.value, headers }],
    });
  }
}

/** A replayed dead letter that fails again gets fresh x-dlq-* headers, not a mix of two failures. */
function originalHeaders(headers: IHeaders | undefined): IHeaders {
  const out: IHeaders = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (!name.startsWith('x-dlq-')) out[name] = value;
  }
  return out;
}
