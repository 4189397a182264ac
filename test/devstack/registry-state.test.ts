import { describe, expect, it } from 'vitest';
import { compatibilityProblems, parseAvro } from '../../devstack/registry/avro.js';
import { RegistryError } from '../../devstack/registry/errors.js';
import {
  configRecord,
  type LogRecord,
  RegistryState,
  type SubjectVersion,
  schemaRecord,
} from '../../devstack/registry/state.js';

const user = (fields: object[] = []) =>
  JSON.stringify({
    type: 'record',
    name: 'User',
    namespace: 'test',
    fields: [{ name: 'id', type: 'string' }, ...fields],
  });
const other = JSON.stringify({ type: 'record', name: 'Other', fields: [{ name: 'n', type: 'long' }] });

function apply(state: RegistryState, record: LogRecord) {
  const key = Buffer.from(JSON.stringify(record.key));
  return state.apply(key, record.value === null ? null : Buffer.from(JSON.stringify(record.value)));
}

const v = (
  subject: string,
  version: number,
  id: number,
  schema: string,
  deleted = false,
): SubjectVersion => ({
  subject,
  version,
  id,
  schema,
  deleted,
});

describe('RegistryState replay', () => {
  it('lets the first claim of a subject version win and ignores later ones', () => {
    const state = new RegistryState();
    expect(apply(state, schemaRecord(v('s', 1, 1, user())))).toEqual({ applied: true });
    const late = apply(state, schemaRecord(v('s', 1, 2, other)));
    expect(late.applied).toBe(false);
    expect(state.version('s', 1)?.id).toBe(1);
    expect(state.schema(2)).toBeUndefined();
    expect(state.nextVersion('s')).toBe(2);
    expect(state.nextId()).toBe(2);
  });

  it('ignores a second writer that claimed the same version and the same next id for another schema', () => {
    const state = new RegistryState();
    apply(state, schemaRecord(v('s', 1, 1, user())));
    expect(apply(state, schemaRecord(v('s', 1, 1, other))).applied).toBe(false);
    expect(state.version('s', 1)?.schema).toBe(user());
    expect(state.idOf(parseAvro(other).canonical)).toBeUndefined();
    // The writer that won may repeat its record (producer retry, re-assertion after a race): no change.
    expect(apply(state, schemaRecord(v('s', 1, 1, user())))).toEqual({ applied: true });
  });

  it('ignores a record claiming an id that names another schema, or a second id for a known schema', () => {
    const state = new RegistryState();
    apply(state, schemaRecord(v('a', 1, 1, user())));
    expect(apply(state, schemaRecord(v('b', 1, 1, other))).applied).toBe(false);
    expect(apply(state, schemaRecord(v('b', 1, 7, user()))).applied).toBe(false);
    expect(state.subjectNames(true)).toEqual(['a']);
    // The same schema under another subject shares its id.
    expect(apply(state, schemaRecord(v('b', 1, 1, user())))).toEqual({ applied: true });
    expect(state.usages(1, false).map((u) => u.subject)).toEqual(['a', 'b']);
  });

  it('treats whitespace and key order as the same schema', () => {
    const state = new RegistryState();
    apply(state, schemaRecord(v('a', 1, 1, user())));
    const reordered = JSON.stringify({
      namespace: 'test',
      fields: [{ type: { type: 'string' }, name: 'id' }],
      name: 'User',
      type: 'record',
    });
    expect(apply(state, schemaRecord(v('b', 1, 1, `  ${reordered}\n`)))).toEqual({ applied: true });
    expect(parseAvro(reordered).canonical).toBe(parseAvro(user()).canonical);
    expect(parseAvro(user([{ name: 'x', type: 'int', default: 1 }])).canonical).not.toBe(
      parseAvro(user([{ name: 'x', type: 'int', default: 2 }])).canonical,
    );
  });

  it('soft-deletes by rewriting the key, keeps counting versions, and forgets ids on tombstones', () => {
    const state = new RegistryState();
    apply(state, schemaRecord(v('s', 1, 1, user())));
    apply(state, schemaRecord(v('s', 1, 1, user(), true)));
    expect(state.subjectNames(false)).toEqual([]);
    expect(state.subjectNames(true)).toEqual(['s']);
    expect(state.nextVersion('s')).toBe(2);
    expect(state.schema(1)?.text).toBe(user());
    apply(state, schemaRecord(v('s', 1, 1, user()), true));
    expect(state.subjectNames(true)).toEqual([]);
    expect(state.schema(1)).toBeUndefined();
    expect(state.idOf(parseAvro(user()).canonical)).toBeUndefined();
  });

  it('keeps the last compatibility level per subject and the global one apart', () => {
    const state = new RegistryState();
    apply(state, configRecord(null, 'FULL'));
    apply(state, configRecord('s', 'NONE'));
    apply(state, configRecord('s', 'FORWARD'));
    expect(state.config(null)).toBe('FULL');
    expect(state.config('s')).toBe('FORWARD');
    apply(state, configRecord('s', null));
    expect(state.config('s')).toBeUndefined();
  });

  it('ignores records it cannot read without throwing', () => {
    const state = new RegistryState();
    expect(state.apply(Buffer.from('not json'), Buffer.from('{}')).applied).toBe(false);
    expect(state.apply(Buffer.from('{"keytype":"NOOP","magic":0}'), null).applied).toBe(false);
    expect(
      apply(state, { key: { keytype: 'SCHEMA', subject: 's', version: 1, magic: 1 }, value: { id: 1 } })
        .applied,
    ).toBe(false);
    expect(state.subjectNames(true)).toEqual([]);
  });
});

describe('Avro schemas and compatibility', () => {
  const v1 = parseAvro(user()).type;
  const optional = parseAvro(user([{ name: 'age', type: ['null', 'int'], default: null }])).type;
  const required = parseAvro(user([{ name: 'age', type: 'int' }])).type;

  it('refuses unparsable schemas and other schema types with 42201', () => {
    for (const [schema, type] of [
      ['{"type":"recordz"}', undefined],
      ['not json', undefined],
      [user(), 'PROTOBUF'],
    ]) {
      const err = (() => {
        try {
          parseAvro(schema, type);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(RegistryError);
      expect((err as RegistryError).errorCode).toBe(42201);
    }
  });

  it('judges BACKWARD, FORWARD and FULL with the Avro resolution rules', () => {
    const prior = [{ version: 1, type: v1 }];
    expect(compatibilityProblems('BACKWARD', optional, prior)).toEqual([]);
    expect(compatibilityProblems('BACKWARD', required, prior)).toHaveLength(1);
    expect(compatibilityProblems('BACKWARD', required, prior)[0]).toContain('age');
    expect(compatibilityProblems('FORWARD', required, prior)).toEqual([]);
    expect(compatibilityProblems('FULL', required, prior)).toHaveLength(1);
    expect(compatibilityProblems('NONE', required, prior)).toEqual([]);
  });

  it('checks only the latest version unless the level is transitive', () => {
    const prior = [
      { version: 1, type: v1 },
      { version: 2, type: required },
    ];
    const dropsAge = parseAvro(user([{ name: 'extra', type: 'string' }])).type;
    // Reading v2 data with `dropsAge` fails on `extra` either way; reading v1 data fails too, and transitive says so.
    expect(compatibilityProblems('BACKWARD', dropsAge, prior)).toHaveLength(1);
    expect(compatibilityProblems('BACKWARD_TRANSITIVE', dropsAge, prior)).toHaveLength(2);
  });
});
