import { CatalogSyncError } from '../../errors.js';

/** A call to the Yotpo API failed. Subclasses fix `code` and `retriable`. */
export class YotpoApiError extends CatalogSyncError {
  constructor(
    code: string,
    message: string,
    retriable: boolean,
    readonly status?: number,
    cause?: unknown,
  ) {
    super(code, message, { retriable, cause });
  }
}

/** 401/403: the token does not open this store. */
export class YotpoAuthError extends YotpoApiError {
  constructor(message: string, status?: number) {
    super('YOTPO_AUTH', message, false, status);
  }
}

/** 400/422: Yotpo refuses this customer; with one customer per request, the record is at fault. */
export class YotpoValidationError extends YotpoApiError {
  constructor(message: string, status?: number) {
    super('YOTPO_INVALID', message, false, status);
  }
}

/** 429. `retryAfterMs` is Yotpo's Retry-After, when it sent one. */
export class YotpoRateLimitedError extends YotpoApiError {
  constructor(
    message: string,
    readonly retryAfterMs: number | undefined,
  ) {
    super('YOTPO_RATE_LIMITED', message, true, 429);
  }
}

/** 5xx, 408, no answer, or a 2xx whose body is not what the API documents. */
export class YotpoServerError extends YotpoApiError {
  constructor(message: string, status?: number, code = 'YOTPO_SERVER', cause?: unknown) {
    super(code, message, true, status, cause);
  }
}

/** Any other status (404 unknown store among them): permanent, nothing says retrying helps. */
export class YotpoHttpError extends YotpoApiError {
  constructor(message: string, status: number) {
    super(`YOTPO_HTTP_${status}`, message, false, status);
  }
}

export function errorForStatus(status: number, message: string, retryAfterMs?: number): YotpoApiError {
  if (status === 400 || status === 422) return new YotpoValidationError(message, status);
  if (status === 401 || status === 403) return new YotpoAuthError(message, status);
  if (status === 429) return new YotpoRateLimitedError(message, retryAfterMs);
  if (status === 408 || status >= 500) return new YotpoServerError(message, status);
  return new YotpoHttpError(message, status);
}
