import type avro from 'avsc';
import type { Logger } from '../../src/logger.js';
import {
  type AvroSchema,
  type CompatibilityLevel,
  canonicalOf,
  compatibilityProblems,
  type PriorVersion,
  parseAvro,
  parseLevel,
} from './avro.js';
import {
  invalidSchema,
  RegistryError,
  schemaNotFound,
  storeError,
  subjectNotFound,
  versionNotFound,
} from './errors.js';
import {
  configRecord,
  type Outcome,
  type RegistryState,
  type SubjectVersion,
  schemaRecord,
} from './state.js';
import type { LogStore } from './store.js';

const DEFAULT_LEVEL: CompatibilityLevel = 'BACKWARD';
// Each lost race means another instance's write landed first; this many in a row means something is wrong.
const MAX_WRITE_ATTEMPTS = 20;

export type SchemaView = Omit<SubjectVersion, 'deleted'>;

/** Confluent Schema Registry semantics over the replicated state; writes go through the log and back. */
export class Registry {
  private writes: Promise<unknown> = Promise.resolve();
  private readonly types = new Map<string, avro.Type>();

  constructor(
    private readonly state: RegistryState,
    private readonly store: LogStore<Outcome>,
    private readonly logger: Logger,
  ) {}

  sync(): Promise<void> {
    return this.store.sync();
  }

  subjects(deleted: boolean): string[] {
    return this.state.subjectNames(deleted);
  }

