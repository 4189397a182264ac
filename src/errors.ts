/**
 * Every error catalog-sync raises on purpose. `code` is stable (logs, status events, metrics key on it);
 * `retriable` says whether the same operation may succeed if tried again, so callers never string-match.
 */
export class CatalogSyncError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** The configuration (file or environment) breaks a rule; `path` names the field. */
export class ConfigError extends CatalogSyncError {
  constructor(
    message: string,
    readonly path = '',
  ) {
    super('CONFIG_INVALID', message);
  }
}

/** A retried operation gave up; the last failure is the cause. */
export class RetriesExhaustedError extends CatalogSyncError {
  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    super('RETRIES_EXHAUSTED', `gave up after ${attempts} attempts: ${describe(cause)}`, { cause });
  }
}

export function isRetriable(err: unknown): boolean {
  return err instanceof CatalogSyncError && err.retriable;
}

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
