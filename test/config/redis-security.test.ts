import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { classifyRedisError, redisOptions } from '../../src/redis/connection.js';

const env = { PK: 'pk', RK: 'rk', RPW: 'redis-pw-456' };
const base = (redis: Record<string, unknown>) => ({
  redis,
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

describe('redis.tls, redis.username and redis.password', () => {
  it('reads the password and the CA as secrets that never print, and builds TLS options from them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cs-redis-cfg-'));
    writeFileSync(join(dir, 'ca.pem'), 'CA-PEM\n');
    const cfg = parseConfig(
      base({
        url: 'rediss://redis.internal:6380',
        username: 'catalog-sync',
        password: { env: 'RPW' },
        tls: { ca: { file: join(dir, 'ca.pem') }, servername: 'redis.internal' },
      }),
      env,
    );
    expect(JSON.stringify(cfg)).not.toContain('redis-pw-456');
    expect(inspect(cfg, { depth: 10 })).not.toContain('redis-pw-456');
    expect(redisOptions(cfg.redis.url, cfg.redis)).toEqual({
      disableClientInfo: true,
      username: 'catalog-sync',
      password: 'redis-pw-456',
      tls: { ca: 'CA-PEM', rejectUnauthorized: true, servername: 'redis.internal' },
    });
  });

  it('REDIS_CLUSTER_NODES (comma-separated) sets redis.cluster.nodes, over the file', () => {
    const cfg = parseConfig(base({ cluster: { nodes: ['10.0.0.1:6379'] } }), {
      ...env,
      REDIS_CLUSTER_NODES: '127.0.0.1:7001, 127.0.0.1:7002,127.0.0.1:7003',
    });
    expect(cfg.redis.cluster?.nodes).toEqual(['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003']);
    expect(parseConfig(base({}), env).redis.cluster).toBeUndefined();
    expect(() => parseConfig(base({}), { ...env, REDIS_CLUSTER_NODES: '127.0.0.1' })).toThrow(/host:port/);
  });

  it('turns TLS on for rediss:// without a tls section, and leaves redis:// plaintext', () => {
    expect(redisOptions('rediss://h:6380')).toEqual({
      disableClientInfo: true,
      tls: { rejectUnauthorized: true },
    });
    expect(redisOptions('redis://h:6379')).toEqual({ disableClientInfo: true });
  });

  it('refuses a client certificate without its key, and a missing password variable', () => {
    expect(() => parseConfig(base({ tls: { cert: { env: 'X' } } }), env)).toThrow(/cert and key go together/);
    const err = (() => {
      try {
        parseConfig(base({ username: 'u', password: { env: 'NOPE' } }), env);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain('redis.password: environment variable NOPE is not set');
  });

  it('classifies refusals by a stable code and never copies the server message with a secret', () => {
    const wrong = classifyRedisError(
      new Error('WRONGPASS invalid username-password pair or user is disabled.'),
    );
    expect(wrong?.code).toBe('REDIS_AUTH_FAILED');
    expect(
      classifyRedisError(
        new Error('NOPERM this user has no permissions to access one of the keys used as arguments'),
      )?.code,
    ).toBe('REDIS_ACL_DENIED');
    const tls = Object.assign(new Error('self-signed certificate in certificate chain'), {
      code: 'SELF_SIGNED_CERT_IN_CHAIN',
    });
    expect(classifyRedisError(tls)?.code).toBe('REDIS_TLS_UNTRUSTED');
    expect(
      classifyRedisError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })),
    ).toBeUndefined();
  });

  it('takes Redis Cluster seed nodes as host:port', () => {
    const cfg = parseConfig(base({ cluster: { nodes: ['10.0.0.1:6379', 'redis-2:6380'] } }), env);
    expect(cfg.redis.cluster).toEqual({ nodes: ['10.0.0.1:6379', 'redis-2:6380'] });
    expect(() => parseConfig(base({ cluster: { nodes: ['redis-1'] } }), env)).toThrow(/must be host:port/);
    expect(() => parseConfig(base({ cluster: { nodes: [] } }), env)).toThrow(ConfigError);
  });
});
