import avro from 'avsc';
import { describe } from '../../src/errors.js';
import { invalidSchema, RegistryError } from './errors.js';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

export function parseLevel(value: unknown): CompatibilityLevel {
  const level = typeof value === 'string' ? value.toUpperCase() : undefined;
  if (!COMPATIBILITY_LEVELS.includes(level as CompatibilityLevel)) {
    throw new RegistryError(
      42203,
      `Invalid compatibility level. Valid values are ${COMPATIBILITY_LEVELS.join(', ').toLowerCase()}`,
    );
  }
  return level as CompatibilityLevel;
}

export interface AvroSchema {
  /** As registered, minus insignificant whitespace: kept verbatim so custom and logicalType attributes survive. */
  text: string;
  /** Equal for schemas that differ only in whitespace, key order or `{"type":"int"}` vs `"int"`. */
  canonical: string;
  type: avro.Type;
}

/** Parses a schema from a request or the store; anything but Avro is refused (42201, as Confluent does). */
export function parseAvro(schema: unknown, schemaType?: unknown): AvroSchema {
  if (schemaType !== undefined && schemaType !== null && schemaType !== 'AVRO') {
    throw invalidSchema(
      `schemaType ${JSON.stringify(schemaType)} is not supported, this registry knows AVRO only`,
    );
  }
  if (typeof schema !== 'string' || schema.trim() === '')
    throw invalidSchema('the schema must be a non-empty string');
  let json: unknown;
  try {
    json = JSON.parse(schema);
  } catch (err) {
    throw invalidSchema(`not JSON: ${describe(err)}`);
  }
  try {
    // A fresh registry per parse: named types must not leak from one schema into another.
    const type = avro.Type.forSchema(json as avro.Schema, { registry: {} });
    return { text: JSON.stringify(json), canonical: canonicalJson(json), type };
  } catch (err) {
    throw invalidSchema(describe(err));
  }
}

/** The canonical form of a stored schema text without the cost of building its avsc type. */
export function canonicalOf(text: string): string {
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return text;
  }
}

function canonicalJson(json: unknown): string {
  return JSON.stringify(normalize(json, false));
}

function normalize(value: unknown, isData: boolean): unknown {
  if (Array.isArray(value)) return value.map((v) => normalize(v, isData));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  if (!isData && keys.length === 1 && keys[0] === 'type' && typeof record.type === 'string')
    return record.type;
  // Defaults are data: a default that looks like {"type": "x"} must not be rewritten as a schema would be.
  return Object.fromEntries(keys.map((k) => [k, normalize(record[k], isData || k === 'default')]));
}

export interface PriorVersion {
  version: number;
  type: avro.Type;
}

/**
 * Why `candidate` may not follow `prior` (oldest first) under `level`; empty when it may.
 * avsc's resolver implements Avro schema resolution, so `reader.createResolver(writer)` throwing is
 * exactly "reader cannot read data written with writer".
 */
export function compatibilityProblems(
  level: CompatibilityLevel,
  candidate: avro.Type,
  prior: PriorVersion[],
): string[] {
  if (level === 'NONE' || prior.length === 0) return [];
  const against = level.endsWith('_TRANSITIVE') ? prior : prior.slice(-1);
  const backward = level.startsWith('BACKWARD') || level.startsWith('FULL');
  const forward = level.startsWith('FORWARD') || level.startsWith('FULL');
  const problems: string[] = [];
  for (const { version, type } of against) {
    const readsOld = backward ? unreadable(candidate, type) : undefined;
    if (readsOld)
      problems.push(`the new schema cannot read data written with version ${version}: ${readsOld}`);
    const oldReads = forward ? unreadable(type, candidate) : undefined;
    if (oldReads)
      problems.push(`version ${version} cannot read data written with the new schema: ${oldReads}`);
  }
  return problems;
}

function unreadable(reader: avro.Type, writer: avro.Type): string | undefined {
  try {
    reader.createResolver(writer);
    return undefined;
  } catch (err) {
    return describe(err);
  }
}
