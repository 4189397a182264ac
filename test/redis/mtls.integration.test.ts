/**
 * mTLS to Redis: a private redis-server that requires client certificates (`tls-auth-clients yes`,
 * test/helpers/secure-redis.ts) and the ACL user. A Mirror sync runs end to end with `redis.tls.cert` and
 * `key`; `start` without a client certificate, or with one signed by a CA the server does not trust, exits
 * 1 in one line: REDIS_TLS_FAILED.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type SecureRedis, startSecureRedis } from '../helpers/secure-redis.js';
import { unique } from '../helpers/services.js';
import { refusalEnv, startCli, writeRefusedConfig } from '../helpers/start-cli.js';

describe('Redis over mTLS (integration, own redis-server with tls-auth-clients yes)', () => {
  const prefix = unique('rmtls');
  let r: SecureRedis;
  let dir: string;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;

  beforeAll(async () => {
    r = await startSecureRedis(prefix, { clientAuth: true });
    dir = mkdtempSync(join(tmpdir(), 'catalog-sync-redis-mtls-test-'));
  }, 60_000);
  afterAll(async () => {
    await r?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const redisRaw = (tls: Record<string, unknown>) => ({
    url: r.url,
    keyPrefix: prefix,
    username: r.user.name,
    password: { env: 'TEST_REDIS_PASSWORD' },
    tls: { ca: { file: r.files.ca }, ...tls },
  });

  it('a Mirror sync runs end to end with a client certificate', async () => {
    fx = await pipelineFixture([productSync('redis_mtls', 'redis_mtls', 'full_then_delta', 'mirror')], {
      redis: redisRaw({ cert: { file: r.client!.cert }, key: { file: r.client!.key } }),
      kafkaEnv: { TEST_REDIS_PASSWORD: r.user.password },
    });
    await fx.startInstance('a');
    const first = await fx.produce('redis_mtls', 'FULL', products(1, 30));
    expect((await fx.runDone('redis_mtls', first.runId)).state).toBe('done');
    const second = await fx.produce('redis_mtls', 'FULL', products(6, 30));
    expect((await fx.runDone('redis_mtls', second.runId)).state).toBe('done');
    expect([...fx.items('redis_mtls').keys()].sort()).toEqual(
      products(6, 30)
        .map((p) => p.sku)
        .sort(),
    );
  });

  const refusals = [
    { name: 'no client certificate', tls: () => ({}) },
    {
      name: 'a client certificate of an untrusted CA',
      tls: () => ({ cert: { file: r.client!.untrustedCert }, key: { file: r.client!.untrustedKey } }),
    },
  ];
  for (const c of refusals) {
    it(`start refuses ${c.name} in one line: REDIS_TLS_FAILED`, async () => {
      const config = join(dir, `${c.name.replace(/\W+/g, '-')}.yaml`);
      writeRefusedConfig(config, { redis: redisRaw(c.tls()) });
      const out = await startCli(config, refusalEnv({ TEST_REDIS_PASSWORD: r.user.password }));
      expect(out.code).toBe(1);
      const lines = out.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^catalog-sync: .*client certificate.*\[REDIS_TLS_FAILED\]$/);
      expect(out.stderr + out.stdout).not.toContain(r.user.password);
    });
  }
});
