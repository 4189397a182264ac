import { describe, expect, it } from 'vitest';
import { encodeItem, ITEM_RULES } from '../../../src/destinations/batch/items.js';
import type { FieldSpec, ItemChange } from '../../../src/destinations/batch/types.js';

const fields: FieldSpec[] = [
  { name: 'title', type: 'string' },
  { name: 'stock', type: 'integer' },
  { name: 'price', type: 'float' },
  { name: 'available', type: 'bool' },
  { name: 'launch', type: 'date' },
  { name: 'page', type: 'url' },
  { name: 'tags', type: 'array' },
];

const add = (values: Record<string, unknown>): ItemChange => ({ id: 'sku-1', action: 'add', values });

describe('encodeItem: accepted values', () => {
  it.each([
    ['string', { title: 'Squid Game' }, { title: 'Squid Game' }],
    ['string of 10,000 characters', { title: 'x'.repeat(10_000) }, { title: 'x'.repeat(10_000) }],
    [
      '10,000 astral characters (code points, not UTF-16 units)',
      { title: '😀'.repeat(10_000) },
      { title: '😀'.repeat(10_000) },
    ],
    ['integer', { stock: 25 }, { stock: 25 }],
    ['bigint within the safe range', { stock: 7n }, { stock: 7 }],
    ['float', { price: 19.99 }, { price: 19.99 }],
    ['bool', { available: false }, { available: false }],
    ['date from Unix seconds', { launch: 1451642400 }, { 'date(launch)': 1451642400 }],
    ['date from RFC 3339', { launch: '2012-08-12T22:30:05Z' }, { 'date(launch)': '2012-08-12T22:30:05Z' }],
    [
      'date with offset and fraction',
      { launch: '2012-08-12T22:30:05.25+02:00' },
      { 'date(launch)': '2012-08-12T22:30:05.25+02:00' },
    ],
    [
      'date from a Date, to the second',
      { launch: new Date(Date.UTC(2023, 7, 1, 12, 0, 0, 750)) },
      { 'date(launch)': '2023-08-01T12:00:00Z' },
    ],
    ['url with https', { page: 'https://example.com/p/1' }, { 'url(page)': 'https://example.com/p/1' }],
    [
      'url with a custom scheme',
      { page: 'myapp://path/to/content' },
      { 'url(page)': 'myapp://path/to/content' },
    ],
    ['string array', { tags: ['summer', 'sale'] }, { tags: ['summer', 'sale'] }],
    [
      'array of 15 strings of 64 characters',
      { tags: Array(15).fill('t'.repeat(64)) },
      { tags: Array(15).fill('t'.repeat(64)) },
    ],
    [
      'null removes, with the key wrapped',
      { title: null, launch: null, page: null },
      { title: null, 'date(launch)': null, 'url(page)': null },
    ],
    ['undefined leaves the attribute alone', { title: undefined, stock: 1 }, { stock: 1 }],
  ])('%s', (_name, values, attributes) => {
    expect(encodeItem(add(values), fields)).toEqual({
      ok: true,
      item: { id: 'sku-1', action: 'add', attributes },
    });
  });

  it('encodes a remove without attributes', () => {
    expect(encodeItem({ id: 'sku-2', action: 'remove' }, fields)).toEqual({
      ok: true,
      item: { id: 'sku-2', action: 'remove' },
    });
  });

  it('accepts an id of the maximum length', () => {
    const id = 'i'.repeat(ITEM_RULES.maxIdLength);
    expect(encodeItem({ id, action: 'add', values: {} }, fields).ok).toBe(true);
  });
});

