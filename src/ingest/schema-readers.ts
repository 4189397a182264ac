/**
 * What every decoder of Confluent-framed Avro shares: the frame checks, one reader per writer schema id
 * (built once, then used without waiting), and the line between poison and a registry outage.
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { ConfluentSchemaRegistryArgumentError } from '@kafkajs/confluent-schema-registry/dist/errors.js';
import avro from 'avsc';
import { CatalogSyncError, describe } from '../errors.js';
import { MAGIC_BYTE, WIRE_HEADER_BYTES } from '../kafka/wire-format.js';
import { PoisonMessageError } from './change-event.js';

/** The schema id and Avro body of a non-empty message; poison when its header is not Confluent's. */
export function splitFrame(value: Buffer, hint = ''): { schemaId: number; body: Buffer } {
  if (value[0] !== MAGIC_BYTE) {
    throw new PoisonMessageError(
      'WRONG_MAGIC_BYTE',
      `first byte is 0x${(value[0] ?? 0).toString(16).padStart(2, '0')}, not the Confluent wire-format magic byte 0x00${hint}`,
    );
  }
  if (value.length < WIRE_HEADER_BYTES) {
    throw new PoisonMessageError(
      'CORRUPT_AVRO',
      `message of ${value.length} bytes is shorter than its header`,
    );
  }
  return { schemaId: value.readInt32BE(1), body: value.subarray(WIRE_HEADER_BYTES) };
}

/** One reader per writer schema id, built by `build` from the writer's Avro type. */
export class SchemaReaders<R> {
  private readonly pending = new Map<number, Promise<R>>();
  /** The built ones: decoding with a known schema id then waits for no promise. */
  private readonly ready = new Map<number, R>();

  constructor(
    private readonly registry: Pick<SchemaRegistry, 'getSchema'>,
    private readonly build: (writer: avro.Type, schemaId: number) => R,
  ) {}

  get(schemaId: number): R | Promise<R> {
    const known = this.ready.get(schemaId);
    if (known !== undefined) return known;
    let reader = this.pending.get(schemaId);
    if (!reader) {
      reader = this.create(schemaId);
      this.pending.set(schemaId, reader);
      reader.then(
        (r) => this.ready.set(schemaId, r),
        // Only an incompatible schema stays cached as a failure: an unknown id may be registered later,
        // an outage ends.
        (err: unknown) => {
          if (!(err instanceof PoisonMessageError && err.code === 'INCOMPATIBLE_SCHEMA')) {
            this.pending.delete(schemaId);
          }
        },
      );
    }
    return reader;
  }

  private async create(schemaId: number): Promise<R> {
    let writer: unknown;
    try {
      writer = await this.registry.getSchema(schemaId);
    } catch (err) {
      throw registryFailure(schemaId, err);
    }
    if (!(writer instanceof avro.Type)) {
      throw new PoisonMessageError('INCOMPATIBLE_SCHEMA', `schema id ${schemaId} is not an Avro schema`);
    }
    return this.build(writer, schemaId);
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
