import type { AttributeType } from '../plugin.js';
import type { ItemChange, ItemOutcome } from '../port.js';

export type { ItemChange, ItemOutcome };

/** Attribute types of a Batch catalog field. */
export type FieldType = AttributeType;

/**
 * The field type of an undeclared attribute, from a value. Numbers infer as float, never integer: every
 * instance must pick the same field type for a column.
 */
export function inferType(value: unknown): FieldType {
  if (typeof value === 'boolean') return 'bool';
  if (typeof value === 'number') return 'float';
  if (Array.isArray(value)) return 'array';
  return 'string';
}

/** One catalog field: the Batch attribute name and its type. */
export interface FieldSpec {
  name: string;
  type: FieldType;
}

/** A Batch project. Both keys are secrets: they travel in request headers only. */
export interface BatchProject {
  projectKey: string;
  restApiKey: string;
  /** e.g. `https://api.batch.com/2.11`; no trailing slash needed. */
  baseUrl: string;
}

export interface CatalogTarget {
  project: BatchProject;
  catalog: string;
  fields: FieldSpec[];
}

/** What the destination did, for the status topic. Never carries a key. */
export type BatchEvent =
  | { type: 'request_accepted'; catalog: string; itemIds: string[]; indexingToken: string; attempt: number }
  | {
      type: 'request_retried';
      catalog: string;
      itemIds: string[];
      attempt: number;
      status?: number;
      code: string;
      delayMs: number;
    }
  | { type: 'request_rejected'; catalog: string; itemIds: string[]; code: string; message: string }
  | { type: 'item_rejected'; catalog: string; id: string; code: string; reason: string }
  | { type: 'indexing_applied'; catalog: string; indexingToken: string; itemIds: string[] };

/** An item as `catalogs/items/edit` takes it. */
export interface EncodedItem {
  id: string;
  action: 'add' | 'remove';
  attributes?: Record<string, unknown>;
}
