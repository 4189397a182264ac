/**
 * Publishes one warehouse run to the CDC topic as the warehouse side would: RUN_STARTED, the rows, the
 * deletions (delta), then RUN_ENDED with the number of distinct item ids. For demos, tests and replays.
 */
import { type SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import type avro from 'avsc';
import { CatalogSyncError } from '../errors.js';
import {
  type AvroValue,
  CHANGE_EVENT_SCHEMA,
  type ChangeEventRecord,
  type ChangeEventType,
  type RowValue,
  type RunKind,
  wrapValue,
} from '../ingest/change-event.js';
import type { Message, Producer } from '../kafka/client.js';
import { registerSchema } from '../kafka/registry.js';
import { encodeWire } from '../kafka/wire-format.js';

export type Row = Record<string, unknown>;

/** A deletion among the rows (NDJSON `{"delete": "<id>"}`): its id is taken as it is, never trimmed. */
export class Deletion {
  constructor(readonly id: string) {}
}

/** One entry of a run: a row to upsert, or a deletion (delta runs only). */
export type Entry = Row | Deletion;

/** The input names a row or column that cannot become a change event. */
export class ProduceInputError extends CatalogSyncError {
  constructor(message: string) {
    super('PRODUCE_INPUT_INVALID', message);
  }
}

export interface ProduceRunOptions {
  producer: Producer;
  registry: SchemaRegistry;
  topic: string;
  syncId: string;
  runId?: string | undefined;
  /** Orders the runs of a sync; default Date.now(). */
  runSeq?: number | undefined;
  kind: RunKind;
  idColumn: string;
  /** Rows, and deletions (delta runs only) sent in their place among the rows. */
  rows: AsyncIterable<Entry> | Iterable<Entry>;
  /** Delta runs only; sent after the rows. Ids are taken as they are (not trimmed). */
  deletedIds?: Iterable<string>;
  /** Messages acknowledged so far (rows and deletions). */
  onProgress?: (sent: number) => void;
  /** Names the row just read in errors (e.g. `rows.csv line 12`); default `row <n>`. */
  position?: () => string;
}

export interface ProduceRunResult {
  runId: string;
  runSeq: number;
  rows: number;
  deletions: number;
  distinctIds: number;
}

/**
 * Rows are sent in chunks with a few sends in flight; a chunk holding a key of a chunk still in flight
 * waits for it, so the events of one item keep their order even when an earlier send is retried.
 * An input error stops the run before its RUN_ENDED, so consumers never see it complete.
 */
export async function produceRun(opts: ProduceRunOptions): Promise<ProduceRunResult> {
  const deleted = opts.deletedIds ? [...opts.deletedIds] : [];
  if (opts.kind === 'FULL' && deleted.length > 0) {
    throw new ProduceInputError('a full run carries no deletions: the consumer derives them');
  }
  const { id } = await registerSchema(
    opts.registry,
    { type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA },
    `${opts.topic}-value`,
  );
  const type = (await opts.registry.getSchema(id)) as avro.Type;
  const runSeq = opts.runSeq ?? Date.now();
  const runId = opts.runId ?? `${opts.kind.toLowerCase()}-${runSeq}`;
  const message = (
    key: string,
    eventType: ChangeEventType,
    fields: Pick<ChangeEventRecord, 'item_key' | 'values' | 'row_count'>,
  ): Message => {
    const record: ChangeEventRecord = {
      sync_id: opts.syncId,
      run_id: runId,
      run_seq: runSeq,
      run_kind: opts.kind,
      event_type: eventType,
      ...fields,
      source_ts: Date.now(),
    };
    return { key, value: encodeWire(id, type.toBuffer(record)) };
  };
  const none = { item_key: null, values: null, row_count: null };

  await opts.producer.send({
    topic: opts.topic,
    acks: -1,
    messages: [message(opts.syncId, 'RUN_STARTED', none)],
  });
  const sender = new ChunkSender(opts.producer, opts.topic, opts.onProgress);
  const ids = new Set<string>();
  let rows = 0;
  let deletions = 0;
  try {
    for await (const entry of opts.rows) {
      let prepared: PreparedEntry;
      try {
        prepared = prepareEntry(entry, opts.kind, opts.idColumn);
      } catch (err) {
        if (!(err instanceof ProduceInputError)) throw err;
        const n = rows + deletions + 1;
        throw new ProduceInputError(`${opts.position?.() ?? `row ${n}`}: ${err.message}`);
      }
      ids.add(prepared.itemKey);
      if (prepared.type === 'delete') {
        deletions++;
        await sender.add(message(prepared.itemKey, 'ROW_DELETED', { ...none, item_key: prepared.itemKey }));
        continue;
      }
      rows++;
      await sender.add(
        message(prepared.itemKey, 'ROW_UPSERTED', {
          ...none,
          item_key: prepared.itemKey,
          values: prepared.values,
        }),
      );
    }
    for (const itemKey of deleted) {
      if (!itemKey) throw new ProduceInputError('an empty id among the deletions');
      deletions++;
      ids.add(itemKey);
      await sender.add(message(itemKey, 'ROW_DELETED', { ...none, item_key: itemKey }));
    }
    await sender.drain();
  } finally {
    await sender.settle();
  }
  await opts.producer.send({
    topic: opts.topic,
    acks: -1,
    messages: [message(opts.syncId, 'RUN_ENDED', { ...none, row_count: ids.size })],
  });
  return { runId, runSeq, rows, deletions, distinctIds: ids.size };
}

export type PreparedEntry =
  | { type: 'upsert'; itemKey: string; values: Record<string, AvroValue> }
  | { type: 'delete'; itemKey: string };

/**
 * What one entry becomes, or a ProduceInputError: the checks `produceRun` makes, for a first pass that
 * validates a whole input before anything is sent.
 */
export function prepareEntry(entry: Entry, kind: RunKind, idColumn: string): PreparedEntry {
  if (entry instanceof Deletion) {
    if (kind === 'FULL') {
      throw new ProduceInputError(
        'a deletion in a full run; a full run carries none: the consumer derives them',
      );
    }
    if (!entry.id) throw new ProduceInputError('a deletion with an empty id');
    return { type: 'delete', itemKey: entry.id };
  }
  return { type: 'upsert', ...prepareRow(entry, idColumn) };
}

const SUPPORTED = 'use a string, a number, a boolean, an array of strings or null';

/** The item key and Avro values of one row; throws ProduceInputError naming the column. */
export function prepareRow(
  row: Row,
  idColumn: string,
): { itemKey: string; values: Record<string, AvroValue> } {
  const rawKey = row[idColumn];
  if (rawKey === undefined || rawKey === null || rawKey === '') {
    throw new ProduceInputError(`no value in the id column "${idColumn}"`);
  }
  if (typeof rawKey !== 'string' && typeof rawKey !== 'number') {
    throw new ProduceInputError(
      `id column "${idColumn}" holds a ${kindOf(rawKey)}; ids are strings or numbers`,
    );
  }
  const values: Record<string, AvroValue> = {};
  for (const [column, value] of Object.entries(row)) {
    if (value === undefined) continue;
    const plain = value instanceof Date ? value.toISOString() : value;
    const wrapped = wrapValue(plain as RowValue);
    if (wrapped === undefined) {
      throw new ProduceInputError(`column "${column}": ${kindOf(value)} is not supported (${SUPPORTED})`);
    }
    values[column] = wrapped;
  }
  return { itemKey: String(rawKey), values };
}

function kindOf(value: unknown): string {
  if (Array.isArray(value)) return 'an array of non-strings';
  if (typeof value === 'number') return `the number ${value}`;
  if (typeof value === 'object' && value !== null) return 'an object';
  return `a ${typeof value}`;
}

const CHUNK_MESSAGES = 500;
const CHUNK_BYTES = 512 * 1024;
const MAX_IN_FLIGHT = 4;

class ChunkSender {
  private chunk: Message[] = [];
  private chunkBytes = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** Key → the in-flight send holding it (only while in flight). */
  private readonly holder = new Map<string, Promise<void>>();
  private failure: unknown;
  private sent = 0;

  constructor(
    private readonly producer: Producer,
    private readonly topic: string,
    private readonly onProgress?: (sent: number) => void,
  ) {}

  async add(m: Message): Promise<void> {
    this.chunk.push(m);
    this.chunkBytes += (m.value as Buffer).length;
    if (this.chunk.length >= CHUNK_MESSAGES || this.chunkBytes >= CHUNK_BYTES) await this.dispatch();
  }

  async drain(): Promise<void> {
    await this.dispatch();
    await Promise.all(this.inFlight);
    this.throwIfFailed();
  }

  async settle(): Promise<void> {
    await Promise.allSettled(this.inFlight);
  }

  private async dispatch(): Promise<void> {
    this.throwIfFailed();
    const messages = this.chunk;
    if (messages.length === 0) return;
    this.chunk = [];
    this.chunkBytes = 0;
    const keys = new Set(messages.map((m) => m.key as string));
    const before = new Set([...keys].flatMap((k) => this.holder.get(k) ?? []));
    while (this.inFlight.size >= MAX_IN_FLIGHT) await Promise.race(this.inFlight);
    await Promise.all(before);
    const send: Promise<void> = this.producer.send({ topic: this.topic, acks: -1, messages }).then(() => {
      this.inFlight.delete(send);
      for (const k of keys) if (this.holder.get(k) === send) this.holder.delete(k);
      this.sent += messages.length;
      this.onProgress?.(this.sent);
    });
    // Recorded here, thrown at the next add/drain: the send may fail while nobody awaits it.
    send.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.inFlight.add(send);
    for (const k of keys) this.holder.set(k, send);
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
