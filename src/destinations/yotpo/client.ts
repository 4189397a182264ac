import { z } from 'zod';
import { DEFAULT_TIMEOUT_MS, exchange, type HttpAnswer, jsonBody, TransportFailure } from '../http.js';
import { parseRetryAfter } from '../retry.js';
import { errorForStatus, type YotpoApiError, YotpoServerError } from './errors.js';
import type { IdentityField, YotpoStore } from './types.js';

export const DEFAULT_BASE_URL = 'https://api.yotpo.com/core/v3';

const lookupAnswer = z.looseObject({ customers: z.array(z.looseObject({})) });
const errorBody = z.looseObject({
  errors: z.array(z.looseObject({ message: z.string().optional(), field: z.string().optional() })),
});

const LOOKUP_PARAM: Record<IdentityField, string> = {
  external_id: 'external_ids',
  email: 'emails',
  phone_number: 'phone_numbers',
};

/**
 * The Yotpo Core API customers endpoints of one store. The token goes in a header; errors name the call
 * as `POST customers` so neither the store id nor a query (identities are personal data) reaches a log.
 */
export class YotpoClient {
  private readonly url: string;
  private readonly headers: Record<string, string>;

  constructor(
    store: YotpoStore,
    private readonly timeoutMs = DEFAULT_TIMEOUT_MS,
  ) {
    const base = (store.baseUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.url = `${base}/stores/${encodeURIComponent(store.storeId)}/customers`;
    this.headers = {
      'x-yotpo-token': store.token,
      'content-type': 'application/json',
      accept: 'application/json',
    };
  }

  /** Creates or updates one customer; `beforeSend` runs right before the request is written. */
  async upsertCustomer(customer: Record<string, unknown>, beforeSend?: () => void): Promise<void> {
    await this.call('POST', this.url, JSON.stringify({ customer }), beforeSend);
  }

  /** The customers among `values` (at most one look-up page) that exist, as Yotpo returns them. */
  async findCustomers(
    field: IdentityField,
    values: string[],
    beforeSend?: () => void,
  ): Promise<Record<string, unknown>[]> {
    const url = new URL(this.url);
    url.searchParams.set(LOOKUP_PARAM[field], values.join(','));
    const answer = lookupAnswer.safeParse(await this.call('GET', url.toString(), undefined, beforeSend));
    if (!answer.success) {
      throw new YotpoServerError('GET customers: unexpected answer', undefined, 'YOTPO_BAD_RESPONSE');
    }
    return answer.data.customers;
  }

  private async call(
    method: 'GET' | 'POST',
    url: string,
    body?: string,
    beforeSend?: () => void,
  ): Promise<unknown> {
    const what = `${method} customers`;
    let answer: HttpAnswer;
    try {
      answer = await exchange(url, {
        method,
        headers: this.headers,
        timeoutMs: this.timeoutMs,
        ...(body === undefined ? {} : { body }),
        ...(beforeSend ? { beforeSend } : {}),
      });
    } catch (err) {
      if (!(err instanceof TransportFailure)) throw err;
      const failure = err;
      throw new YotpoServerError(
        `${what}: ${failure.reason}`,
        undefined,
        'YOTPO_NETWORK',
        failure.cause ?? failure,
      );
    }
    const { status, text, retryAfter } = answer;
    if (status >= 200 && status < 300) {
      try {
        return jsonBody(text);
      } catch (err) {
        throw new YotpoServerError(
          `${what}: HTTP ${status}, body not JSON`,
          status,
          'YOTPO_BAD_RESPONSE',
          err,
        );
      }
    }
    throw apiError(what, status, text, retryAfter);
  }
}

function apiError(what: string, status: number, text: string, retryAfter: string | null): YotpoApiError {
  let detail = text.slice(0, 300);
  try {
    const parsed = errorBody.parse(JSON.parse(text));
    detail = parsed.errors
      .map((e) => `${e.field ? `${e.field}: ` : ''}${e.message ?? JSON.stringify(e)}`)
      .join('; ');
  } catch {
    // Not Yotpo's JSON error (a proxy's page, say): keep the start of the text.
  }
  return errorForStatus(
    status,
    `${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`,
    parseRetryAfter(retryAfter),
  );
}