  versions(subject: string, deleted: boolean): number[] {
    const versions = this.state.versions(subject, deleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    return versions.map((v) => v.version);
  }

  version(subject: string, version: string, deleted: boolean): SchemaView {
    return view(this.find(subject, version, deleted));
  }

  /** Is this schema registered under the subject? (POST /subjects/{subject}) */
  lookup(subject: string, body: unknown, deleted: boolean): SchemaView {
    const schema = parseBody(body);
    const versions = this.state.versions(subject, deleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    const found = versions.findLast((v) => canonicalOf(v.schema) === schema.canonical);
    if (!found) throw schemaNotFound();
    return view(found);
  }

  schema(id: number): { schema: string; schemaType?: string } {
    const found = this.state.schema(id);
    if (!found) throw schemaNotFound(`Schema ${id} not found`);
    return found.schemaType === undefined
      ? { schema: found.text }
      : { schema: found.text, schemaType: found.schemaType };
  }

  usages(id: number, deleted: boolean): { subject: string; version: number }[] {
    if (!this.state.schema(id)) throw schemaNotFound(`Schema ${id} not found`);
    return this.state.usages(id, deleted).map(({ subject, version }) => ({ subject, version }));
  }

  /** `version` undefined checks against every version the subject's level requires, as register does. */
  compatibility(subject: string, version: string | undefined, body: unknown): string[] {
    const candidate = parseBody(body);
    const level = this.level(subject);
    if (version === undefined) return compatibilityProblems(level, candidate.type, this.prior(subject));
    const requested = parseVersion(version);
    if (requested === 'latest' && this.state.versions(subject, false).length === 0) return [];
    const against = this.find(subject, version, false);
    return compatibilityProblems(level, candidate.type, [
      { version: against.version, type: this.typeOf(against) },
    ]);
  }

  config(subject: string | null, defaultToGlobal = false): CompatibilityLevel {
    const level = this.state.config(subject);
    if (level) return level;
    if (subject !== null && !defaultToGlobal) {
      throw new RegistryError(
        40408,
        `Subject '${subject}' does not have subject-level compatibility configured`,
      );
    }
    return this.state.config(null) ?? DEFAULT_LEVEL;
  }

  register(subject: string, body: unknown): Promise<{ id: number }> {
    const schema = parseBody(body);
    return this.exclusive(async () => {
      for (let attempt = 1; attempt <= MAX_WRITE_ATTEMPTS; attempt++) {
        const existing = this.state
          .versions(subject, false)
          .find((v) => canonicalOf(v.schema) === schema.canonical);
        if (existing) return { id: existing.id };
        const problems = compatibilityProblems(this.level(subject), schema.type, this.prior(subject));
        if (problems.length > 0) {
          throw new RegistryError(
            409,
            `Schema being registered is incompatible with an earlier schema for subject '${subject}': ${problems.join('; ')}`,
          );
        }
        const id = this.state.idOf(schema.canonical) ?? this.state.nextId();
        const version = this.state.nextVersion(subject);
        const outcome = await this.store.append(
          schemaRecord({ subject, version, id, schema: schema.text, deleted: false }),
        );
        if (outcome.applied) {
          this.logger.info({ subject, version, id }, 'schema registered');
          return { id };
        }
        this.logger.info(
          { subject, version, id, reason: outcome.reason, attempt },
          'lost a registration race, retrying',
        );
        // Compaction keeps the last record per key: put the winner back on top of our losing record.
        const winner = this.state.version(subject, version);
        if (winner) await this.store.append(schemaRecord(winner));
      }
      throw storeError(
        `gave up registering under '${subject}' after ${MAX_WRITE_ATTEMPTS} conflicting writes`,
      );
    });
  }

  setConfig(subject: string | null, body: unknown): Promise<{ compatibility: CompatibilityLevel }> {
    const level = parseLevel(isObject(body) ? body.compatibility : undefined);
    return this.exclusive(async () => {
      await this.store.append(configRecord(subject, level));
      return { compatibility: level };
    });
  }

  deleteConfig(subject: string | null): Promise<{ compatibilityLevel: CompatibilityLevel }> {
    return this.exclusive(async () => {
      const previous = this.config(subject);
      await this.store.append(configRecord(subject, null));
      return { compatibilityLevel: previous };
    });
  }

  deleteSubject(subject: string, permanent: boolean): Promise<number[]> {
    return this.exclusive(async () => {
      const all = this.state.versions(subject, true);
      if (all.length === 0) throw subjectNotFound(subject);
      const live = all.filter((v) => !v.deleted);
      if (!permanent && live.length === 0) {
        throw new RegistryError(
          40404,
          `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`,
        );
      }
      if (permanent && live.length > 0) {
        throw new RegistryError(
          40405,
          `Subject '${subject}' was not deleted first before being permanently deleted`,
        );
      }
      for (const v of permanent ? all : live)
        await this.store.append(schemaRecord({ ...v, deleted: true }, permanent));
      if (permanent && this.state.config(subject)) await this.store.append(configRecord(subject, null));
      return (permanent ? all : live).map((v) => v.version);
    });
  }

  deleteVersion(subject: string, version: string, permanent: boolean): Promise<number> {
    return this.exclusive(async () => {
      const target = this.find(subject, version, permanent);
      if (!permanent && target.deleted) {
        throw new RegistryError(
          40406,
          `Subject '${subject}' Version ${target.version} was soft deleted. Set permanent=true to delete permanently`,
        );
      }
      if (permanent && !target.deleted) {
        throw new RegistryError(
          40407,
          `Subject '${subject}' Version ${target.version} was not deleted first before being permanently deleted`,
        );
      }
      await this.store.append(schemaRecord({ ...target, deleted: true }, permanent));
      return target.version;
    });
  }

  private find(subject: string, version: string, deleted: boolean): SubjectVersion {
    const requested = parseVersion(version);
    const versions = this.state.versions(subject, deleted);
    if (versions.length === 0) throw subjectNotFound(subject);
    if (requested === 'latest') return versions.at(-1)!;
    const found = versions.find((v) => v.version === requested);
    if (!found) throw versionNotFound(requested);
    return found;
  }

  private level(subject: string): CompatibilityLevel {
    return this.config(subject, true);
  }

  private prior(subject: string): PriorVersion[] {
    return this.state.versions(subject, false).map((v) => ({ version: v.version, type: this.typeOf(v) }));
  }

  private typeOf(v: SubjectVersion): avro.Type {
    const canonical = canonicalOf(v.schema);
    let type = this.types.get(canonical);
    if (!type) {
      try {
        type = parseAvro(v.schema, v.schemaType).type;
      } catch (err) {
        throw storeError(`${v.subject} version ${v.version} holds a schema this registry cannot parse`, err);
      }
      this.types.set(canonical, type);
    }
    return type;
  }

  /** One write at a time per instance; other instances are reconciled through the log. */
  private exclusive<R>(write: () => Promise<R>): Promise<R> {
    const result = this.writes.then(write);
    this.writes = result.catch(() => undefined);
    return result;
  }
}

function view({ deleted: _deleted, ...v }: SubjectVersion): SchemaView {
  return v;
}

function parseBody(body: unknown): AvroSchema {
  if (!isObject(body)) throw invalidSchema('the request body must be a JSON object with a "schema" field');
  if (Array.isArray(body.references) && body.references.length > 0) {
    throw invalidSchema('schema references are not supported by the development registry');
  }
  return parseAvro(body.schema, body.schemaType);
}

function parseVersion(version: string): number | 'latest' {
  if (version === 'latest' || version === '-1') return 'latest';
  const n = Number(version);
  if (/^\d+$/.test(version) && n >= 1 && n <= 2 ** 31 - 1) return n;
  throw new RegistryError(
    42202,
    `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
