import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { registryAuthorization } from '../../src/kafka/registry.js';

const env = { PK: 'pk', RK: 'rk', SRPW: 'sr-secret-123', SRINFO: 'key:sr-secret-456', SRTOK: 'tok-789' };
const parse = (schemaRegistry: Record<string, unknown>) =>
  parseConfig(
    {
      schemaRegistry,
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
    },
    env,
  );

describe('schemaRegistry.auth and schemaRegistry.tls', () => {
  it('basic (username + password, or userInfo) and bearer give the header; the secrets never print', () => {
    const pair = parse({ auth: { type: 'basic', username: 'key', password: { env: 'SRPW' } } });
    expect(registryAuthorization(pair.schemaRegistry)).toBe(
      `Basic ${Buffer.from('key:sr-secret-123').toString('base64')}`,
    );
    const info = parse({ auth: { type: 'basic', userInfo: { env: 'SRINFO' } } });
    expect(info.schemaRegistry.auth).toMatchObject({ type: 'basic', username: 'key' });
    expect(registryAuthorization(info.schemaRegistry)).toBe(
      `Basic ${Buffer.from('key:sr-secret-456').toString('base64')}`,
    );
    const bearer = parse({ auth: { type: 'bearer', token: { env: 'SRTOK' } } });
    expect(registryAuthorization(bearer.schemaRegistry)).toBe('Bearer tok-789');
    for (const cfg of [pair, info, bearer]) {
      const text = JSON.stringify(cfg) + inspect(cfg, { depth: 10 });
      for (const secret of ['sr-secret-123', 'sr-secret-456', 'tok-789']) expect(text).not.toContain(secret);
    }
    expect(registryAuthorization(parse({}).schemaRegistry)).toBeUndefined();
  });

  it('refuses half a pair, both forms at once, and a userInfo without a colon', () => {
    expect(() => parse({ auth: { type: 'basic', username: 'key' } })).toThrow(
      /username and password go together/,
    );
    expect(() =>
      parse({
        auth: { type: 'basic', username: 'k', password: { env: 'SRPW' }, userInfo: { env: 'SRINFO' } },
      }),
    ).toThrow(/username and password, or userInfo/);
    expect(() => parse({ auth: { type: 'basic', userInfo: { env: 'SRPW' } } })).toThrow(
      /must be user:password/,
    );
    expect(() => parse({ auth: { type: 'bearer' } })).toThrow(/schemaRegistry\.auth\.token/);
  });
});
