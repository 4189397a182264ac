import type { IncomingMessage, ServerResponse } from 'node:http';
import { CatalogSyncError } from '../../src/errors.js';

export const DEFAULT_BODY_LIMIT_BYTES = 10 * 1024 * 1024;

/** A route module answers the requests it recognises and returns false for the others. */
export interface RouteModule {
  handle(req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean>;
}

export type BodyProblem = 'content_type' | 'invalid_json' | 'not_object' | 'too_large';

/**
 * The request body cannot be used. Each route module maps it onto its own API's error format,
 * since Batch and Yotpo answer errors differently.
 */
export class BodyError extends CatalogSyncError {
  constructor(
    readonly problem: BodyProblem,
    readonly status: number,
    message: string,
  ) {
    super(`SIM_BODY_${problem.toUpperCase()}`, message);
  }
}

function isJsonContentType(header: string | undefined): boolean {
  const mediaType = header?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}

/**
 * Reads a JSON object body. Past the limit the rest is drained unread so the client gets the 413
 * instead of a reset connection.
 */
export async function readJsonObject(
  req: IncomingMessage,
  limitBytes = DEFAULT_BODY_LIMIT_BYTES,
): Promise<Record<string, unknown>> {
  if (!isJsonContentType(req.headers['content-type'])) {
    req.resume();
    throw new BodyError('content_type', 400, 'Content-Type must be application/json');
  }
  const tooLarge = () =>
    new BodyError('too_large', 413, `request body exceeds the ${limitBytes} bytes limit`);
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let overflow = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limitBytes) overflow = true;
    if (!overflow) chunks.push(chunk);
  }
  if (overflow) throw tooLarge();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
  } catch {
    throw new BodyError('invalid_json', 400, 'request body is not valid UTF-8');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new BodyError('invalid_json', 400, `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new BodyError('not_object', 400, 'request body must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
