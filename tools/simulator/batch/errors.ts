import type { ServerResponse } from 'node:http';
import { CatalogSyncError } from '../../../src/errors.js';
import { type BodyError, sendJson } from '../http.js';

/**
 * The simulator's `error_code` table. Batch's public reference documents the error body shape
 * (`{error_code, error_message}`) but we found no published table of its numbers, so these are ours:
 * clients must branch on the HTTP status, and treat `error_code` as a detail for logs.
 */
export const BatchErrorCodes = {
  INTERNAL: { status: 500, code: 1 },
  UNAVAILABLE: { status: 503, code: 2 },
  AUTHENTICATION_MISSING: { status: 401, code: 10 },
  AUTHENTICATION_INVALID: { status: 401, code: 11 },
  ROUTE_NOT_FOUND: { status: 404, code: 20 },
  METHOD_NOT_ALLOWED: { status: 405, code: 21 },
  MALFORMED_BODY: { status: 400, code: 30 },
  MISSING_PARAMETER: { status: 400, code: 31 },
  INVALID_PARAMETER: { status: 400, code: 32 },
  BODY_TOO_LARGE: { status: 413, code: 33 },
  CATALOG_NOT_FOUND: { status: 404, code: 40 },
  /** create with the name of an existing catalog; a create retried after a lost reply lands here. */
  CATALOG_ALREADY_EXISTS: { status: 409, code: 41 },
  LIMIT_EXCEEDED: { status: 400, code: 42 },
  INVALID_ITEM: { status: 400, code: 43 },
  UNKNOWN_INDEXING_TOKEN: { status: 400, code: 44 },
  TOO_MANY_REQUESTS: { status: 429, code: 60 },
} as const;

export type BatchErrorKind = keyof typeof BatchErrorCodes;

export class BatchApiError extends CatalogSyncError {
  readonly status: number;
  readonly errorCode: number;

  constructor(
    readonly kind: BatchErrorKind,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    const { status, code } = BatchErrorCodes[kind];
    super(`BATCH_SIM_${kind}`, message, { retriable: status === 429 || status >= 500 });
    this.status = status;
    this.errorCode = code;
  }
}

export function fromBodyError(err: BodyError): BatchApiError {
  return new BatchApiError(err.problem === 'too_large' ? 'BODY_TOO_LARGE' : 'MALFORMED_BODY', err.message);
}

export function sendBatchError(res: ServerResponse, err: BatchApiError): void {
  sendJson(res, err.status, { error_code: err.errorCode, error_message: err.message }, err.headers);
}
