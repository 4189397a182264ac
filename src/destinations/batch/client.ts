import { z } from 'zod';
import { DEFAULT_TIMEOUT_MS, exchange, type HttpAnswer, jsonBody, TransportFailure } from '../http.js';
import { parseRetryAfter } from '../retry.js';
import { type BatchApiError, BatchNetworkError, BatchServerError, errorForStatus } from './errors.js';
import type { BatchProject, EncodedItem, FieldSpec, FieldType } from './types.js';

export const DEFAULT_BASE_URL = 'https://api.batch.com/2.11';

const FIELD_TYPES = ['string', 'integer', 'float', 'bool', 'date', 'url', 'array'] as const;

const catalogView = z.looseObject({
  name: z.string(),
  fields: z.array(z.looseObject({ name: z.string(), type: z.enum(FIELD_TYPES) })),
  items: z.number().optional(),
  size: z.number().optional(),
  indexing_state: z.string().optional(),
});
const catalogPage = z.looseObject({
  catalogs: z.array(z.looseObject({ name: z.string() })),
  has_more: z.boolean().optional(),
  next_from: z.string().nullish(),
});
const editAnswer = z.looseObject({ indexing_token: z.string().min(1) });
const errorBody = z.looseObject({ error_code: z.number().optional(), error_message: z.string().optional() });

export interface CatalogView {
  name: string;
  fields: FieldSpec[];
  /** Number of items, when Batch reports it. */
  items: number | undefined;
  /** With an indexing token: `IN_PROGRESS` (or `IN_PROCESS`) until `APPLIED`. */
  indexingState: string | undefined;
}

export interface FieldUpdate {
  name: string;
  type: FieldType;
  action: 'add' | 'remove';
}

/**
 * The Batch Catalog API for one project. Keys go in headers only; errors and messages name the call
 * (method and path, never the query or headers) and carry Batch's error message.
 */
export class BatchClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor(project: BatchProject, options: { timeoutMs?: number } = {}) {
    this.base = (project.baseUrl || DEFAULT_BASE_URL).replace(/\/+$/, '');
    this.headers = {
      authorization: `Bearer ${project.restApiKey}`,
      'x-batch-project': project.projectKey,
      'content-type': 'application/json',
      accept: 'application/json',
    };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  async createCatalog(name: string, fields: FieldSpec[]): Promise<void> {
    await this.call('POST', '/catalogs/create', { body: { name, fields } });
  }

  async viewCatalog(name: string, indexingToken?: string): Promise<CatalogView> {
    const query: Record<string, string> = { name };
    if (indexingToken !== undefined) query.indexing_token = indexingToken;
    const body = parse(catalogView, await this.call('GET', '/catalogs/view', { query }), '/catalogs/view');
    return {
      name: body.name,
      fields: body.fields.map((f) => ({ name: f.name, type: f.type })),
      items: body.items,
      indexingState: body.indexing_state,
    };
  }

  /** Every catalog name of the project, following the cursor. */
  async listCatalogs(): Promise<string[]> {
    const names: string[] = [];
    let from: string | undefined;
    for (;;) {
      const query: Record<string, string> = { limit: '100' };
      if (from !== undefined) query.from = from;
      const page = parse(catalogPage, await this.call('GET', '/catalogs/list', { query }), '/catalogs/list');
      names.push(...page.catalogs.map((c) => c.name));
      if (!page.has_more || !page.next_from) return names;
      from = page.next_from;
    }
  }

  async updateCatalog(name: string, fields: FieldUpdate[]): Promise<void> {
    await this.call('POST', '/catalogs/update', { body: { name, fields } });
  }

  /**
   * Sends at most 200 item changes; resolves to the indexing token of the 202. `beforeSend` runs once
   * the body is built, right before the request is written; if it throws, nothing is sent.
   */
  async editItems(name: string, items: EncodedItem[], beforeSend?: () => void): Promise<string> {
    const answer = await this.call('POST', '/catalogs/items/edit', {
      body: { name, items },
      ...(beforeSend ? { beforeSend } : {}),
    });
    return parse(editAnswer, answer, '/catalogs/items/edit').indexing_token;
  }

  private async call(
    method: 'GET' | 'POST',
    path: string,
    request: { query?: Record<string, string>; body?: unknown; beforeSend?: () => void },
  ): Promise<unknown> {
    const url = new URL(this.base + path);
    for (const [k, v] of Object.entries(request.query ?? {})) url.searchParams.set(k, v);
    const what = `${method} ${path}`;
    let answer: HttpAnswer;
    try {
      answer = await exchange(url, {
        method,
        headers: this.headers,
        timeoutMs: this.timeoutMs,
        ...(request.body === undefined ? {} : { body: JSON.stringify(request.body) }),
        ...(request.beforeSend ? { beforeSend: request.beforeSend } : {}),
      });
    } catch (err) {
      if (!(err instanceof TransportFailure)) throw err;
      throw networkError(what, err);
    }
    const { status, text, retryAfter } = answer;
    if (status >= 200 && status < 300) {
      try {
        return jsonBody(text);
      } catch (err) {
        throw new BatchServerError(
          `${what}: HTTP ${status} with a body that is not JSON`,
          { status, cause: err },
          'BATCH_BAD_RESPONSE',
        );
      }
    }
    throw apiError(what, status, text, retryAfter);
  }
}

function apiError(what: string, status: number, text: string, retryAfter: string | null): BatchApiError {
  let apiCode: number | undefined;
  let detail = text.slice(0, 500);
  try {
    const body = errorBody.parse(JSON.parse(text));
    apiCode = body.error_code;
    detail = body.error_message ?? detail;
  } catch {
    // Not Batch's JSON error (a proxy's page, say): keep the start of the text.
  }
  const code = apiCode === undefined ? '' : ` (error_code ${apiCode})`;
  const message = `${what}: HTTP ${status}${code}${detail ? `: ${detail}` : ''}`;
  return errorForStatus(
    status,
    message,
    apiCode === undefined ? {} : { apiCode },
    parseRetryAfter(retryAfter),
  );
}

function networkError(what: string, failure: TransportFailure): BatchNetworkError {
  const cause = failure.cause ?? failure;
  if (failure.timedOut)
    return new BatchNetworkError(`${what}: ${failure.reason}`, { cause }, 'BATCH_TIMEOUT');
  return new BatchNetworkError(`${what}: ${failure.reason}`, { cause });
}

function parse<T>(schema: z.ZodType<T>, body: unknown, path: string): T {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  throw new BatchServerError(
    `${path}: unexpected answer: ${result.error.issues[0]?.message ?? 'invalid'}`,
    {
      cause: result.error,
    },
    'BATCH_BAD_RESPONSE',
  );
}
