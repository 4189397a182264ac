import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Deletion, type Entry, prepareEntry, prepareRow } from '../../src/runtime/produce.js';
import {
  columnTypes,
  parseNdjsonLine,
  type ReadInputOptions,
  readIdsFile,
  readInput,
  typeCsvValue,
} from '../../src/runtime/produce-input.js';

const dir = mkdtempSync(join(tmpdir(), 'produce-test-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function readAll(path: string, opts: ReadInputOptions = {}): Promise<Entry[]> {
  const entries: Entry[] = [];
  for await (const entry of readInput(path, opts).entries) entries.push(entry);
  return entries;
}

async function failure(path: string, opts: ReadInputOptions = {}): Promise<string> {
  return readAll(path, opts).then(
    () => 'no error',
    (err: Error) => err.message,
  );
}

describe('readInput: CSV', () => {
  it('reads the header first, keeps untyped text, unquoted empty → null, "" → empty string', async () => {
    const path = file(
      'rows.csv',
      '\uFEFFsku,name,price,note\r\nA-1,"Mat, thick",12.50,\r\n\r\nA-2,"say ""hi""","","two\nlines"\r\nA-3,x,3,y\r\n',
    );
    expect(await readAll(path)).toEqual([
      { sku: 'A-1', name: 'Mat, thick', price: '12.50', note: null },
      { sku: 'A-2', name: 'say "hi"', price: '', note: 'two\nlines' },
      { sku: 'A-3', name: 'x', price: '3', note: 'y' },
    ]);
  });

  it('types columns by the mapping; the id column and untyped columns stay strings', async () => {
    const types = columnTypes({
      fields: [
        { source: 'sku', type: 'integer' },
        { source: 'stock', type: 'integer' },
        { source: 'price', type: 'float' },
        { source: 'live', type: 'bool' },
        { source: 'since', type: 'date' },
        { source: 'seen', type: 'date' },
        { source: 'page', type: 'url' },
      ],
      customAttributes: ['note', { name: 'tags', type: 'array' }, { name: 'label' }],
    });
    const path = file(
      'typed.csv',
      [
        'sku,stock,price,live,since,seen,page,note,tags,label',
        '007,12,12.50,TRUE,1767225600,2026-01-01T00:00:00Z,https://x.test/p,42,"[""a"",""b,c""]",3',
        '008,,,false,,,,,[],""',
        '',
      ].join('\n'),
    );
    expect(await readAll(path, { types, idColumn: 'sku' })).toEqual([
      {
        sku: '007',
        stock: 12,
        price: 12.5,
        live: true,
        since: 1767225600,
        seen: '2026-01-01T00:00:00Z',
        page: 'https://x.test/p',
        note: '42',
        tags: ['a', 'b,c'],
        label: '3',
      },
      {
        sku: '008',
        stock: null,
        price: null,
        live: false,
        since: null,
        seen: null,
        page: null,
        note: null,
        tags: [],
        label: '',
      },
    ]);
  });

  it('names line and column of a value that does not fit its type', async () => {
    const types = new Map([
      ['n', 'integer'],
      ['tags', 'array'],
      ['ok', 'bool'],
    ] as const);
    expect(await failure(file('int.csv', 'id,n\n1,2\n\n2,2.5\n'), { types })).toMatch(
      /int\.csv line 4: column "n": expected an integer, got "2\.5"/,
    );
    expect(await failure(file('empty.csv', 'id,n\n1,""\n'), { types })).toMatch(
      /empty\.csv line 2: column "n": expected an integer, got "" \(a quoted empty field/,
    );
    expect(await failure(file('arr.csv', 'id,tags\n1,a;b\n'), { types })).toMatch(
      /arr\.csv line 2: column "tags": expected a JSON array of strings/,
    );
    expect(await failure(file('arr2.csv', 'id,tags\n1,[1]\n'), { types })).toMatch(
      /arr2\.csv line 2: column "tags"/,
    );
    expect(await failure(file('bool.csv', 'id,ok\n1,yes\n'), { types })).toMatch(
      /bool\.csv line 2: column "ok": expected true or false, got "yes"/,
    );
  });

  it('names the line of a malformed record or header', async () => {
    expect(await failure(file('short.csv', 'a,b\n1,2\n3\n'))).toMatch(
      /short\.csv line 3: 1 fields, the header has 2/,
    );
    expect(await failure(file('open.csv', 'a,b\n1,"2\n3,4\n'))).toMatch(
      /open\.csv line 2: a quoted field is not closed/,
    );
    expect(await failure(file('dup.csv', 'a,a\n1,2\n'))).toMatch(/dup\.csv line 1: column "a" appears twice/);
    expect(await failure(file('noname.csv', 'a,,b\n1,2,3\n'))).toMatch(
      /noname\.csv line 1: column 2 of the header has no name/,
    );
    expect(await failure(file('quote.csv', 'a,b\n1,2\n3,x"y"\n'))).toMatch(/quote\.csv line 3: .*quote/i);
  });

  it('tells the position of the row just read', async () => {
    const csv = readInput(file('pos.csv', 'a,b\n1,"x\ny"\n\n2,z\n'));
    const positions: string[] = [];
    for await (const _ of csv.entries) positions.push(csv.position());
    expect(positions.map((p) => p.replace(/^.*pos\.csv /, ''))).toEqual(['line 2', 'line 5']);
  });
});

describe('readInput: NDJSON', () => {
  it('reads rows, skips blank lines and names the line of a bad one', async () => {
    const path = file('rows.ndjson', '{"sku":"A","n":1}\n\n{"sku":"B","tags":["x"]}\n');
    expect(await readAll(path)).toEqual([
      { sku: 'A', n: 1 },
      { sku: 'B', tags: ['x'] },
    ]);
    expect(await failure(file('bad.ndjson', '{"sku":"A"}\n\n{"sku":\n'))).toMatch(
      /bad\.ndjson line 3: not JSON/,
    );
    expect(await failure(file('arr.ndjson', '[1,2]\n'))).toMatch(/arr\.ndjson line 1: not a JSON object/);
  });

  it('reads deletions among the rows, ids kept exactly as written', async () => {
    const path = file(
      'mixed.ndjson',
      [
        '{"sku":"A","n":1}',
        '{"delete":" spaced "}',
        '{"delete":"#hash"}',
        '{"delete":"two\\nlines"}',
        '{"delete":42}',
        '{"sku":"B","delete":true}',
      ].join('\n'),
    );
    expect(await readAll(path)).toEqual([
      { sku: 'A', n: 1 },
      new Deletion(' spaced '),
      new Deletion('#hash'),
      new Deletion('two\nlines'),
      new Deletion('42'),
      { sku: 'B', delete: true },
    ]);
    expect(await failure(file('del.ndjson', '{"sku":"A"}\n{"delete":""}\n'))).toMatch(
      /del\.ndjson line 2: "delete" takes a non-empty string or an integer id, got ""/,
    );
  });

  it('names the input by its label (stdin) and tells the position of the entry just read', async () => {
    expect(await failure(file('stdin-like', '{"a":1}\nnope\n'), { label: 'stdin' })).toMatch(
      /^stdin line 2: not JSON/,
    );
    const source = readInput(file('pos.ndjson', '{"a":1}\n\n{"delete":"x"}\n'));
    const positions: string[] = [];
    for await (const _ of source.entries) positions.push(source.position());
    expect(positions.map((p) => p.replace(/^.*pos\.ndjson /, ''))).toEqual(['line 1', 'line 3']);
  });

  it('reads NDJSON whatever the extension, CSV when told', async () => {
    expect(await readAll(file('rows.txt', '{"a":1}\n'))).toEqual([{ a: 1 }]);
    expect(await readAll(file('rows.data', 'a\n1\n'), { format: 'csv' })).toEqual([{ a: '1' }]);
  });
});

describe('typeCsvValue', () => {
  it('converts text by type and keeps null; untyped, string and url text stays as it is', () => {
    expect(typeCsvValue(null, 'integer')).toBeNull();
    expect(typeCsvValue('12', undefined)).toBe('12');
    expect(typeCsvValue('', 'string')).toBe('');
    expect(typeCsvValue('-3', 'integer')).toBe(-3);
    expect(typeCsvValue('1e3', 'float')).toBe(1000);
    expect(typeCsvValue('False', 'bool')).toBe(false);
    expect(typeCsvValue('2026-01-31', 'date')).toBe('2026-01-31');
    expect(typeCsvValue('["x"]', 'array')).toEqual(['x']);
    expect(typeCsvValue('9007199254740993', 'integer')).toEqual({ error: expect.stringMatching(/integer/) });
    expect(typeCsvValue('soon', 'date')).toEqual({ error: expect.stringMatching(/RFC 3339/) });
    expect(typeCsvValue('{"a":1}', 'array')).toEqual({ error: expect.stringMatching(/JSON array/) });
  });
});

describe('columnTypes', () => {
  it('maps fields and typed custom attributes by source column; a conflicting column stays a string', () => {
    const types = columnTypes({
      fields: [
        { source: 'p', type: 'float' },
        { source: 'p', type: 'string' },
        { source: 'q', type: 'integer' },
      ],
      customAttributes: ['free', { name: 'd', type: 'date' }, { name: 'u' }],
    });
    expect(Object.fromEntries(types)).toEqual({ p: 'string', q: 'integer', d: 'date' });
  });
});

describe('parseNdjsonLine', () => {
  it('tells a deletion (only key "delete") from a row', () => {
    expect(parseNdjsonLine('{"delete":"x"}')).toEqual(new Deletion('x'));
    expect(parseNdjsonLine('{"delete":"x","sku":"y"}')).toEqual({ delete: 'x', sku: 'y' });
    expect(parseNdjsonLine('{"delete":null}')).toMatch(/non-empty string or an integer/);
    expect(parseNdjsonLine('{"delete":1.5}')).toMatch(/non-empty string or an integer/);
    expect(parseNdjsonLine('"x"')).toBe('not a JSON object');
  });
});

describe('prepareRow', () => {
  it('keys the row by its id column and wraps every value', () => {
    expect(prepareRow({ sku: 42, price: 9.5, stock: 3, ok: true, tags: ['a'], gone: null }, 'sku')).toEqual({
      itemKey: '42',
      values: {
        sku: { long: 42 },
        price: { double: 9.5 },
        stock: { long: 3 },
        ok: { boolean: true },
        tags: { array: ['a'] },
        gone: null,
      },
    });
  });

  it('names the column of a value Avro cannot carry, and a missing id', () => {
    expect(() => prepareRow({ sku: 'A', meta: { a: 1 } }, 'sku')).toThrow(
      /column "meta": an object is not supported/,
    );
    expect(() => prepareRow({ sku: 'A', sizes: [1, 2] }, 'sku')).toThrow(
      /column "sizes": an array of non-strings/,
    );
    expect(() => prepareRow({ name: 'x' }, 'sku')).toThrow(/no value in the id column "sku"/);
    expect(() => prepareRow({ sku: '' }, 'sku')).toThrow(/no value in the id column "sku"/);
  });
});

describe('prepareEntry', () => {
  it('refuses a deletion in a full run and an empty deletion id', () => {
    expect(prepareEntry(new Deletion(' a '), 'DELTA', 'sku')).toEqual({ type: 'delete', itemKey: ' a ' });
    expect(() => prepareEntry(new Deletion('a'), 'FULL', 'sku')).toThrow(/deletion in a full run/);
    expect(() => prepareEntry(new Deletion(''), 'DELTA', 'sku')).toThrow(/empty id/);
    expect(prepareEntry({ sku: 'a' }, 'FULL', 'sku')).toEqual({
      type: 'upsert',
      itemKey: 'a',
      values: { sku: { string: 'a' } },
    });
  });
});

describe('readIdsFile', () => {
  it('reads one id per line, without blanks and comments', async () => {
    expect(await readIdsFile(file('ids.txt', '# deleted\nA-1\n\n  A-2  \r\n'))).toEqual(['A-1', 'A-2']);
  });
});
