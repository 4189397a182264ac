/**
 * Decodes CDC messages (Confluent wire format: magic byte 0, 4-byte schema id, Avro body) into
 * ChangeEvents, and tells poison (dead-letter it) from a registry outage (retry it).
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import { describe } from '../errors.js';
import {
  CHANGE_EVENT_SCHEMA,
  type ChangeEvent,
  type ChangeEventRecord,
  fromAvro,
  PoisonMessageError,
} from './change-event.js';
import { SchemaReaders, splitFrame } from './schema-readers.js';

export type { PoisonCode } from './change-event.js';
export { PoisonMessageError };

type Read = (body: Buffer) => ChangeEventRecord;

export class Decoder {
  /**
   * Our own schema reads every writer version, so a record written with a newer compatible schema (an
   * added optional field) decodes to the fields this code knows.
   */
  private readonly readerType = avro.Type.forSchema(JSON.parse(CHANGE_EVENT_SCHEMA));
  /** One resolver per writer schema id; the registry client caches the schema itself. */
  private readonly readers: SchemaReaders<Read>;

  constructor(registry: SchemaRegistry) {
    this.readers = new SchemaReaders(registry, (writer, schemaId) => this.resolve(writer, schemaId));
  }

  async decode(value: Buffer | null): Promise<ChangeEvent> {
    if (!value || value.length === 0) {
      throw new PoisonMessageError('EMPTY_MESSAGE', 'message has no value (tombstone or empty record)');
    }
    const { schemaId, body } = splitFrame(value);
    const known = this.readers.get(schemaId);
    const read = known instanceof Promise ? await known : known;
    let record: ChangeEventRecord;
    try {
      record = read(body);
    } catch (err) {
      throw new PoisonMessageError(
        'CORRUPT_AVRO',
        `Avro body does not decode with schema id ${schemaId}: ${describe(err)}`,
        { cause: err },
      );
    }
    return fromAvro(record);
  }

  private resolve(writer: avro.Type, schemaId: number): Read {
    const reader = this.readerType;
    if (reader.equals(writer)) return (body) => reader.fromBuffer(body);
    try {
      const resolver = reader.createResolver(writer);
      return (body) => reader.fromBuffer(body, resolver);
    } catch (err) {
      throw new PoisonMessageError(
        'INCOMPATIBLE_SCHEMA',
        `schema id ${schemaId} (${writer.name ?? 'unnamed'}) cannot be read as a change event: ${describe(err)}`,
        { cause: err },
      );
    }
  }
}