describe('encodeItem: every rule rejects the item, naming id, attribute and rule', () => {
  it.each([
    ['empty string', { title: '' }, 'ITEM_STRING_EMPTY', /empty/],
    ['string over 10,000 characters', { title: 'x'.repeat(10_001) }, 'ITEM_STRING_TOO_LONG', /10000/],
    ['number for a string', { title: 12 }, 'ITEM_STRING_INVALID', /expected a string/],
    ['nested object for a string', { title: { a: 1 } }, 'ITEM_STRING_INVALID', /nested object/],
    ['fractional integer', { stock: 1.5 }, 'ITEM_INTEGER_INVALID', /integer/],
    ['unsafe integer', { stock: 2 ** 53 }, 'ITEM_INTEGER_INVALID', /safe integer/],
    ['string for an integer', { stock: '3' }, 'ITEM_INTEGER_INVALID', /string/],
    ['NaN float', { price: Number.NaN }, 'ITEM_FLOAT_INVALID', /finite/],
    ['Infinity float', { price: Number.POSITIVE_INFINITY }, 'ITEM_FLOAT_INVALID', /finite/],
    ['string for a bool', { available: 'true' }, 'ITEM_BOOL_INVALID', /true or false/],
    ['date in milliseconds', { launch: 1_700_000_000_000 }, 'ITEM_DATE_INVALID', /milliseconds/],
    ['fractional Unix seconds', { launch: 1.5 }, 'ITEM_DATE_INVALID', /whole Unix seconds/],
    ['date without a zone', { launch: '2012-08-12T22:30:05' }, 'ITEM_DATE_INVALID', /RFC 3339/],
    ['impossible date', { launch: '2023-02-30T00:00:00Z' }, 'ITEM_DATE_INVALID', /RFC 3339/],
    ['invalid Date', { launch: new Date(Number.NaN) }, 'ITEM_DATE_INVALID', /invalid/],
    ['url without a scheme', { page: 'example.com/p' }, 'ITEM_URL_INVALID', /scheme/],
    ['url with a scheme but no ://', { page: 'mailto:a@b.c' }, 'ITEM_URL_INVALID', /:\/\//],
    ['url over 2048 characters', { page: `https://e.com/${'p'.repeat(2040)}` }, 'ITEM_URL_TOO_LONG', /2048/],
    ['array of 16 strings', { tags: Array(16).fill('t') }, 'ITEM_ARRAY_TOO_LONG', /15/],
    [
      'array element over 64 characters',
      { tags: ['ok', 't'.repeat(65)] },
      'ITEM_ARRAY_ELEMENT_TOO_LONG',
      /element 1.*64/,
    ],
    ['array of numbers', { tags: [1, 2] }, 'ITEM_ARRAY_ELEMENT_INVALID', /element 0/],
    ['empty array element', { tags: [''] }, 'ITEM_ARRAY_ELEMENT_INVALID', /non-empty/],
    ['nested array', { tags: [['a']] }, 'ITEM_ARRAY_ELEMENT_INVALID', /an array/],
    ['string for an array', { tags: 'a,b' }, 'ITEM_ARRAY_INVALID', /array of strings/],
    ['object for an array', { tags: { a: 'b' } }, 'ITEM_ARRAY_INVALID', /nested object/],
    ['uppercase key', { Title: 'x' }, 'ITEM_KEY_INVALID', /a-z/],
    ['key over 30 characters', { ['k'.repeat(31)]: 'x' }, 'ITEM_KEY_INVALID', /30/],
    ['key with a dash', { 'launch-date': 'x' }, 'ITEM_KEY_INVALID', /a-z/],
    ['key not among the fields', { colour: 'red' }, 'ITEM_KEY_UNDECLARED', /colour/],
  ])('%s', (_name, values, code, rule) => {
    const result = encodeItem(add(values), fields);
    expect(result).toMatchObject({ ok: false, code });
    if (result.ok) return;
    expect(result.reason).toContain('"sku-1"');
    expect(result.reason).toMatch(rule);
    const attribute = Object.keys(values)[0]!;
    expect(result.reason).toContain(attribute);
  });

  it.each([
    ['empty id', { id: '', action: 'add' }, 'ITEM_ID_INVALID'],
    [
      'id over the maximum length',
      { id: 'i'.repeat(ITEM_RULES.maxIdLength + 1), action: 'add' },
      'ITEM_ID_INVALID',
    ],
    ['numeric id', { id: 42 as unknown as string, action: 'add' }, 'ITEM_ID_INVALID'],
    ['remove with values', { id: 'a', action: 'remove', values: { title: 'x' } }, 'ITEM_REMOVE_WITH_VALUES'],
    ['unknown action', { id: 'a', action: 'upsert' as 'add' }, 'ITEM_ACTION_INVALID'],
  ])('%s', (_name, change, code) => {
    expect(encodeItem(change as ItemChange, fields)).toMatchObject({ ok: false, code });
  });
});
