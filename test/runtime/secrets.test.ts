import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { createLogger, redactUrl } from '../../src/logger.js';
import { Secret } from '../../src/secret.js';

describe('secret redaction', () => {
  it('redactUrl hides the password of a URL and keeps the rest', () => {
    expect(redactUrl('redis://app:s3cret@redis:6379/0')).toBe('redis://app:redacted@redis:6379/0');
    expect(redactUrl('redis://:s3cret@redis:6379')).toBe('redis://:redacted@redis:6379');
    expect(redactUrl('redis://redis:6379')).toBe('redis://redis:6379');
    expect(redactUrl('not a url')).toBe('not a url');
  });

  it('a Secret prints [redacted] through JSON, strings and inspect, and reveals on request', () => {
    const s = new Secret('s3cret');
    expect(JSON.stringify({ key: s })).toBe('{"key":"[redacted]"}');
    expect(`${s}`).toBe('[redacted]');
    expect(inspect({ s })).not.toContain('s3cret');
    expect(s.reveal()).toBe('s3cret');
  });

  it('the logger blanks keys, tokens and auth headers wherever they sit', () => {
    const lines: string[] = [];
    const log = createLogger({ level: 'debug', destination: { write: (l: string) => lines.push(l) } });
    log.debug(
      {
        restApiKey: 'k1',
        project: { projectKey: 'k2', restApiKey: 'k3', nested: { token: 'k4' } },
        headers: { authorization: 'Bearer k5', 'x-batch-project': 'k6', 'x-yotpo-token': 'k7' },
        store: { storeId: 'k8', token: 'k9' },
        secret: new Secret('k10'),
        keep: 'visible',
      },
      'request',
    );
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    expect(line).toContain('visible');
    for (let i = 1; i <= 10; i++) expect(line).not.toMatch(new RegExp(`"k${i}"|Bearer k${i}`));
  });
});
