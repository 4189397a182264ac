import { describe, expect, it } from 'vitest';
import type { SyncConfig } from '../../src/config/config.js';
import type { ChangeEvent } from '../../src/ingest/change-event.js';
import { attributeSpecs, mapRow, plan } from '../../src/planning/planner.js';

function sync(mode: SyncConfig['mode'], operation: SyncConfig['operation']): SyncConfig {
  return {
    id: 's',
    destination: { type: 'batch', project: 'p', catalog: 'c' },
    mode,
    operation,
    idColumn: 'sku',
    fields: [
      { source: 'name', attribute: 'name', type: 'string' },
      { source: 'qty', attribute: 'qty', type: 'integer' },
    ],
    customAttributes: ['tags', { name: 'live', type: 'bool' }],
    guardrail: { maxDeleteShare: 0.5 },
    flushWaitMs: 100,
  } as SyncConfig;
}

function event(
  type: ChangeEvent['type'],
  runKind: ChangeEvent['runKind'],
  more: Partial<ChangeEvent> = {},
): ChangeEvent {
  return {
    syncId: 's',
    runId: 'r1',
    runSeq: 7,
    runKind,
    type,
    itemKey: type.startsWith('ROW') ? 'a' : null,
    values: type === 'ROW_UPSERTED' ? { name: 'A', qty: '3', tags: ['x'], live: 'true', other: 1 } : null,
    rowCount: type === 'RUN_ENDED' ? 5 : null,
    sourceTs: 0,
    ...more,
  };
}

const run = { runId: 'r1', seq: 7, kind: 'FULL' as const };
const upsert = { kind: 'upsert', run, id: 'a', values: { name: 'A', qty: 3, tags: ['x'], live: true } };

describe('plan: the modes table of the sync semantics', () => {
  const cases: [
    SyncConfig['mode'],
    SyncConfig['operation'],
    ChangeEvent['runKind'],
    ChangeEvent['type'],
    object,
  ][] = [
    ['full_then_delta', 'upsert', 'FULL', 'ROW_UPSERTED', upsert],
    ['full_then_delta', 'upsert', 'DELTA', 'ROW_DELETED', { kind: 'skip', code: 'DELETION_NOT_MIRRORED' }],
    ['full_then_delta', 'mirror', 'FULL', 'ROW_UPSERTED', upsert],
    ['full_then_delta', 'mirror', 'DELTA', 'ROW_DELETED', { kind: 'remove', id: 'a', mode: 'members-only' }],
    ['full_only', 'upsert', 'FULL', 'ROW_UPSERTED', upsert],
    ['full_only', 'upsert', 'DELTA', 'ROW_UPSERTED', { kind: 'skip', code: 'DELTA_IN_FULL_ONLY' }],
    ['full_only', 'delete_only', 'FULL', 'ROW_UPSERTED', { kind: 'remove', id: 'a', mode: 'always' }],
    ['full_only', 'delete_only', 'FULL', 'ROW_DELETED', { kind: 'skip', code: 'DELETION_NOT_MIRRORED' }],
  ];
  it.each(cases)('%s / %s: a %s run row %s', (mode, operation, kind, type, expected) => {
    const s = sync(mode, operation);
    const action = plan(s, attributeSpecs(s), event(type, kind));
    expect(action).toMatchObject({ ...expected, run: { ...run, kind } });
  });

  it('run markers carry the run and, at the end, its distinct id count', () => {
    const s = sync('full_then_delta', 'mirror');
    expect(plan(s, attributeSpecs(s), event('RUN_STARTED', 'FULL'))).toEqual({ kind: 'run_started', run });
    expect(plan(s, attributeSpecs(s), event('RUN_ENDED', 'FULL'))).toEqual({
      kind: 'run_ended',
      run,
      expected: 5,
    });
  });

  it('a value that cannot take its declared type rejects the row, naming the column', () => {
    const s = sync('full_then_delta', 'upsert');
    const action = plan(s, attributeSpecs(s), event('ROW_UPSERTED', 'FULL', { values: { qty: '3.5' } }));
    expect(action).toMatchObject({ kind: 'reject', code: 'VALUE_TYPE', id: 'a' });
    expect(action.kind === 'reject' && action.reason).toMatch(/column qty → qty: expected an integer/);
  });
});

describe('mapRow', () => {
  const specs = attributeSpecs(sync('full_then_delta', 'upsert'));

  it('maps only configured columns, keeps nulls (they remove the attribute) and infers undeclared types', () => {
    expect(mapRow(specs, { name: null, tags: ['a'], unknown: 'x' })).toEqual({
      ok: true,
      values: { name: null, tags: ['a'] },
    });
    expect(mapRow(specs, { tags: 'one' })).toEqual({ ok: true, values: { tags: 'one' } });
  });

  it('coerces numeric and boolean strings, and refuses what cannot be coerced', () => {
    expect(mapRow(specs, { qty: '12', live: 'false', name: 5 })).toEqual({
      ok: true,
      values: { qty: 12, live: false, name: '5' },
    });
    expect(mapRow(specs, { live: 'yes' })).toMatchObject({ ok: false });
    expect(mapRow(specs, { name: ['a'] })).toMatchObject({ ok: false });
  });
});
