import { COMPATIBILITY_LEVELS, type CompatibilityLevel, canonicalOf } from './avro.js';

/**
 * Registry state as a fold over the `_schemas` log, in Confluent's record format. Every instance applies
 * the same records in the same order, so conflicts between instances writing concurrently are settled by
 * log order: the first record to claim a subject version, or an id, wins; later claims are ignored.
 */

export interface SubjectVersion {
  subject: string;
  version: number;
  id: number;
  schema: string;
  schemaType?: string;
  deleted: boolean;
}

export interface StoredSchema {
  id: number;
  text: string;
  canonical: string;
  schemaType?: string;
}

export type Outcome = { applied: true } | { applied: false; reason: string };

export interface LogRecord {
  key: Record<string, unknown>;
  value: Record<string, unknown> | null;
}

export const noopRecord = (): LogRecord => ({ key: { keytype: 'NOOP', magic: 0 }, value: null });

export function schemaRecord(v: SubjectVersion, tombstone = false): LogRecord {
  const key = { keytype: 'SCHEMA', subject: v.subject, version: v.version, magic: 1 };
  if (tombstone) return { key, value: null };
  const value: Record<string, unknown> = {
    subject: v.subject,
    version: v.version,
    id: v.id,
    schema: v.schema,
  };
  if (v.schemaType !== undefined) value.schemaType = v.schemaType;
  if (v.deleted) value.deleted = true;
  return { key, value };
}

export function configRecord(subject: string | null, level: CompatibilityLevel | null): LogRecord {
  return {
    key: { keytype: 'CONFIG', subject, magic: 0 },
    value: level ? { compatibilityLevel: level } : null,
  };
}

const APPLIED: Outcome = { applied: true };
const ignored = (reason: string): Outcome => ({ applied: false, reason });

export class RegistryState {
  private readonly subjects = new Map<string, Map<number, { id: number; deleted: boolean }>>();
  private readonly schemas = new Map<number, StoredSchema & { refs: number }>();
  private readonly idsByCanonical = new Map<string, number>();
  private readonly configs = new Map<string | null, CompatibilityLevel>();

  apply(rawKey: Buffer | null, rawValue: Buffer | null): Outcome {
    const key = parseJson(rawKey);
    if (!key) return ignored('key is not a JSON object');
    const value = rawValue === null ? null : parseJson(rawValue);
    if (value === undefined) return ignored('value is not a JSON object');
    switch (key.keytype) {
      case 'SCHEMA':
        return this.applySchema(key, value);
      case 'CONFIG':
        return this.applyConfig(key, value);
      default:
        // NOOP marks read positions; Confluent's other key types (MODE, DELETE_SUBJECT, ...) carry nothing we use.
        return ignored(`key type ${String(key.keytype)} carries no state here`);
    }
  }

  subjectNames(includeDeleted: boolean): string[] {
    return [...this.subjects.keys()].filter((s) => this.versions(s, includeDeleted).length > 0).sort();
  }

  versions(subject: string, includeDeleted: boolean): SubjectVersion[] {
    const versions = this.subjects.get(subject);
    if (!versions) return [];
    return [...versions.keys()]
      .sort((a, b) => a - b)
      .map((v) => this.version(subject, v)!)
      .filter((v) => includeDeleted || !v.deleted);
  }

  version(subject: string, version: number): SubjectVersion | undefined {
    const entry = this.subjects.get(subject)?.get(version);
    if (!entry) return undefined;
    const schema = this.schemas.get(entry.id)!;
    const found: SubjectVersion = {
      subject,
      version,
      id: entry.id,
      schema: schema.text,
      deleted: entry.deleted,
    };
    if (schema.schemaType !== undefined) found.schemaType = schema.schemaType;
    return found;
  }

  schema(id: number): StoredSchema | undefined {
    const found = this.schemas.get(id);
    if (!found) return undefined;
    const { refs: _refs, ...schema } = found;
    return schema;
  }

  idOf(canonical: string): number | undefined {
    return this.idsByCanonical.get(canonical);
  }

