/**
 * Decodes Debezium change events (a table topic, Avro in the Confluent wire format, one writer schema
 * per table version) into the service's ChangeEvents, per sync reading the topic (docs/debezium.md):
 *
 * - a snapshot record (`op: r`, `source.snapshot` first..last) is a row of a FULL run, one run per
 *   snapshot, named and ordered by the snapshot's LSN; its first record also starts the run and its last
 *   one also ends it, with an unknown count (the consumer's barrier and the pipeline count it);
 * - `c`/`u` are upserts and `d` a removal of the never-ending DELTA run `stream`, each with its own LSN
 *   as run seq, so a later snapshot's mirror derivation sees which changes came after it;
 * - an incremental snapshot's records (`snapshot: incremental`) are upserts of that delta;
 * - a tombstone (null value after a delete) decodes to nothing; a truncate is dead-lettered.
 *
 * Longs are read as BigInt (`ts_ns` is beyond 2^53: avsc refuses it as a double).
 */
import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import type { SyncConfig } from '../config/config.js';
import { describe } from '../errors.js';
import { type ChangeEvent, PoisonMessageError, type RowValue } from './change-event.js';
import { SchemaReaders, splitFrame } from './schema-readers.js';

/** The run every streamed change of a Debezium sync belongs to; it never ends. */
export const STREAM_RUN_ID = 'stream';

export function snapshotRunId(lsn: number): string {
  return `snapshot-${lsn}`;
}

/** Something worth a status event that does not stop the message (a mapped column gone upstream). */
export interface DecodeNotice {
  syncId: string;
  code: string;
  message: string;
}

/** What one message decodes to: zero (tombstone) or more events, in order, and notices. */
export interface DecodedMessage {
  events: ChangeEvent[];
  notices: DecodeNotice[];
}

/** A decoder answering several events per message (the Debezium one); see consumer.ts. */
export interface MessageDecoder {
  decodeMessage(value: Buffer | null): Promise<DecodedMessage>;
}

