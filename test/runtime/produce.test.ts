import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareRow, type Row, readIdsFile, readRowsFile } from '../../src/runtime/produce.js';

const dir = mkdtempSync(join(tmpdir(), 'produce-test-'));
function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

async function readAll(path: string): Promise<Row[]> {
  const rows: Row[] = [];
  for await (const row of readRowsFile(path).rows) rows.push(row);
  return rows;
}

async function failure(path: string): Promise<string> {
  return readAll(path).then(
    () => 'no error',
    (err: Error) => err.message,
  );
}

describe('readRowsFile', () => {
  it('reads CSV: header first, strings kept, empty → null, RFC 4180 quoting across lines', async () => {
    const path = file(
      'rows.csv',
      '\uFEFFsku,name,price,note\r\nA-1,"Mat, thick",12.50,\r\n\r\nA-2,"say ""hi""","","two\nlines"\nA-3,x,3,y\n',
    );
    expect(await readAll(path)).toEqual([
      { sku: 'A-1', name: 'Mat, thick', price: '12.50', note: null },
      { sku: 'A-2', name: 'say "hi"', price: null, note: 'two\nlines' },
      { sku: 'A-3', name: 'x', price: '3', note: 'y' },
    ]);
  });

  it('names the line of a CSV record with the wrong number of fields or an open quote', async () => {
    expect(await failure(file('short.csv', 'a,b\n1,2\n3\n'))).toMatch(
      /short\.csv line 3: 1 fields, the header has 2/,
    );
    expect(await failure(file('open.csv', 'a,b\n1,"2\n3,4\n'))).toMatch(
      /open\.csv line 2: a quoted field is not closed/,
    );
    expect(await failure(file('dup.csv', 'a,a\n1,2\n'))).toMatch(/dup\.csv line 1: column "a" appears twice/);
  });

  it('reads NDJSON, skips blank lines and names the line of a bad one', async () => {
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

  it('tells the position of the row just read', async () => {
    const source = readRowsFile(file('pos.ndjson', '{"a":1}\n\n{"a":2}\n'));
    const positions: string[] = [];
    for await (const _ of source.rows) positions.push(source.position());
    expect(positions.map((p) => p.replace(/^.*pos\.ndjson /, ''))).toEqual(['line 1', 'line 3']);
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

describe('readIdsFile', () => {
  it('reads one id per line, without blanks and comments', async () => {
    expect(await readIdsFile(file('ids.txt', '# deleted\nA-1\n\n  A-2  \r\n'))).toEqual(['A-1', 'A-2']);
  });
});
