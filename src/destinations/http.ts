/**
 * One HTTP exchange with a destination API, shared by the Batch and Yotpo clients: the answer whatever
 * its status, or a TransportFailure. Each client maps statuses and failures to its own typed errors.
 */
/** How long a destination request may take before it counts as lost (both APIs answer in well under this). */
export const DEFAULT_TIMEOUT_MS = 15_000;

export interface HttpAnswer {
  status: number;
  text: string;
  retryAfter: string | null;
}

export class TransportFailure extends Error {
  constructor(
    readonly timedOut: boolean,
    readonly reason: string,
    cause: unknown,
  ) {
    super(reason, { cause });
    this.name = 'TransportFailure';
  }
}

export interface ExchangeInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  /**
   * Runs right before the request is handed to fetch, which writes a pooled connection's bytes before
   * the event loop turns; a throw (a stale rate-limit grant) sends nothing and propagates as is.
   */
  beforeSend?: () => void;
}

export async function exchange(url: URL | string, init: ExchangeInit): Promise<HttpAnswer> {
  init.beforeSend?.();
  try {
    const res = await fetch(url, {
      method: init.method,
      headers: init.headers,
      signal: AbortSignal.timeout(init.timeoutMs),
      ...(init.body === undefined ? {} : { body: init.body }),
    });
    return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
  } catch (err) {
    const timedOut = err instanceof DOMException && err.name === 'TimeoutError';
    // undici wraps the socket error (ECONNRESET, ECONNREFUSED...) as the cause of a TypeError.
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const reason = timedOut
      ? `no answer within ${init.timeoutMs} ms`
      : (cause?.code ?? cause?.message ?? (err instanceof Error ? err.message : String(err)));
    throw new TransportFailure(timedOut, reason, err);
  }
}

/** The body of a 2xx answer: '' reads as {}; a body that is not JSON throws SyntaxError. */
export function jsonBody(text: string): unknown {
  return text === '' ? {} : JSON.parse(text);
}
