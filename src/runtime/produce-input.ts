/**
 * The input of `produce`: CSV typed by the sync's mapping, NDJSON rows and deletions, and ids files.
 * Every error names the input and the line: `<file> line N: <reason>`.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { type CastingContext, CsvError, parse as parseCsv } from 'csv-parse';
import type { FieldType } from '../destinations/batch/types.js';
import { Deletion, type Entry, ProduceInputError, type Row } from './produce.js';

export type InputFormat = 'csv' | 'ndjson';

/** Source column → the type its CSV text converts to. Columns not in it stay strings. */
export type ColumnTypes = ReadonlyMap<string, FieldType>;

export interface InputSource {
  entries: AsyncIterable<Entry>;
  /** Names the entry just read: `<label> line N`. */
  position(): string;
}

export interface ReadInputOptions {
  format?: InputFormat | undefined;
  /** CSV only. */
  types?: ColumnTypes | undefined;
  /** CSV only: the id column keeps its text whatever its mapped type (it is the item key). */
  idColumn?: string | undefined;
  /** Names the input in errors; default the path. */
  label?: string | undefined;
}

/** CSV when the name ends in `.csv`, else NDJSON. */
export function formatOf(path: string): InputFormat {
  return /\.csv$/i.test(path) ? 'csv' : 'ndjson';
}

/**
 * The column types of a sync's mapping: `fields` and typed `customAttributes`, by source column. A column
 * mapped twice with different types stays a string (the planner converts text for each mapping).
 */
export function columnTypes(sync: {
  fields: readonly { source: string; type: string }[];
  customAttributes: readonly (string | { name: string; type?: string | undefined })[];
}): Map<string, FieldType> {
  const types = new Map<string, FieldType>();
  const conflicting = new Set<string>();
  const add = (column: string, type: string | undefined) => {
    if (type === undefined) return;
    const known = types.get(column);
    if (known !== undefined && known !== type) conflicting.add(column);
    types.set(column, type as FieldType);
  };
  for (const f of sync.fields) add(f.source, f.type);
  for (const c of sync.customAttributes) if (typeof c !== 'string') add(c.name, c.type);
  for (const column of conflicting) types.set(column, 'string');
  return types;
}

/** Entries of a file: typed CSV rows, or NDJSON rows and deletions. */
export function readInput(path: string, opts: ReadInputOptions = {}): InputSource {
  const label = opts.label ?? path;
  let line = 0;
  const position = () => `${label} line ${line}`;
  const at = (n: number) => {
    line = n;
  };
  const format = opts.format ?? formatOf(path);
  const entries =
    format === 'csv'
      ? csvRows(path, label, opts.types ?? new Map(), opts.idColumn, at)
      : ndjsonEntries(path, label, at);
  return { entries, position };
}

// --- NDJSON ---

async function* ndjsonEntries(path: string, label: string, at: (n: number) => void): AsyncIterable<Entry> {
  const input = createInterface({ input: createReadStream(path), crlfDelay: Number.POSITIVE_INFINITY });
  let n = 0;
  for await (const raw of input) {
    n++;
    at(n);
    const text = n === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (!text.trim()) continue;
    const entry = parseNdjsonLine(text);
    if (typeof entry === 'string') throw new ProduceInputError(`${label} line ${n}: ${entry}`);
    yield entry;
  }
}

/**
 * One NDJSON line: a row object, or `{"delete": "<id>"}` (an object whose only key is `delete`; the id a
 * non-empty string taken as it is, or an integer). A string is the reason the line is refused.
 */
export function parseNdjsonLine(text: string): Entry | string {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const keys = Object.keys(value);
  if (keys.length !== 1 || keys[0] !== 'delete') return value as Row;
  const id = (value as { delete: unknown }).delete;
  if (typeof id === 'number' && Number.isSafeInteger(id)) return new Deletion(String(id));
  if (typeof id === 'string' && id !== '') return new Deletion(id);
  return `"delete" takes a non-empty string or an integer id, got ${JSON.stringify(id)}`;
}

// --- CSV ---

/** A CSV field as the parser hands it over: null when empty and unquoted. */
interface Cell {
  text: string | null;
  line: number;
}

