import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { type AttributeChanges, AttributeError, checkAttributes, type FieldType } from './attributes.js';
import { BatchApiError } from './errors.js';
import type { CreateRequest, EditRequest, UpdateRequest } from './requests.js';

export interface StoreLimits {
  maxCatalogs: number;
  maxFields: number;
  maxItems: number;
  indexingDelayMs: number;
}

export type IndexingState = 'IN_PROGRESS' | 'APPLIED';
type Attributes = Record<string, unknown>;

// Bounds memory on long runs: a token older than this many edits of its catalog reads as unknown.
const MAX_TOKENS_PER_CATALOG = 100_000;

export class Catalog {
  readonly fields = new Map<string, FieldType>();
  readonly items = new Map<string, Attributes>();
  readonly created = new Date().toISOString();
  updated = this.created;
  private sizeBytes = 0;
  private readonly tokens = new Map<string, number>();

  constructor(readonly name: string) {}

  describe() {
    return {
      name: this.name,
      fields: [...this.fields].map(([name, type]) => ({ name, type })),
      items: this.items.size,
      size: this.sizeBytes,
      created: this.created,
      updated: this.updated,
    };
  }

  indexingState(token: string, delayMs: number): IndexingState | undefined {
    const acceptedAt = this.tokens.get(token);
    if (acceptedAt === undefined) return undefined;
    return performance.now() - acceptedAt < delayMs ? 'IN_PROGRESS' : 'APPLIED';
  }

  issueToken(): string {
    const token = randomBytes(48).toString('base64url');
    this.tokens.set(token, performance.now());
    if (this.tokens.size > MAX_TOKENS_PER_CATALOG) this.tokens.delete(this.tokens.keys().next().value!);
    return token;
  }

  /** Stands for the catalog's stored size: bytes of each item's id and attributes as JSON. */
  setItem(id: string, attributes: Attributes | undefined): void {
    const before = this.items.get(id);
    if (before) this.sizeBytes -= itemBytes(id, before);
    if (attributes) {
      this.items.set(id, attributes);
      this.sizeBytes += itemBytes(id, attributes);
    } else {
      this.items.delete(id);
    }
  }

  touch(): void {
    this.updated = new Date().toISOString();
  }
}

function itemBytes(id: string, attributes: Attributes): number {
  return Buffer.byteLength(id) + jsonBytes(attributes);
}

/**
 * Buffer.byteLength(JSON.stringify(attributes)) without building the JSON, which was the largest cost
 * of an edit. Exact: the values checkAttributes lets through are counted here, anything else (and any
 * string JSON escapes or that is not ASCII) goes through JSON.stringify.
 */
function jsonBytes(attributes: Attributes): number {
  let bytes = 2;
  let members = 0;
  for (const key in attributes) {
    const value = valueBytes(attributes[key]);
    if (value < 0) continue;
    bytes += (members++ > 0 ? 1 : 0) + stringBytes(key) + 1 + value;
  }
  return bytes;
}

/** -1 for what JSON.stringify leaves out of an object. */
function valueBytes(value: unknown): number {
  switch (typeof value) {
    case 'string':
      return stringBytes(value);
    case 'boolean':
      return value ? 4 : 5;
    case 'number':
      return Number.isFinite(value) ? String(value).length : 4;
    case 'undefined':
    case 'function':
    case 'symbol':
      return -1;
  }
  if (Array.isArray(value)) return arrayBytes(value);
  return Buffer.byteLength(JSON.stringify(value));
}

function arrayBytes(value: unknown[]): number {
  // Brackets and commas.
  let bytes = value.length === 0 ? 2 : value.length + 1;
  for (const element of value) {
    if (typeof element !== 'string') return Buffer.byteLength(JSON.stringify(value));
    bytes += stringBytes(element);
  }
  return bytes;
}

function stringBytes(s: string): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return Buffer.byteLength(JSON.stringify(s));
  }
  return s.length + 2;
}

/** One project's catalogs. Every mutation validates the whole request before applying any of it. */
export class ProjectCatalogs {
  private readonly catalogs = new Map<string, Catalog>();

  constructor(private readonly limits: StoreLimits) {}

  find(name: string): Catalog | undefined {
    return this.catalogs.get(name);
  }

  get(name: string): Catalog {
    const catalog = this.catalogs.get(name);
    if (!catalog) {
      throw new BatchApiError(
        'CATALOG_NOT_FOUND',
        `catalog "${name}" does not exist; create it with POST /catalogs/create`,
      );
    }
    return catalog;
  }

