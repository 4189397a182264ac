/** Attribute types of a Batch catalog field. */
export type FieldType = 'string' | 'integer' | 'float' | 'bool' | 'date' | 'url' | 'array';

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

/**
 * One item change. `values` is keyed by attribute name and holds raw typed values
 * (Date | number | string | boolean | string[] | null); null removes the attribute, a missing key leaves
 * it alone. Encoding adds the `date()` / `url()` key wrappers from the field's type.
 */
export interface ItemChange {
  id: string;
  action: 'add' | 'remove';
  values?: Record<string, unknown>;
}

/**
 * What became of one change, in the order of the changes sent.
 * - accepted: Batch answered 202 for the request holding it.
 * - rejected: permanent, the item itself is at fault (local validation, or a 400 isolated by bisection).
 * - failed: not applied for a reason that is not the item's: retries ran out on a retriable error, or a
 *   permanent project-level error (auth, catalog limits). Never silently dropped.
 */
export type ItemOutcome =
  | { id: string; status: 'accepted'; indexingToken: string }
  | { id: string; status: 'rejected'; code: string; reason: string }
  | { id: string; status: 'failed'; code: string; reason: string }
  /** Left out right before sending: its partition moved to another owner, which replays it (see SendGate). */
  | { id: string; status: 'abandoned' };

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
