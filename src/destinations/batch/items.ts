import type { EncodedItem, FieldSpec, FieldType, ItemChange } from './types.js';

/**
 * Item rules of `catalogs/items/edit` (seed 002), all checked before sending because one bad item fails
 * its whole request. Where Batch documents no rule, the limits agree with the simulator's choices.
 */
export const ITEM_RULES = {
  /** Batch documents none; 256, like tools/simulator/batch/attributes.ts. */
  maxIdLength: 256,
  keyName: /^[a-z0-9_]{1,30}$/,
  maxStringLength: 10_000,
  maxUrlLength: 2048,
  maxArrayElements: 15,
  maxArrayElementLength: 64,
} as const;

// Years 0001..9999: a larger number is almost always milliseconds sent where seconds are expected.
const MIN_DATE_SECONDS = -62_135_596_800;
const MAX_DATE_SECONDS = 253_402_300_799;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/i;
const URL_WITH_SCHEME = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i;

export type EncodeResult = { ok: true; item: EncodedItem } | { ok: false; code: string; reason: string };

class Breach {
  constructor(
    readonly code: string,
    readonly rule: string,
  ) {}
}

/**
 * Turns one change into the item `catalogs/items/edit` takes, or says which rule it breaks: the reason
 * names the item id, the attribute and the rule. `values` keys must be declared `fields`; a missing key
 * leaves the attribute alone, null removes it. Dates are sent as RFC 3339 in UTC, to the second.
 */
export function encodeItem(change: ItemChange, fields: FieldSpec[]): EncodeResult {
  const id: unknown = change.id;
  if (typeof id !== 'string' || id.length === 0 || id.length > ITEM_RULES.maxIdLength) {
    const shown = typeof id === 'string' ? JSON.stringify(id.slice(0, 64)) : typeof id;
    return fail(
      'ITEM_ID_INVALID',
      `item ${shown}: ids are non-empty strings of at most ${ITEM_RULES.maxIdLength} characters`,
    );
  }
  const values = change.values ?? {};
  if (change.action === 'remove') {
    if (Object.keys(values).length > 0) {
      return fail('ITEM_REMOVE_WITH_VALUES', `${label(id)}: a remove carries no attributes`);
    }
    return { ok: true, item: { id, action: 'remove' } };
  }
  if (change.action !== 'add') {
    return fail('ITEM_ACTION_INVALID', `${label(id)}: action must be "add" or "remove"`);
  }
  const types = fieldTypes(fields);
  const attributes: Record<string, unknown> = {};
  for (const name of Object.keys(values)) {
    const raw = values[name];
    if (raw === undefined) continue;
    if (!ITEM_RULES.keyName.test(name)) {
      return fail(
        'ITEM_KEY_INVALID',
        `${label(id)}: attribute ${JSON.stringify(name)}: key names use only a-z, 0-9 and _, at most 30 characters`,
      );
    }
    const type = types.get(name);
    if (type === undefined) {
      return fail(
        'ITEM_KEY_UNDECLARED',
        `${label(id)}: attribute "${name}": not a field of the catalog mapping`,
      );
    }
    try {
      attributes[wrapKey(name, type)] = raw === null ? null : encodeValue(type, raw);
    } catch (err) {
      if (!(err instanceof Breach)) throw err;
      return fail(err.code, `${label(id)}: attribute "${name}" (${type}): ${err.rule}`);
    }
  }
  return { ok: true, item: { id, action: 'add', attributes } };
}

/** Built on failure only: quoting the id for every valid item was a large share of encoding it. */
function label(id: string): string {
  return `item ${JSON.stringify(id)}`;
}

const typeCache = new WeakMap<FieldSpec[], Map<string, FieldType>>();

function fieldTypes(fields: FieldSpec[]): Map<string, FieldType> {
  let types = typeCache.get(fields);
  if (!types) {
    types = new Map(fields.map((f) => [f.name, f.type]));
    typeCache.set(fields, types);
  }
  return types;
}

function wrapKey(name: string, type: FieldType): string {
  return type === 'date' || type === 'url' ? `${type}(${name})` : name;
}

function fail(code: string, reason: string): EncodeResult {
  return { ok: false, code, reason };
}