  usages(id: number, includeDeleted: boolean): SubjectVersion[] {
    return [...this.subjects.keys()]
      .sort()
      .flatMap((s) => this.versions(s, includeDeleted).filter((v) => v.id === id));
  }

  /** Versions keep counting past soft-deleted ones, as Confluent's do. */
  nextVersion(subject: string): number {
    return Math.max(0, ...(this.subjects.get(subject)?.keys() ?? [])) + 1;
  }

  nextId(): number {
    return Math.max(0, ...this.schemas.keys()) + 1;
  }

  /** `subject` null is the global level. */
  config(subject: string | null): CompatibilityLevel | undefined {
    return this.configs.get(subject);
  }

  private applySchema(key: Record<string, unknown>, value: Record<string, unknown> | null): Outcome {
    const { subject, version } = key;
    if (typeof subject !== 'string' || !isPositiveInt(version)) return ignored('malformed SCHEMA key');
    const versions = this.subjects.get(subject);
    const existing = versions?.get(version);
    if (value === null) {
      if (!existing) return ignored(`${subject} v${version} is not registered`);
      versions!.delete(version);
      if (versions!.size === 0) this.subjects.delete(subject);
      this.release(existing.id);
      return APPLIED;
    }
    const { id, schema, schemaType, deleted } = value;
    if (value.subject !== subject || value.version !== version)
      return ignored('SCHEMA value does not match its key');
    if (!isPositiveInt(id) || typeof schema !== 'string') return ignored('malformed SCHEMA value');
    if (schemaType !== undefined && typeof schemaType !== 'string') return ignored('malformed schemaType');
    const canonical = canonicalOf(schema);
    if (existing) {
      // Two writers that read the same state claim the same version with the same next id: the schema decides.
      if (existing.id !== id || this.schemas.get(id)!.canonical !== canonical) {
        return ignored(`${subject} v${version} is already taken`);
      }
      // Same key, same schema: a (soft) delete or a re-assertion. The last record wins, as compaction would keep it.
      existing.deleted = deleted === true;
      return APPLIED;
    }
    const holder = this.schemas.get(id);
    if (holder && holder.canonical !== canonical) return ignored(`id ${id} already names another schema`);
    const knownId = this.idsByCanonical.get(canonical);
    if (knownId !== undefined && knownId !== id) return ignored(`this schema already has id ${knownId}`);
    if (holder) holder.refs += 1;
    else {
      const stored = {
        id,
        text: schema,
        canonical,
        refs: 1,
        ...(schemaType === undefined ? {} : { schemaType }),
      };
      this.schemas.set(id, stored);
      this.idsByCanonical.set(canonical, id);
    }
    const map = versions ?? new Map();
    map.set(version, { id, deleted: deleted === true });
    this.subjects.set(subject, map);
    return APPLIED;
  }

  private release(id: number): void {
    const schema = this.schemas.get(id)!;
    schema.refs -= 1;
    if (schema.refs > 0) return;
    // Hard-deleted everywhere: the id is forgotten, as a restart after compaction would forget it.
    this.schemas.delete(id);
    this.idsByCanonical.delete(schema.canonical);
  }

  private applyConfig(key: Record<string, unknown>, value: Record<string, unknown> | null): Outcome {
    const subject = key.subject ?? null;
    if (subject !== null && typeof subject !== 'string') return ignored('malformed CONFIG key');
    if (value === null) {
      this.configs.delete(subject);
      return APPLIED;
    }
    const level = value.compatibilityLevel;
    if (!COMPATIBILITY_LEVELS.includes(level as CompatibilityLevel))
      return ignored('unknown compatibility level');
    this.configs.set(subject, level as CompatibilityLevel);
    return APPLIED;
  }
}

function parseJson(buf: Buffer | null): Record<string, unknown> | undefined {
  if (buf === null) return undefined;
  try {
    const json: unknown = JSON.parse(buf.toString('utf8'));
    return json !== null && typeof json === 'object' && !Array.isArray(json)
      ? (json as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

function isPositiveInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}