  create(req: CreateRequest): void {
    if (this.catalogs.has(req.name)) {
      throw new BatchApiError('CATALOG_ALREADY_EXISTS', `catalog "${req.name}" already exists`);
    }
    if (this.catalogs.size >= this.limits.maxCatalogs) {
      throw new BatchApiError(
        'LIMIT_EXCEEDED',
        `a project holds at most ${this.limits.maxCatalogs} catalogs`,
      );
    }
    this.checkFieldCount(req.fields.length);
    const catalog = new Catalog(req.name);
    for (const f of req.fields) catalog.fields.set(f.name, f.type);
    this.catalogs.set(req.name, catalog);
  }

  update(req: UpdateRequest): void {
    const catalog = this.get(req.name);
    let count = catalog.fields.size;
    for (const f of req.fields) {
      const existing = catalog.fields.get(f.name);
      if (f.action === 'add') {
        if (existing !== undefined) {
          throw new BatchApiError('INVALID_PARAMETER', `field "${f.name}" already exists (type ${existing})`);
        }
        count++;
      } else {
        if (existing === undefined)
          throw new BatchApiError('INVALID_PARAMETER', `field "${f.name}" does not exist`);
        if (existing !== f.type) {
          throw new BatchApiError('INVALID_PARAMETER', `field "${f.name}" is ${existing}, not ${f.type}`);
        }
        count--;
      }
    }
    this.checkFieldCount(count);
    const removed = new Set<string>();
    for (const f of req.fields) {
      if (f.action === 'add') catalog.fields.set(f.name, f.type);
      else {
        catalog.fields.delete(f.name);
        removed.add(f.name);
      }
    }
    if (removed.size > 0) dropAttributes(catalog, removed);
    catalog.touch();
  }

  list(limit: number, from: string | undefined) {
    const names = [...this.catalogs.keys()].sort();
    const page = names.filter((n) => from === undefined || n > from).slice(0, limit);
    const last = page.at(-1);
    const hasMore = last !== undefined && names.some((n) => n > last);
    return {
      catalogs: page.map((n) => this.catalogs.get(n)!.describe()),
      count: names.length,
      has_more: hasMore,
      next_from: hasMore ? encodeCursor(last) : null,
    };
  }

  /** Applies every item of the request, or none of them; returns the indexing token. */
  edit(req: EditRequest): string {
    const catalog = this.get(req.name);
    const changes: (AttributeChanges | undefined)[] = req.items.map((item, i) => {
      if (item.action === 'remove' || item.attributes === undefined) return undefined;
      try {
        return checkAttributes(item.attributes, catalog.fields);
      } catch (err) {
        if (!(err instanceof AttributeError)) throw err;
        throw new BatchApiError('INVALID_ITEM', `items[${i}] (id "${item.id}"): ${err.message}`);
      }
    });
    let count = catalog.items.size;
    for (const item of req.items) {
      const exists = catalog.items.has(item.id);
      if (item.action === 'add' && !exists) count++;
      if (item.action === 'remove' && exists) count--;
    }
    if (count > this.limits.maxItems) {
      throw new BatchApiError(
        'LIMIT_EXCEEDED',
        `a catalog holds at most ${this.limits.maxItems} items; this request would bring "${req.name}" to ${count}`,
      );
    }
    for (const [i, item] of req.items.entries()) {
      if (item.action === 'remove') catalog.setItem(item.id, undefined);
      else catalog.setItem(item.id, merge(catalog.items.get(item.id), changes[i]));
    }
    catalog.touch();
    return catalog.issueToken();
  }

  private checkFieldCount(count: number): void {
    if (count > this.limits.maxFields) {
      throw new BatchApiError(
        'LIMIT_EXCEEDED',
        `a catalog holds at most ${this.limits.maxFields} fields, got ${count}`,
      );
    }
  }
}

function merge(current: Attributes | undefined, changes: AttributeChanges | undefined): Attributes {
  // A null prototype keeps a field named __proto__ an ordinary attribute. Set on a literal rather than
  // made by Object.create(null), the object keeps V8's fast properties: merging and sizing it cost half.
  const next: Attributes = Object.assign(Object.setPrototypeOf({}, null), current);
  for (const [field, value] of changes ?? []) {
    if (value === null) delete next[field];
    else next[field] = value;
  }
  return next;
}

function dropAttributes(catalog: Catalog, fields: Set<string>): void {
  for (const [id, attributes] of catalog.items) {
    if (!Object.keys(attributes).some((k) => fields.has(k))) continue;
    const kept: Attributes = Object.create(null);
    for (const [k, v] of Object.entries(attributes)) if (!fields.has(k)) kept[k] = v;
    catalog.setItem(id, kept);
  }
}

/** Cursors are opaque to clients, so they cannot be built by hand from catalog names. */
export function encodeCursor(name: string): string {
  return Buffer.from(name).toString('base64url');
}

export function decodeCursor(cursor: string): string | undefined {
  const name = Buffer.from(cursor, 'base64url').toString();
  return name !== '' && encodeCursor(name) === cursor ? name : undefined;
}
