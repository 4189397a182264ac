/**
 * The CDC change event as the rest of the service sees it (camelCase, plain values), and its mapping to
 * and from the Avro record of `schemas/change-event.avsc`.
 */
import { readFileSync } from 'node:fs';
import { CatalogSyncError } from '../errors.js';

export const CHANGE_EVENT_SCHEMA = readFileSync(
  new URL('../../schemas/change-event.avsc', import.meta.url),
  'utf8',
);

export type RowValue = null | boolean | number | string | string[];
export type RunKind = 'FULL' | 'DELTA';
export type ChangeEventType = 'ROW_UPSERTED' | 'ROW_DELETED' | 'RUN_STARTED' | 'RUN_ENDED';

export interface ChangeEvent {
  syncId: string;
  runId: string;
  runSeq: number;
  runKind: RunKind;
  type: ChangeEventType;
  /** Set on row events, null on run markers. */
  itemKey: string | null;
  /** ROW_UPSERTED: the row's columns (`{}` when the event carried none); null otherwise. */
  values: Record<string, RowValue> | null;
  /** RUN_ENDED: distinct item ids of the run; null otherwise. */
  rowCount: number | null;
  sourceTs: number;
}

/**
 * The `values` map's union holds both long and double, so avsc keeps it wrapped: `{long: 3}`,
 * `{string: 'x'}`, `{array: [...]}`, or null.
 */
export type AvroValue =
  | null
  | { boolean: boolean }
  | { long: number }
  | { double: number }
  | { string: string }
  | { array: string[] };

export interface ChangeEventRecord {
  sync_id: string;
  run_id: string;
  run_seq: number;
  run_kind: RunKind;
  event_type: ChangeEventType;
  item_key: string | null;
  values: Record<string, AvroValue> | null;
  row_count: number | null;
  source_ts: number;
}

export type PoisonCode =
  | 'WRONG_MAGIC_BYTE'
  | 'UNKNOWN_SCHEMA_ID'
  | 'INCOMPATIBLE_SCHEMA'
  | 'CORRUPT_AVRO'
  | 'EMPTY_MESSAGE'
  | 'INVALID_EVENT';

/** A message that will never decode into a usable event, however often it is retried: dead-letter it. */
export class PoisonMessageError extends CatalogSyncError {
  declare readonly code: PoisonCode;

  constructor(code: PoisonCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, { retriable: false, cause: options.cause });
  }
}

/** Wraps one plain value for the Avro map; undefined when the value has no Avro form. */
export function wrapValue(value: RowValue): AvroValue | undefined {
  if (value === null) return null;
  switch (typeof value) {
    case 'boolean':
      return { boolean: value };
    case 'string':
      return { string: value };
    case 'number':
      if (!Number.isFinite(value)) return undefined;
      return Number.isSafeInteger(value) ? { long: value } : { double: value };
    default:
      return Array.isArray(value) && value.every((v) => typeof v === 'string') ? { array: value } : undefined;
  }
}

export function unwrapValue(value: AvroValue): RowValue {
  if (value === null) return null;
  if ('boolean' in value) return value.boolean;
  if ('long' in value) return value.long;
  if ('double' in value) return value.double;
  if ('string' in value) return value.string;
  return value.array;
}

export function encodeValues(values: Record<string, RowValue>): Record<string, AvroValue> {
  const out: Record<string, AvroValue> = {};
  for (const [column, value] of Object.entries(values)) {
    const wrapped = wrapValue(value);
    if (wrapped === undefined) throw new TypeError(`column ${column}: ${String(value)} has no Avro form`);
    out[column] = wrapped;
  }
  return out;
}

export function toAvro(event: ChangeEvent): ChangeEventRecord {
  return {
    sync_id: event.syncId,
    run_id: event.runId,
    run_seq: event.runSeq,
    run_kind: event.runKind,
    event_type: event.type,
    item_key: event.itemKey,
    values: event.values === null ? null : encodeValues(event.values),
    row_count: event.rowCount,
    source_ts: event.sourceTs,
  };
}

/** Maps a decoded record and checks what the schema alone cannot (which fields each event type needs). */
export function fromAvro(record: ChangeEventRecord): ChangeEvent {
  if (!record.sync_id) throw invalidEvent(record, 'has an empty sync_id');
  if (!record.run_id) throw invalidEvent(record, 'has an empty run_id');
  const isRow = record.event_type === 'ROW_UPSERTED' || record.event_type === 'ROW_DELETED';
  if (isRow && !record.item_key) throw invalidEvent(record, 'has no item_key');
  if (record.event_type === 'RUN_ENDED' && (record.row_count === null || record.row_count < 0)) {
    throw invalidEvent(record, `needs a row_count >= 0, got ${record.row_count}`);
  }
  let values: Record<string, RowValue> | null = null;
  if (record.event_type === 'ROW_UPSERTED') {
    values = {};
    const wrapped = record.values ?? {};
    for (const column of Object.keys(wrapped)) values[column] = unwrapValue(wrapped[column]!);
  }
  return {
    syncId: record.sync_id,
    runId: record.run_id,
    runSeq: record.run_seq,
    runKind: record.run_kind,
    type: record.event_type,
    itemKey: isRow ? record.item_key : null,
    values,
    rowCount: record.event_type === 'RUN_ENDED' ? record.row_count : null,
    sourceTs: record.source_ts,
  };
}

// Module level: a closure made per event was most of fromAvro's cost.
function invalidEvent(record: ChangeEventRecord, why: string): PoisonMessageError {
  return new PoisonMessageError(
    'INVALID_EVENT',
    `${record.event_type} event of sync '${record.sync_id}' run '${record.run_id}' ${why}`,
  );
}