const longType = avro.types.LongType.__with({
  fromBuffer: (buf: Buffer) => buf.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const buf = Buffer.alloc(8);
    buf.writeBigInt64LE(BigInt(n));
    return buf;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

interface Reader {
  read(body: Buffer): Envelope;
  /** Per sync: mapped columns the writer's `after` record lacks (reported once per writer schema). */
  missing: Map<string, string[]>;
  reported: boolean;
}

type Row = Record<string, unknown>;
interface Envelope {
  before?: Row | null;
  after?: Row | null;
  op?: string;
  ts_ms?: bigint | null;
  source?: { snapshot?: string | null; lsn?: bigint | null; ts_ms?: bigint | null; table?: string };
}

const SNAPSHOT_MARKS = new Set([
  'first',
  'first_in_data_collection',
  'true',
  'last',
  'last_in_data_collection',
]);

export class DebeziumDecoder implements MessageDecoder {
  private readonly readers: SchemaReaders<Reader>;

  constructor(
    registry: Pick<SchemaRegistry, 'getSchema'>,
    private readonly topic: string,
    /** The syncs reading this topic; each message becomes events of every one of them. */
    private readonly syncs: readonly SyncConfig[],
  ) {
    this.readers = new SchemaReaders(registry, (writer, schemaId) => this.envelopeReader(writer, schemaId));
  }

  async decodeMessage(value: Buffer | null): Promise<DecodedMessage> {
    // A tombstone follows each delete so that compaction can drop the key: nothing to apply.
    if (!value || value.length === 0) return { events: [], notices: [] };
    const { schemaId, body } = splitFrame(value, ' (is the converter Avro with Confluent framing?)');
    const known = this.readers.get(schemaId);
    const reader = known instanceof Promise ? await known : known;
    let env: Envelope;
    try {
      env = reader.read(body);
    } catch (err) {
      throw new PoisonMessageError(
        'CORRUPT_AVRO',
        `Avro body does not decode with schema id ${schemaId}: ${describe(err)}`,
        { cause: err },
      );
    }
    const notices: DecodeNotice[] = [];
    if (!reader.reported) {
      reader.reported = true;
      for (const [syncId, columns] of reader.missing) {
        notices.push({
          syncId,
          code: 'MAPPED_COLUMN_MISSING',
          message: `${this.topic}: writer schema ${schemaId} has no column ${columns.join(', ')}; rows keep applying without ${columns.length === 1 ? 'it' : 'them'}`,
        });
      }
    }
    const events: ChangeEvent[] = [];
    for (const sync of this.syncs) events.push(...this.toEvents(sync, env));
    return { events, notices };
  }

  private toEvents(sync: SyncConfig, env: Envelope): ChangeEvent[] {
    const op = env.op;
    const source = env.source ?? {};
    const lsn = source.lsn;
    if (lsn === null || lsn === undefined) {
      throw new PoisonMessageError(
        'INVALID_EVENT',
        `${this.topic}: op ${op} has no source.lsn (only the Postgres connector is supported)`,
      );
    }
    const seq = Number(lsn);
    const sourceTs = Number(env.ts_ms ?? source.ts_ms ?? 0n);
    const base = { syncId: sync.id, values: null, rowCount: null, sourceTs };
    const idOf = (row: Row | null | undefined, what: string): string => {
      const v = row?.[sync.idColumn];
      if (v === null || v === undefined) {
        throw new PoisonMessageError(
          'INVALID_EVENT',
          `${this.topic}: op ${op} has no ${what}.${sync.idColumn} (sync ${sync.id}'s idColumn${what === 'before' ? '; use the primary key or REPLICA IDENTITY FULL' : ''})`,
        );
      }
      return typeof v === 'string' ? v : String(v);
    };
    const stream = { runId: STREAM_RUN_ID, runSeq: seq, runKind: 'DELTA' as const };
    switch (op) {
      case 'r': {
        const mark = source.snapshot ?? 'false';
        const id = idOf(env.after, 'after');
        const values = rowValues(env.after ?? {});
        if (!SNAPSHOT_MARKS.has(mark)) {
          // incremental (or a read outside a snapshot): an upsert of the delta, see docs/debezium.md.
          return [{ ...base, ...stream, type: 'ROW_UPSERTED', itemKey: id, values }];
        }
        const run = { runId: snapshotRunId(seq), runSeq: seq, runKind: 'FULL' as const };
        const out: ChangeEvent[] = [];
        if (mark === 'first' || mark === 'first_in_data_collection') {
          out.push({ ...base, ...run, type: 'RUN_STARTED', itemKey: null });
        }
        out.push({ ...base, ...run, type: 'ROW_UPSERTED', itemKey: id, values });
        // Debezium marks only the last record: the count is what settled once every partition passed it.
        if (mark === 'last' || mark === 'last_in_data_collection') {
          out.push({ ...base, ...run, type: 'RUN_ENDED', itemKey: null });
        }
        return out;
      }
      case 'c':
      case 'u':
        return [
          {
            ...base,
            ...stream,
            type: 'ROW_UPSERTED',
            itemKey: idOf(env.after, 'after'),
            values: rowValues(env.after ?? {}),
          },
        ];
      case 'd':
        return [{ ...base, ...stream, type: 'ROW_DELETED', itemKey: idOf(env.before, 'before') }];
      case 't':
        throw new PoisonMessageError(
          'INVALID_EVENT',
          `${this.topic}: a truncate cannot be applied row by row; take a new snapshot to mirror it`,
        );
      default:
        throw new PoisonMessageError('INVALID_EVENT', `${this.topic}: unknown op ${String(op)}`);
    }
  }

  private envelopeReader(writer: avro.Type, schemaId: number): Reader {
    // Each writer schema is its own reader: a table's columns change, and a sync reads them by name.
    let type: avro.Type;
    try {
      type = avro.Type.forSchema(writer.schema({ exportAttrs: true }) as avro.Schema, {
        registry: { long: longType },
      });
    } catch (err) {
      throw new PoisonMessageError('INCOMPATIBLE_SCHEMA', `schema id ${schemaId}: ${describe(err)}`, {
        cause: err,
      });
    }
    const fields = afterColumns(type);
    if (!fields) {
      throw new PoisonMessageError(
        'INCOMPATIBLE_SCHEMA',
        `schema id ${schemaId} (${writer.name ?? 'unnamed'}) is not a Debezium envelope (no after record)`,
      );
    }
    const missing = new Map<string, string[]>();
    for (const sync of this.syncs) {
      const gone = mappedColumns(sync).filter((c) => !fields.has(c));
      if (gone.length > 0) missing.set(sync.id, gone);
    }
    return { read: (body) => type.fromBuffer(body) as Envelope, missing, reported: false };
  }
}

function mappedColumns(sync: SyncConfig): string[] {
  return [
    sync.idColumn,
    ...sync.fields.map((f) => f.source),
    ...sync.customAttributes.map((c) => (typeof c === 'string' ? c : c.name)),
  ];
}

/** The column names of the envelope's `after` record (a union of null and the Value record). */
function afterColumns(type: avro.Type): Set<string> | undefined {
  if (!(type instanceof avro.types.RecordType)) return undefined;
  const after = type.field('after')?.type;
  const rec =
    after instanceof avro.types.UnwrappedUnionType || after instanceof avro.types.WrappedUnionType
      ? after.types.find((t) => t instanceof avro.types.RecordType)
      : after;
  if (!(rec instanceof avro.types.RecordType)) return undefined;
  return new Set(rec.fields.map((f) => f.name));
}

/** A row's columns as plain values; longs beyond 2^53 and bytes (decimals) become strings. */
export function rowValues(row: Row): Record<string, RowValue> {
  const out: Record<string, RowValue> = {};
  for (const [column, v] of Object.entries(row)) out[column] = plain(v);
  return out;
}

function plain(v: unknown): RowValue {
  if (v === null || v === undefined) return null;
  switch (typeof v) {
    case 'boolean':
    case 'string':
      return v;
    case 'number':
      return Number.isFinite(v) ? v : String(v);
    case 'bigint':
      return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(v)
        : v.toString();
    default:
      if (Buffer.isBuffer(v)) return v.toString('base64');
      if (Array.isArray(v)) return v.map((x) => String(plain(x)));
      return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x));
  }
}
