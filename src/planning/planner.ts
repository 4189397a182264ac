/**
 * Decides what one change event means for its sync (the modes table of the sync semantics) and maps a
 * row to attribute values. Pure: no I/O, so every mode is unit-tested without services.
 */

import type { SyncConfig } from '../config/config.js';
import { type FieldType, inferType } from '../destinations/batch/types.js';
import type { ChangeEvent, RowValue } from '../ingest/change-event.js';
import type { RunRef } from './state.js';

export type PlannedAction =
  | { kind: 'run_started'; run: RunRef }
  /** expected null: a Debezium snapshot's end, counted once every partition passed it. */
  | { kind: 'run_ended'; run: RunRef; expected: number | null }
  | { kind: 'upsert'; run: RunRef; id: string; values: Record<string, unknown> }
  | { kind: 'remove'; run: RunRef; id: string; mode: 'members-only' | 'always' }
  | { kind: 'skip'; run: RunRef; id: string; code: string; reason: string }
  | { kind: 'reject'; run: RunRef; id: string; code: string; reason: string };

export interface AttributeSpec {
  source: string;
  attribute: string;
  /** Undeclared custom attributes take their type from the value. */
  type: FieldType | undefined;
}

export function attributeSpecs(sync: SyncConfig): AttributeSpec[] {
  return [
    ...sync.fields.map((f) => ({ source: f.source, attribute: f.attribute, type: f.type as FieldType })),
    ...sync.customAttributes.map((c) =>
      typeof c === 'string'
        ? { source: c, attribute: c, type: undefined }
        : { source: c.name, attribute: c.name, type: c.type as FieldType | undefined },
    ),
  ];
}

export function runOf(e: ChangeEvent): RunRef {
  return { runId: e.runId, seq: e.runSeq, kind: e.runKind };
}

export function plan(sync: SyncConfig, specs: AttributeSpec[], e: ChangeEvent): PlannedAction {
  const run = runOf(e);
  if (e.type === 'RUN_STARTED') return { kind: 'run_started', run };
  if (e.type === 'RUN_ENDED') return { kind: 'run_ended', run, expected: e.rowCount };
  const id = e.itemKey ?? '';
  const deleteOnly = sync.operation === 'delete_only';
  if (e.type === 'ROW_UPSERTED') {
    if (deleteOnly) return { kind: 'remove', run, id, mode: 'always' };
    if (sync.mode === 'full_only' && e.runKind === 'DELTA') {
      return {
        kind: 'skip',
        run,
        id,
        code: 'DELTA_IN_FULL_ONLY',
        reason: 'full_only syncs apply full runs only',
      };
    }
    const mapped = mapRow(specs, e.values ?? {});
    if (!mapped.ok)
      return { kind: 'reject', run, id, code: 'VALUE_TYPE', reason: `item ${id}: ${mapped.reason}` };
    return { kind: 'upsert', run, id, values: mapped.values };
  }
  if (sync.operation === 'mirror') return { kind: 'remove', run, id, mode: 'members-only' };
  return {
    kind: 'skip',
    run,
    id,
    code: 'DELETION_NOT_MIRRORED',
    reason:
      sync.operation === 'upsert'
        ? 'upstream deletions leave items in place in upsert syncs'
        : 'delete_only syncs remove the rows a run contains, not rows deleted upstream',
  };
}

type Mapped = { ok: true; values: Record<string, unknown> } | { ok: false; reason: string };

export function mapRow(specs: AttributeSpec[], row: Record<string, RowValue>): Mapped {
  const values: Record<string, unknown> = {};
  for (const spec of specs) {
    if (!(spec.source in row)) continue;
    const raw = row[spec.source]!;
    const coerced = coerce(raw, spec.type ?? inferType(raw));
    if (!coerced.ok)
      return { ok: false, reason: `column ${spec.source} → ${spec.attribute}: ${coerced.reason}` };
    values[spec.attribute] = coerced.value;
  }
  return { ok: true, values };
}

const NUMERIC = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

function coerce(
  value: RowValue,
  type: FieldType,
): { ok: true; value: unknown } | { ok: false; reason: string } {
  if (value === null) return { ok: true, value: null };
  switch (type) {
    case 'string':
    case 'url':
      if (typeof value === 'string') return { ok: true, value };
      if (typeof value === 'number' || typeof value === 'boolean') return { ok: true, value: String(value) };
      return { ok: false, reason: `expected a ${type}, got an array` };
    case 'integer': {
      const n = typeof value === 'string' && NUMERIC.test(value) ? Number(value) : value;
      if (typeof n === 'number' && Number.isSafeInteger(n)) return { ok: true, value: n };
      return { ok: false, reason: `expected an integer, got ${JSON.stringify(value)}` };
    }
    case 'float': {
      const n = typeof value === 'string' && NUMERIC.test(value) ? Number(value) : value;
      if (typeof n === 'number' && Number.isFinite(n)) return { ok: true, value: n };
      return { ok: false, reason: `expected a number, got ${JSON.stringify(value)}` };
    }
    case 'bool':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === 'false') return { ok: true, value: value === 'true' };
      return { ok: false, reason: `expected true or false, got ${JSON.stringify(value)}` };
    case 'date':
      if (typeof value === 'string' && NUMERIC.test(value)) return { ok: true, value: Number(value) };
      if (typeof value === 'number' || typeof value === 'string') return { ok: true, value };
      return { ok: false, reason: 'expected epoch seconds or an RFC 3339 string' };
    case 'array':
      if (Array.isArray(value)) return { ok: true, value };
      return { ok: false, reason: `expected an array of strings, got ${JSON.stringify(value)}` };
  }
}
