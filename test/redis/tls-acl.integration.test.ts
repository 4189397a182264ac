/**
 * Redis over TLS with an ACL user against a real redis-server started here (test/helpers/secure-redis.ts):
 * TLS port only, default user off, one user with exactly catalog-sync's ACL rule (src/redis/acl.ts). A
 * Mirror sync runs end to end on it; a wrong password, an untrusted CA and keys outside the user's
 * pattern make `start` exit 1 with one line naming the cause. Kafka and the registry are the shared stack's.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { checkRedisAccess, RedisAccessError } from '../../src/redis/connection.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type SecureRedis, startSecureRedis } from '../helpers/secure-redis.js';
import { unique } from '../helpers/services.js';
import { refusalEnv, startCli, writeRefusedConfig } from '../helpers/start-cli.js';

describe('Redis over TLS with a restricted ACL user (integration, own redis-server)', () => {
  const prefix = unique('rtls');
  let r: SecureRedis;
  let dir: string;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;

  beforeAll(async () => {
    r = await startSecureRedis(prefix);
    dir = mkdtempSync(join(tmpdir(), 'catalog-sync-redis-tls-test-'));
  }, 60_000);
  afterAll(async () => {
    await r?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const redisRaw = (more: Record<string, unknown> = {}) => ({
    url: r.url,
    keyPrefix: prefix,
    username: r.user.name,
    password: { env: 'TEST_REDIS_PASSWORD' },
    tls: { ca: { file: r.files.ca } },
    ...more,
  });

  it('a Mirror sync runs end to end through the ACL user over TLS, and no log line holds the password', async () => {
    const logs: Record<string, unknown>[] = [];
    fx = await pipelineFixture([productSync('redis_tls', 'redis_tls', 'full_then_delta', 'mirror')], {
      redis: redisRaw(),
      kafkaEnv: { TEST_REDIS_PASSWORD: r.user.password },
    });
    await fx.startInstance('a', { logs, level: 'info' });
    const first = await fx.produce('redis_tls', 'FULL', products(1, 30));
    expect((await fx.runDone('redis_tls', first.runId)).state).toBe('done');
    expect(fx.items('redis_tls').size).toBe(30);
    // A second full run without 1..5: derived deletions exercise the remaining scripts.
    const second = await fx.produce('redis_tls', 'FULL', products(6, 30));
    expect((await fx.runDone('redis_tls', second.runId)).state).toBe('done');
    expect(fx.items('redis_tls').size).toBe(25);
    expect(logs.some((l) => l.msg === 'starting' && String(l.redis).startsWith('rediss://'))).toBe(true);
    expect(logs.filter((l) => l.msg === 'redis connection error')).toEqual([]);
    expect(JSON.stringify(logs)).not.toContain(r.user.password);
  });

  it("keys outside the user's pattern are refused at once: REDIS_ACL_DENIED", async () => {
    const err = await checkRedisAccess(
      r.url,
      {
        username: r.user.name,
        password: { reveal: () => r.user.password },
        tls: { ca: { reveal: () => readFileSync(r.files.ca, 'utf8') } },
      },
      'another-prefix',
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RedisAccessError);
    expect((err as RedisAccessError).code).toBe('REDIS_ACL_DENIED');
  });

  const refusals = [
    {
      name: 'a wrong password',
      redis: () => redisRaw(),
      env: () => ({ TEST_REDIS_PASSWORD: 'not-the-password' }),
      code: 'REDIS_AUTH_FAILED',
    },
    {
      name: 'an untrusted CA',
      redis: () => redisRaw({ tls: { ca: { file: r.files.untrustedCa } } }),
      env: () => ({ TEST_REDIS_PASSWORD: r.user.password }),
      code: 'REDIS_TLS_UNTRUSTED',
    },
  ];
  for (const c of refusals) {
    it(`start refuses ${c.name} in one line: ${c.code}`, async () => {
      const config = join(dir, `${c.code}.yaml`);
      writeRefusedConfig(config, { redis: c.redis() });
      const env = refusalEnv(c.env());
      const out = await startCli(config, env);
      expect(out.code).toBe(1);
      expect(out.ms).toBeLessThan(20_000);
      const lines = out.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^catalog-sync: .*\\[${c.code}\\]$`));
      expect(out.stderr + out.stdout).not.toContain(r.user.password);
    });
  }
});