function encodeValue(type: FieldType, value: unknown): unknown {
  switch (type) {
    case 'string':
      if (typeof value !== 'string')
        throw new Breach('ITEM_STRING_INVALID', `expected a string, got ${kind(value)}`);
      if (value.length === 0) throw new Breach('ITEM_STRING_EMPTY', 'strings cannot be empty (null removes)');
      if (tooLong(value, ITEM_RULES.maxStringLength)) {
        throw new Breach(
          'ITEM_STRING_TOO_LONG',
          `strings hold at most ${ITEM_RULES.maxStringLength} characters`,
        );
      }
      return value;
    case 'integer':
      if (typeof value === 'bigint' && Number.isSafeInteger(Number(value))) return Number(value);
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        throw new Breach('ITEM_INTEGER_INVALID', `expected a safe integer, got ${kind(value)}`);
      }
      return value;
    case 'float':
      // JSON.stringify turns NaN and Infinity into null, which would remove the attribute.
      if (typeof value !== 'number' || !Number.isFinite(value)) {
        throw new Breach('ITEM_FLOAT_INVALID', `expected a finite number, got ${kind(value)}`);
      }
      return value;
    case 'bool':
      if (typeof value !== 'boolean')
        throw new Breach('ITEM_BOOL_INVALID', `expected true or false, got ${kind(value)}`);
      return value;
    case 'date':
      return encodeDate(value);
    case 'url':
      if (typeof value !== 'string' || !URL_WITH_SCHEME.test(value)) {
        throw new Breach('ITEM_URL_INVALID', `expected a URL with a scheme and "://", got ${kind(value)}`);
      }
      if (value.length > ITEM_RULES.maxUrlLength) {
        throw new Breach('ITEM_URL_TOO_LONG', `URLs hold at most ${ITEM_RULES.maxUrlLength} characters`);
      }
      return value;
    case 'array':
      return encodeStringArray(value);
  }
}

function encodeDate(value: unknown): unknown {
  if (value instanceof Date) {
    const seconds = Math.floor(value.getTime() / 1000);
    if (!(seconds >= MIN_DATE_SECONDS && seconds <= MAX_DATE_SECONDS)) {
      throw new Breach('ITEM_DATE_INVALID', 'the Date is invalid or outside years 1 to 9999');
    }
    return `${new Date(seconds * 1000).toISOString().slice(0, 19)}Z`;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < MIN_DATE_SECONDS || value > MAX_DATE_SECONDS) {
      throw new Breach(
        'ITEM_DATE_INVALID',
        `a numeric date is whole Unix seconds within years 1 to 9999 (not milliseconds), got ${kind(value)}`,
      );
    }
    return value;
  }
  if (typeof value === 'string' && isRfc3339(value)) return value;
  throw new Breach('ITEM_DATE_INVALID', `expected a Date, Unix seconds or RFC 3339 text, got ${kind(value)}`);
}

function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59);
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth &&
    hour <= 23 &&
    minute <= 59 &&
    second <= 59 &&
    offsetOk
  );
}

function encodeStringArray(value: unknown): string[] {
  if (!Array.isArray(value))
    throw new Breach('ITEM_ARRAY_INVALID', `expected an array of strings, got ${kind(value)}`);
  if (value.length > ITEM_RULES.maxArrayElements) {
    throw new Breach(
      'ITEM_ARRAY_TOO_LONG',
      `arrays hold at most ${ITEM_RULES.maxArrayElements} elements, got ${value.length}`,
    );
  }
  for (const [i, element] of value.entries()) {
    if (typeof element !== 'string' || element.length === 0) {
      throw new Breach(
        'ITEM_ARRAY_ELEMENT_INVALID',
        `element ${i}: expected a non-empty string, got ${kind(element)}`,
      );
    }
    if (tooLong(element, ITEM_RULES.maxArrayElementLength)) {
      throw new Breach(
        'ITEM_ARRAY_ELEMENT_TOO_LONG',
        `element ${i}: array strings hold at most ${ITEM_RULES.maxArrayElementLength} characters`,
      );
    }
  }
  return value as string[];
}

/** Characters are code points; UTF-16 length bounds them from above, so most strings skip the count. */
function tooLong(s: string, max: number): boolean {
  if (s.length <= max) return false;
  let n = 0;
  for (const _ of s) if (++n > max) return true;
  return false;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a Date';
  if (typeof value === 'string')
    return value === '' ? 'an empty string' : `a string of ${value.length} characters`;
  if (typeof value === 'number')
    return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  if (typeof value === 'object') return 'a nested object';
  return `a ${typeof value}`;
}
