/**
 * Schema registry credentials and TLS against the real (shared) registry behind a test-only HTTPS proxy
 * that checks the Authorization header (test/helpers/registry-proxy.ts): a sync end to end with basic
 * auth and a private CA, a bearer token and Confluent's `user:password` form, and refusals — wrong
 * password (`start` exits 1 with one line), no credentials, an untrusted CA.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { checkRegistryAccess, createRegistry, RegistryAccessError } from '../../src/kafka/registry.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type RegistryProxy, startRegistryProxy } from '../helpers/registry-proxy.js';
import { endpoints, unique } from '../helpers/services.js';
import { refusalEnv, startCli, writeRefusedConfig } from '../helpers/start-cli.js';

const USER = 'sr-user';
const PASSWORD = `sr-pw-${unique('x')}`;
const TOKEN = `tok-${unique('y')}`;
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;

describe('schema registry credentials and TLS (integration, HTTPS auth proxy)', () => {
  let proxy: RegistryProxy;
  let dir: string;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;

  beforeAll(async () => {
    proxy = await startRegistryProxy(endpoints().registryUrl, [basic(USER, PASSWORD), `Bearer ${TOKEN}`]);
    dir = mkdtempSync(join(tmpdir(), 'catalog-sync-registry-auth-test-'));
  });
  afterAll(async () => {
    await proxy?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  const section = (auth: Record<string, unknown> | undefined, ca = proxy.files.ca) => ({
    url: proxy.url,
    ...(auth ? { auth } : {}),
    tls: { ca: { file: ca } },
  });
  const resolved = (raw: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) =>
    parseConfig(
      {
        schemaRegistry: raw,
        batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
        syncs: [productSync('s', 's', 'full_then_delta', 'upsert')],
      },
      { PK: 'pk', RK: 'rk', ...env },
    ).schemaRegistry;

  it('a sync runs end to end with basic auth over TLS, the instance is ready, and no log holds the password', async () => {
    const logs: Record<string, unknown>[] = [];
    const before = proxy.counts.forwarded;
    fx = await pipelineFixture([productSync('reg_auth', 'reg_auth', 'full_then_delta', 'upsert')], {
      registryUrl: proxy.url,
      registry: {
        auth: { type: 'basic', username: USER, password: { env: 'TEST_SR_PASSWORD' } },
        tls: { ca: { file: proxy.files.ca } },
      },
      kafkaEnv: { TEST_SR_PASSWORD: PASSWORD },
    });
    const svc = await fx.startInstance('a', { logs, level: 'info' });
    const run = await fx.produce('reg_auth', 'FULL', products(1, 20));
    expect((await fx.runDone('reg_auth', run.runId)).state).toBe('done');
    expect(fx.items('reg_auth').size).toBe(20);
    expect((await svc.readiness()).checks.schemaRegistry).toBe(true);
    // Schemas were fetched (decoder) and registered (status publisher) through the proxy.
    expect(proxy.counts.forwarded - before).toBeGreaterThan(2);
    expect(JSON.stringify(logs)).not.toContain(PASSWORD);
  });

  it("a bearer token and Confluent's user:password form authenticate; the client registers through them", async () => {
    const bearer = resolved(section({ type: 'bearer', token: { env: 'SR_TOKEN' } }), { SR_TOKEN: TOKEN });
    await checkRegistryAccess(bearer);
    const subject = `${unique('reg-auth')}-value`;
    const schema = JSON.stringify({ type: 'record', name: 'Probe', fields: [{ name: 'a', type: 'string' }] });
    const { id } = await createRegistry(bearer).register({ type: 'AVRO', schema } as never, { subject });
    expect(id).toBeGreaterThan(0);
    const info = resolved(section({ type: 'basic', userInfo: { env: 'SR_INFO' } }), {
      SR_INFO: `${USER}:${PASSWORD}`,
    });
    await checkRegistryAccess(info);
    expect(await createRegistry(info).getLatestSchemaId(subject)).toBe(id);
  });

  it('no credentials, or a CA that did not sign the certificate, are refused at once with a code', async () => {
    const anonymous = await checkRegistryAccess(resolved(section(undefined))).catch((e: unknown) => e);
    expect(anonymous).toBeInstanceOf(RegistryAccessError);
    expect((anonymous as RegistryAccessError).code).toBe('REGISTRY_AUTH_FAILED');
    const untrusted = await checkRegistryAccess(
      resolved(section({ type: 'bearer', token: { env: 'SR_TOKEN' } }, proxy.files.untrustedCa), {
        SR_TOKEN: TOKEN,
      }),
    ).catch((e: unknown) => e);
    expect(untrusted).toBeInstanceOf(RegistryAccessError);
    expect((untrusted as RegistryAccessError).code).toBe('REGISTRY_TLS_UNTRUSTED');
  });

  it('start refuses a wrong password in one line: REGISTRY_AUTH_FAILED', async () => {
    const config = join(dir, 'wrong.yaml');
    writeRefusedConfig(config, {
      schemaRegistry: section({ type: 'basic', username: USER, password: { env: 'TEST_SR_PASSWORD' } }),
    });
    const out = await startCli(config, refusalEnv({ TEST_SR_PASSWORD: 'not-the-password' }));
    expect(out.code).toBe(1);
    expect(out.ms).toBeLessThan(20_000);
    const lines = out.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^catalog-sync: .*\[REGISTRY_AUTH_FAILED\]$/);
    expect(out.stderr + out.stdout).not.toContain('not-the-password');
    expect(out.stderr + out.stdout).not.toContain(PASSWORD);
  });
});
