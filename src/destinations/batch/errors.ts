import { CatalogSyncError } from '../../errors.js';

export interface BatchErrorDetails {
  /** HTTP status, when Batch answered. */
  status?: number;
  /** Batch's `error_code`, a detail for logs: callers branch on the class. */
  apiCode?: number;
  cause?: unknown;
}

/** A call to the Batch API failed. Subclasses fix `code` and `retriable`. */
export class BatchApiError extends CatalogSyncError {
  readonly status: number | undefined;
  readonly apiCode: number | undefined;

  constructor(code: string, message: string, retriable: boolean, details: BatchErrorDetails = {}) {
    super(code, message, { retriable, cause: details.cause });
    this.status = details.status;
    this.apiCode = details.apiCode;
  }
}

/** 401/403: the REST API key or project key is wrong. */
export class BatchAuthError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails) {
    super('BATCH_AUTH', message, false, details);
  }
}

/** 400: Batch refuses the request's content. For items/edit, bisection isolates the items at fault. */
export class BatchValidationError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails, code = 'BATCH_INVALID') {
    super(code, message, false, details);
  }
}

/** 413: the body is too large; splitting the request helps, so it is a validation error. */
export class BatchTooLargeError extends BatchValidationError {
  constructor(message: string, details?: BatchErrorDetails) {
    super(message, details, 'BATCH_TOO_LARGE');
  }
}

/** 404: unknown catalog (or route). */
export class BatchNotFoundError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails) {
    super('BATCH_NOT_FOUND', message, false, details);
  }
}

/** 409: the catalog already exists (a create raced another instance, or a retried create). */
export class BatchAlreadyExistsError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails) {
    super('BATCH_ALREADY_EXISTS', message, false, details);
  }
}

/** 429: over the project's rate limit. `retryAfterMs` is Batch's Retry-After, when it sent one. */
export class BatchRateLimitedError extends BatchApiError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
    details?: BatchErrorDetails,
  ) {
    super('BATCH_RATE_LIMITED', message, true, details);
  }
}

/** 5xx, 408, or a 2xx whose body is not what the API documents. */
export class BatchServerError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails, code = 'BATCH_SERVER') {
    super(code, message, true, details);
  }
}

/** No answer: connection refused or reset, DNS, or the timeout elapsed. */
export class BatchNetworkError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails, code = 'BATCH_NETWORK') {
    super(code, message, true, details);
  }
}

/** Any other HTTP status: permanent, since nothing says retrying helps. */
export class BatchHttpError extends BatchApiError {
  constructor(message: string, details?: BatchErrorDetails) {
    super(`BATCH_HTTP_${details?.status ?? 'UNKNOWN'}`, message, false, details);
  }
}

/** A documented catalog limit or a field conflict, found before calling the API. */
export class BatchCatalogError extends BatchApiError {
  constructor(code: 'BATCH_FIELD_LIMIT' | 'BATCH_CATALOG_LIMIT' | 'BATCH_FIELD_CONFLICT', message: string) {
    super(code, message, false);
  }
}

type ErrorFactory = (message: string, details: BatchErrorDetails, retryAfterMs?: number) => BatchApiError;

/** HTTP status → error, in one place (kafkajs protocol/error.js style). 5xx falls back to server. */
const STATUS_ERRORS: ReadonlyMap<number, ErrorFactory> = new Map<number, ErrorFactory>([
  [400, (m, d) => new BatchValidationError(m, d)],
  [401, (m, d) => new BatchAuthError(m, d)],
  [403, (m, d) => new BatchAuthError(m, d)],
  [404, (m, d) => new BatchNotFoundError(m, d)],
  [408, (m, d) => new BatchServerError(m, d, 'BATCH_TIMEOUT')],
  [409, (m, d) => new BatchAlreadyExistsError(m, d)],
  [413, (m, d) => new BatchTooLargeError(m, d)],
  [429, (m, d, retryAfter) => new BatchRateLimitedError(m, retryAfter, d)],
]);

export function errorForStatus(
  status: number,
  message: string,
  details: Omit<BatchErrorDetails, 'status'> = {},
  retryAfterMs?: number,
): BatchApiError {
  const factory = STATUS_ERRORS.get(status);
  const all = { ...details, status };
  if (factory) return factory(message, all, retryAfterMs);
  if (status >= 500) return new BatchServerError(message, all);
  return new BatchHttpError(message, all);
}
