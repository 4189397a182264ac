import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';

const env = {
  PK: 'pk',
  RK: 'rk',
  KPW: 'kafka-pw-789',
  KKEY: '-----BEGIN PRIVATE KEY-----\nKEYBODY123\n-----END PRIVATE KEY-----',
};
const base = (kafka: Record<string, unknown>) => ({
  kafka,
  batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
  syncs: [
    {
      id: 'products',
      destination: { type: 'batch', project: 'demo', catalog: 'products' },
      mode: 'full_then_delta',
      operation: 'mirror',
      idColumn: 'sku',
    },
  ],
});

function refusal(kafka: Record<string, unknown>): string {
  try {
    parseConfig(base(kafka), env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('kafka.tls and kafka.sasl', () => {
  it('resolve to secrets that never print, through JSON, inspect and the logger', () => {
    const cfg = parseConfig(
      base({
        tls: {
          ca: { env: 'KKEY' },
          cert: { env: 'KKEY' },
          key: { env: 'KKEY' },
          servername: 'broker.example',
        },
        sasl: { mechanism: 'scram-sha-512', username: 'svc', password: { env: 'KPW' } },
      }),
      env,
    );
    const { tls, sasl } = cfg.kafka;
    expect(tls?.rejectUnauthorized).toBe(true);
    expect(tls?.servername).toBe('broker.example');
    expect(tls?.key?.reveal()).toContain('KEYBODY123');
    expect(sasl?.mechanism === 'scram-sha-512' && sasl.password.reveal()).toBe('kafka-pw-789');
    const lines: string[] = [];
    createLogger({ level: 'debug', destination: { write: (l: string) => lines.push(l) } }).debug(
      { config: cfg },
      'effective configuration',
    );
    const printed = `${JSON.stringify(cfg)} ${inspect(cfg, { depth: 10 })} ${lines.join('')}`;
    expect(printed).toContain('svc');
    expect(printed).not.toContain('kafka-pw-789');
    expect(printed).not.toContain('KEYBODY123');
  });

  it('absent, or tls.enabled false: plaintext without SASL', () => {
    expect(parseConfig(base({}), env).kafka.tls).toBeUndefined();
    expect(
      parseConfig(base({ tls: { enabled: false, ca: { file: '/nowhere' } } }), env).kafka.tls,
    ).toBeUndefined();
    expect(parseConfig(base({}), env).kafka.sasl).toBeUndefined();
  });

  it('refuses half a client certificate, missing credentials and mixed mechanisms, naming the field', () => {
    expect(refusal({ tls: { cert: { file: '/c.pem' } } })).toMatch(
      /kafka\.tls\.key: cert and key go together/,
    );
    expect(refusal({ sasl: { mechanism: 'scram-sha-256', username: 'u' } })).toMatch(
      /kafka\.sasl\.password: scram-sha-256 needs a password/,
    );
    expect(refusal({ sasl: { mechanism: 'plain', password: { env: 'KPW' } } })).toMatch(
      /kafka\.sasl\.username/,
    );
    expect(refusal({ sasl: { mechanism: 'oauthbearer' } })).toMatch(
      /exactly one of tokenFile and tokenCommand/,
    );
    expect(refusal({ sasl: { mechanism: 'oauthbearer', tokenFile: '/t', username: 'u' } })).toMatch(
      /oauthbearer takes a token/,
    );
    expect(refusal({ sasl: { mechanism: 'gssapi' } })).toMatch(/kafka\.sasl\.mechanism/);
    expect(refusal({ sasl: { mechanism: 'plain', username: 'u', password: { env: 'UNSET_VAR' } } })).toMatch(
      /kafka\.sasl\.password: environment variable UNSET_VAR is not set/,
    );
  });

  it('an OAUTHBEARER token comes from a file read again each time, or from a command; failures name the source only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-token-'));
    const file = join(dir, 'token');
    writeFileSync(file, 'token-one\n');
    const fromFile = parseConfig(base({ sasl: { mechanism: 'oauthbearer', tokenFile: file } }), env).kafka
      .sasl;
    if (fromFile?.mechanism !== 'oauthbearer') throw new Error('expected oauthbearer');
    expect((await fromFile.token()).reveal()).toBe('token-one');
    writeFileSync(file, 'token-two');
    expect((await fromFile.token()).reveal()).toBe('token-two');

    const cmd = parseConfig(
      base({ sasl: { mechanism: 'oauthbearer', tokenCommand: 'echo token-three' } }),
      env,
    ).kafka.sasl;
    if (cmd?.mechanism !== 'oauthbearer') throw new Error('expected oauthbearer');
    expect((await cmd.token()).reveal()).toBe('token-three');

    const failing = parseConfig(
      base({ sasl: { mechanism: 'oauthbearer', tokenCommand: 'echo leaked-token; exit 3' } }),
      env,
    ).kafka.sasl;
    if (failing?.mechanism !== 'oauthbearer') throw new Error('expected oauthbearer');
    const err = await failing.token().catch((e: unknown) => e as Error);
    expect(String(err)).toMatch(/token command failed \(exit code 3\)/);
    expect(String(err)).not.toContain('leaked-token');
  });
});