async function* csvRows(
  path: string,
  label: string,
  types: ColumnTypes,
  idColumn: string | undefined,
  at: (n: number) => void,
): AsyncIterable<Row> {
  const fail = (n: number, why: string) => new ProduceInputError(`${label} line ${n}: ${why}`);
  const parser = parseCsv({
    bom: true,
    skip_empty_lines: true,
    columns: (header: string[]) => {
      header.forEach((name, i) => {
        if (!name) throw fail(1, `column ${i + 1} of the header has no name`);
        if (header.indexOf(name) !== i) throw fail(1, `column "${name}" appears twice in the header`);
      });
      return header;
    },
    // RFC 4180: `""` is an empty string; an empty field without quotes is null.
    cast: (value: string, ctx: CastingContext): string | Cell =>
      ctx.header ? value : { text: value === '' && !ctx.quoting ? null : value, line: ctx.lines },
  });
  const file = createReadStream(path);
  file.on('error', (err) => parser.destroy(err));
  file.pipe(parser);
  let lastLine = 1;
  try {
    for await (const record of parser as AsyncIterable<Record<string, Cell>>) {
      const cells = Object.entries(record);
      const recordLine = cells[0]?.[1].line ?? lastLine;
      at(recordLine);
      const row: Row = {};
      for (const [column, cell] of cells) {
        lastLine = cell.line;
        const type = column === idColumn ? undefined : types.get(column);
        const typed = typeCsvValue(cell.text, type);
        if (typeof typed === 'object' && typed !== null && 'error' in typed) {
          throw fail(cell.line, `column "${column}": ${typed.error}`);
        }
        row[column] = typed;
      }
      yield row;
    }
  } catch (err) {
    if (!(err instanceof CsvError)) throw err;
    throw csvFailure(err, lastLine, fail);
  } finally {
    file.destroy();
  }
}

function csvFailure(err: CsvError, lastLine: number, fail: (n: number, why: string) => Error): Error {
  const lines = (err as CsvError & { lines?: number }).lines ?? lastLine;
  switch (err.code) {
    case 'CSV_RECORD_INCONSISTENT_COLUMNS': {
      const { record, columns } = err as CsvError & { record?: unknown[]; columns?: unknown[] };
      return fail(lines, `${record?.length ?? '?'} fields, the header has ${columns?.length ?? '?'}`);
    }
    case 'CSV_QUOTE_NOT_CLOSED':
      return fail(lastLine + 1, 'a quoted field is not closed before the end of the input');
    default:
      return fail(lines, err.message.replace(/ (at|on) line \d+/, ''));
  }
}

const NUMERIC = /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/;

/**
 * The value of one CSV field for a column of the given type (undefined: untyped, the text stays a
 * string). Null stays null; `{error}` says why the text does not fit the type.
 */
export function typeCsvValue(
  text: string | null,
  type: FieldType | undefined,
): string | number | boolean | string[] | null | { error: string } {
  if (text === null || type === undefined || type === 'string' || type === 'url') return text;
  const got =
    text === ''
      ? '"" (a quoted empty field; leave the field empty, without quotes, for null)'
      : JSON.stringify(text);
  switch (type) {
    case 'integer': {
      const n = NUMERIC.test(text) ? Number(text) : Number.NaN;
      return Number.isSafeInteger(n) ? n : { error: `expected an integer, got ${got}` };
    }
    case 'float': {
      const n = NUMERIC.test(text) ? Number(text) : Number.NaN;
      return Number.isFinite(n) ? n : { error: `expected a number, got ${got}` };
    }
    case 'bool': {
      const lower = text.toLowerCase();
      if (lower === 'true' || lower === 'false') return lower === 'true';
      return { error: `expected true or false, got ${got}` };
    }
    case 'date':
      if (NUMERIC.test(text)) return Number(text);
      if (text !== '' && !Number.isNaN(Date.parse(text))) return text;
      return { error: `expected Unix seconds or an RFC 3339 date (2026-01-31T12:00:00Z), got ${got}` };
    case 'array': {
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch {
        value = undefined;
      }
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value as string[];
      return { error: `expected a JSON array of strings such as ["a","b"], got ${got}` };
    }
  }
}

// --- ids files and stdin ---

/** Ids of a deletes file: one per line, trimmed; blank lines and `#` comments skipped. */
export async function readIdsFile(file: string): Promise<string[]> {
  const ids: string[] = [];
  const input = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of input) {
    const id = text.trim();
    if (id && !id.startsWith('#')) ids.push(id);
  }
  return ids;
}

/**
 * Copies a stream (stdin) to a temporary file, so it can be read twice: once to validate, once to send.
 * `remove` deletes it.
 */
export async function spool(input: Readable): Promise<{ path: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'catalog-sync-produce-'));
  const path = join(dir, 'stdin');
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    await pipeline(input, createWriteStream(path));
  } catch (err) {
    await remove();
    throw err;
  }
  return { path, remove };
}
