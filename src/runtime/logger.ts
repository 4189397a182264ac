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
  'token',
  '*.token',
  '*.*.token',
  'password',
  '*.password',
  'headers.authorization',
  'headers["x-yotpo-token"]',
  '*.headers.authorization',
  '*.headers["x-yotpo-token"]',
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
  return options.destination ? pino(base, options.destination) : pino(base);
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
