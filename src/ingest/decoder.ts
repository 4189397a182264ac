/**
 * Decodes CDC messages (Confluent wire format: magic byte 0, 4-byte schema id, Avro body) into
 * ChangeEvents, and tells poison (dead-letter it) from a registry outage (retry it).
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { ConfluentSchemaRegistryArgumentError } from '@kafkajs/confluent-schema-registry/dist/errors.js';
import avro from 'avsc';
import { CatalogSyncError, describe } from '../errors.js';
import { WIRE_HEADER_BYTES as HEADER_BYTES, MAGIC_BYTE } from '../kafka/wire-format.js';
import {
  CHANGE_EVENT_SCHEMA,
  type ChangeEvent,
  type ChangeEventRecord,
  fromAvro,
  PoisonMessageError,
} from './change-event.js';

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
  private readonly readers = new Map<number, Promise<Read>>();
  /** The resolved ones: decoding with a known schema id then waits for no promise. */
  private readonly ready = new Map<number, Read>();

  constructor(private readonly registry: SchemaRegistry) {}

  async decode(value: Buffer | null): Promise<ChangeEvent> {
    if (!value || value.length === 0) {
      throw new PoisonMessageError('EMPTY_MESSAGE', 'message has no value (tombstone or empty record)');
    }
    if (value[0] !== MAGIC_BYTE) {
      throw new PoisonMessageError(
        'WRONG_MAGIC_BYTE',
        `first byte is 0x${value[0]!.toString(16).padStart(2, '0')}, not the Confluent wire-format magic byte 0x00`,
      );
    }
    if (value.length < HEADER_BYTES) {
      throw new PoisonMessageError(
        'CORRUPT_AVRO',
        `message of ${value.length} bytes is shorter than its header`,
      );
    }
    const schemaId = value.readInt32BE(1);
    const read = this.ready.get(schemaId) ?? (await this.reader(schemaId));
    let record: ChangeEventRecord;
    try {
      record = read(value.subarray(HEADER_BYTES));
    } catch (err) {
      throw new PoisonMessageError(
        'CORRUPT_AVRO',
        `Avro body does not decode with schema id ${schemaId}: ${describe(err)}`,
        { cause: err },
      );
    }
    return fromAvro(record);
  }

  private reader(schemaId: number): Promise<Read> {
    let reader = this.readers.get(schemaId);
    if (!reader) {
      reader = this.createReader(schemaId);
      this.readers.set(schemaId, reader);
      reader.then(
        (read) => this.ready.set(schemaId, read),
        // Only an incompatible schema stays cached as a failure: an unknown id may be registered later,
        // an outage ends.
        (err: unknown) => {
          if (!(err instanceof PoisonMessageError && err.code === 'INCOMPATIBLE_SCHEMA')) {
            this.readers.delete(schemaId);
          }
        },
      );
    }
    return reader;
  }

  private async createReader(schemaId: number): Promise<Read> {
    let writer: unknown;
    try {
      writer = await this.registry.getSchema(schemaId);
    } catch (err) {
      throw registryFailure(schemaId, err);
    }
    if (!(writer instanceof avro.Type)) {
      throw new PoisonMessageError('INCOMPATIBLE_SCHEMA', `schema id ${schemaId} is not an Avro schema`);
    }
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

function registryFailure(schemaId: number, err: unknown): CatalogSyncError {
  const status = typeof err === 'object' && err !== null && 'status' in err ? Number(err.status) : undefined;
  // GET /schemas/ids/{id} answers 404 only with error 40403 (schema not found).
  if (status === 404) {
    return new PoisonMessageError(
      'UNKNOWN_SCHEMA_ID',
      `schema id ${schemaId} is not in the schema registry`,
      {
        cause: err,
      },
    );
  }
  if (err instanceof ConfluentSchemaRegistryArgumentError) {
    return new PoisonMessageError(
      'INCOMPATIBLE_SCHEMA',
      `schema id ${schemaId} is not a usable schema: ${describe(err)}`,
      { cause: err },
    );
  }
  // Network errors (the client reports them as status 400), timeouts and 5xx: the data may be fine.
  return new CatalogSyncError(
    'REGISTRY_UNAVAILABLE',
    `schema registry failed to answer for schema id ${schemaId}: ${describe(err)}`,
    { retriable: true, cause: err },
  );
}
