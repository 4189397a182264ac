import { type Logger, pino } from 'pino';

export type { Logger };

/**
 * Paths pino blanks wherever they appear in a log object. Secrets also never reach a log line
 * because config objects carry them under these names only.
 */
export const REDACT_PATHS = [
  'restApiKey',
  '*.restApiKey',
  '*.*.restApiKey',
  'projectKey',
  '*.projectKey',
  '*.*.projectKey',
  'storeId',
  '*.storeId',
  '*.*.storeId',
  'token',
  '*.token',
  '*.*.token',
  'password',
  '*.password',
  'headers.authorization',
  'headers["x-yotpo-token"]',
  '*.headers.authorization',
  '*.headers["x-yotpo-token"]',
  'headers["x-batch-project"]',
  '*.headers["x-batch-project"]',
];

export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
) {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const base = {
    level,
    name: options.name ?? 'catalog-sync',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  if (options.destination) return pino(base, options.destination);
  return pretty() ? pino({ ...base, transport: { target: 'pino-pretty' } }) : pino(base);
}

/**
 * Human-readable lines for a developer (LOG_PRETTY=1, or a terminal unless LOG_PRETTY=0); JSON
 * otherwise. pino-pretty is a development dependency: a production image without it logs JSON.
 */
function pretty(): boolean {
  const wanted = process.env.LOG_PRETTY === '1' || (process.env.LOG_PRETTY !== '0' && process.stdout.isTTY);
  if (!wanted) return false;
  try {
    import.meta.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Strips the password from a URL before it is logged (redis://:secret@host). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = 'redacted';
    return u.toString();
  } catch {
    return url;
  }
}
