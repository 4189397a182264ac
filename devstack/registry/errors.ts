import { CatalogSyncError } from '../../src/errors.js';

/**
 * An error answered the way Confluent Schema Registry answers it: `{error_code, message}` with the HTTP
 * status being the first three digits of the code (40401 -> 404, 409 -> 409).
 */
export class RegistryError extends CatalogSyncError {
  readonly status: number;

  constructor(
    readonly errorCode: number,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(`SCHEMA_REGISTRY_${errorCode}`, message, { retriable: errorCode >= 50000, cause: options.cause });
    this.status = Number(String(errorCode).slice(0, 3));
  }

  toJSON() {
    return { error_code: this.errorCode, message: this.message };
  }
}

export const subjectNotFound = (subject: string) =>
  new RegistryError(40401, `Subject '${subject}' not found.`);
export const versionNotFound = (version: number) => new RegistryError(40402, `Version ${version} not found.`);
export const schemaNotFound = (detail = 'Schema not found') => new RegistryError(40403, detail);
export const invalidSchema = (detail: string) => new RegistryError(42201, `Invalid schema: ${detail}`);
export const storeError = (detail: string, cause?: unknown) =>
  new RegistryError(50001, `Error in the backend data store: ${detail}`, { cause });
