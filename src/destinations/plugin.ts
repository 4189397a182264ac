/**
 * What a destination brings to catalog-sync: its configuration (a top-level section named after it and
 * the `destination` block of a sync), the checks run when the configuration loads, and a factory for
 * the port the pipeline sends through. `registry.ts` lists the plugins; nothing above this stage
 * names one.
 */
import type { z } from 'zod';
import type { Logger } from '../logger.js';
import type { RateLimits } from '../ratelimit/index.js';
import type { Redis } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { SecretReader } from '../secret.js';
import type { SyncDestination } from './port.js';
import type { DestinationEvent } from './status.js';

/** The types a sync's mapped attributes may declare (Batch's field types; Yotpo takes a subset). */
export type AttributeType = 'string' | 'integer' | 'float' | 'bool' | 'date' | 'url' | 'array';

/** A sync as its load-time checks see it (the parsed `syncs[]` entry). */
export interface SyncShape<Target> {
  operation: string;
  destination: Target;
  fields: { attribute: string; type: string }[];
  customAttributes: (string | { name: string; type?: string | undefined })[];
}

/** What a destination needs of its sync to build the port. */
export interface SyncView<Target> {
  id: string;
  target: Target;
  /** Every mapped attribute in configuration order, with its declared type when there is one. */
  attributes: { attribute: string; type?: AttributeType | undefined }[];
  /** The attributes exported under their source column's own name. */
  custom: string[];
}

/** The shared parts a destination is built on, and where it reports. */
export interface DestinationContext {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  /** Every event of the destination's requests (status topic, metrics); called synchronously. */
  onEvent(event: DestinationEvent): void;
  /** The token wait of each request, ms. */
  onTokenWait(ms: number): void;
}

/** Reports a problem at a path relative to the sync being checked. */
export type IssueReporter = (path: (string | number)[], message: string) => void;

/**
 * One destination. `Section` is the parsed top-level section (e.g. `batch:` with its projects),
 * `Resolved` the same with its secrets read, `Target` a sync's `destination` block.
 */
export interface DestinationPlugin<
  Type extends string = string,
  SectionSchema extends z.ZodType = z.ZodType,
  TargetSchema extends z.ZodType<{ type: Type }> = z.ZodType<{ type: Type }>,
  Resolved = unknown,
> {
  /** The `destination.type` of its syncs, and the name of its top-level section. */
  readonly type: Type;
  readonly section: SectionSchema;
  readonly target: TargetSchema;
  /** Environment variables overriding fields of its section: name → path inside the section. */
  readonly env: Record<string, string[]>;
  /**
   * The destination's own rules for a sync (what its API refuses), and that the target names an entry
   * of the section (`section` is undefined when the file has none).
   */
  check(
    sync: SyncShape<z.output<TargetSchema>>,
    section: z.output<SectionSchema> | undefined,
    issue: IssueReporter,
  ): void;
  /** Reads the section's secret references. */
  resolve(section: z.output<SectionSchema>, secret: SecretReader): Resolved;
  /** For status events, metrics and logs: never a key. */
  label(target: z.output<TargetSchema>): string;
  /** The API base URL, for the request-duration metric. */
  baseUrl(section: Resolved): string;
  create(
    context: DestinationContext,
    section: Resolved,
    sync: SyncView<z.output<TargetSchema>>,
  ): SyncDestination;
  /**
   * The rate-limit account of a target (a hash of the secret naming the account) and the limits the
   * service runs its shared bucket at; `name` reads that one secret only when called.
   */
  account(section: Resolved, target: z.output<TargetSchema>): { name(): string; limits: RateLimits };
}
