/**
 * Item attribute rules of POST /catalogs/items/edit (seed 002). Attributes must name a declared field
 * of the catalog with the matching key form: `date(k)` for a date field, `url(k)` for a url field,
 * plain `k` otherwise, so a client that skips POST /catalogs/update for new attributes fails here.
 */

export const FIELD_TYPES = ['array', 'bool', 'date', 'float', 'integer', 'string', 'url'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

export const FIELD_NAME = /^[a-z0-9_]{1,30}$/;
/** Our choice: Batch documents no limit for item ids. */
export const MAX_ITEM_ID_LENGTH = 256;
export const MAX_STRING_LENGTH = 10_000;
export const MAX_URL_LENGTH = 2048;
export const MAX_ARRAY_ELEMENTS = 15;
export const MAX_ARRAY_ELEMENT_LENGTH = 64;

// Years 0001..9999: a larger number is almost always milliseconds sent where seconds are expected.
const MIN_DATE_SECONDS = -62_135_596_800;
const MAX_DATE_SECONDS = 253_402_300_799;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-](\d{2}):(\d{2}))$/i;
const URL_WITH_SCHEME = /^[a-z][a-z0-9+.-]*:\/\/\S+$/i;
const WRAPPED_KEY = /^(date|url)\((.*)\)$/;

export class AttributeError extends Error {}

/** Changes to apply to one item, by field name; null removes the attribute. */
export type AttributeChanges = Map<string, unknown>;

export function checkAttributes(
  attributes: unknown,
  fields: ReadonlyMap<string, FieldType>,
): AttributeChanges {
  if (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes)) {
    throw new AttributeError(`"attributes" must be a JSON object, got ${describe(attributes)}`);
  }
  const changes: AttributeChanges = new Map();
  for (const [key, value] of Object.entries(attributes)) {
    const field = fieldOf(key, fields);
    if (changes.has(field)) {
      throw new AttributeError(`attribute "${key}": field "${field}" is set twice in this item`);
    }
    if (value !== null) {
      const problem = checkValue(fields.get(field)!, value);
      if (problem) throw new AttributeError(`attribute "${key}": ${problem}`);
    }
    changes.set(field, value);
  }
  return changes;
}

function fieldOf(key: string, fields: ReadonlyMap<string, FieldType>): string {
  const wrapped = WRAPPED_KEY.exec(key);
  const name = wrapped ? wrapped[2]! : key;
  const wrapper = wrapped?.[1];
  if (!FIELD_NAME.test(name)) {
    throw new AttributeError(
      `attribute "${key}": key names use only a-z, 0-9 and _ (no uppercase), at most 30 characters`,
    );
  }
  const type = fields.get(name);
  if (type === undefined) {
    throw new AttributeError(
      `attribute "${key}": the catalog has no field "${name}"; add it with POST /catalogs/update first`,
    );
  }
  if ((type === 'date' || type === 'url') && wrapper !== type) {
    throw new AttributeError(
      `attribute "${key}": field "${name}" is a ${type}, send it as "${type}(${name})"`,
    );
  }
  if (wrapper !== undefined && wrapper !== type) {
    throw new AttributeError(
      `attribute "${key}": ${wrapper}() is only for ${wrapper} fields; "${name}" is ${type}`,
    );
  }
  return name;
}

function checkValue(type: FieldType, value: unknown): string | undefined {
  switch (type) {
    case 'string':
      if (typeof value !== 'string') return `expected a string, got ${describe(value)}`;
      if (value.length === 0) return 'strings cannot be empty (send null to remove the attribute)';
      if (value.length > MAX_STRING_LENGTH && codePoints(value) > MAX_STRING_LENGTH)
        return `strings hold at most ${MAX_STRING_LENGTH} characters`;
      return;
    case 'integer':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
        return `expected an integer, got ${describe(value)}`;
      }
      return;
    case 'float':
      if (typeof value !== 'number') return `expected a number, got ${describe(value)}`;
      return;
    case 'bool':
      if (typeof value !== 'boolean') return `expected true or false, got ${describe(value)}`;
      return;
    case 'date':
      return checkDate(value);
    case 'url':
      if (typeof value !== 'string' || !URL_WITH_SCHEME.test(value)) {
        return `expected a URL with a scheme and "://" (https://..., myapp://...), got ${describe(value)}`;
      }
      if (value.length > MAX_URL_LENGTH) return `URLs hold at most ${MAX_URL_LENGTH} characters`;
      return;
    case 'array':
      return checkStringArray(value);
  }
}

function checkDate(value: unknown): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) return 'a numeric date is a whole number of Unix seconds';
    if (value < MIN_DATE_SECONDS || value > MAX_DATE_SECONDS) {
      return `date ${value} is out of range: send Unix seconds, not milliseconds`;
    }
    return;
  }
  if (typeof value === 'string') {
    return isRfc3339(value) ? undefined : `"${value}" is not an RFC 3339 date (2012-08-12T22:30:05Z)`;
  }
  return `expected Unix seconds or an RFC 3339 string, got ${describe(value)}`;
}

function isRfc3339(value: string): boolean {
  const m = RFC3339.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as number[];
  const daysInMonth = new Date(Date.UTC(year!, month!, 0)).getUTCDate();
  const offsetOk = m[9] === undefined || (Number(m[9]) <= 23 && Number(m[10]) <= 59);
  return (
    month! >= 1 &&
    month! <= 12 &&
    day! >= 1 &&
    day! <= daysInMonth &&
    hour! <= 23 &&
    minute! <= 59 &&
    second! <= 59 &&
    offsetOk
  );
}

function checkStringArray(value: unknown): string | undefined {
  if (!Array.isArray(value)) return `expected an array of strings, got ${describe(value)}`;
  if (value.length > MAX_ARRAY_ELEMENTS)
    return `arrays hold at most ${MAX_ARRAY_ELEMENTS} elements, got ${value.length}`;
  for (const [i, element] of value.entries()) {
    if (typeof element !== 'string')
      return `element ${i}: arrays hold only strings, got ${describe(element)}`;
    if (element.length === 0) return `element ${i}: array strings cannot be empty`;
    if (element.length > MAX_ARRAY_ELEMENT_LENGTH && codePoints(element) > MAX_ARRAY_ELEMENT_LENGTH) {
      return `element ${i}: array strings hold at most ${MAX_ARRAY_ELEMENT_LENGTH} characters`;
    }
  }
}

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string';
  if (typeof value === 'number')
    return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  if (typeof value === 'boolean') return `the boolean ${value}`;
  return `an ${typeof value}`;
}
