/**
 * A broker that refuses the instance for good — wrong password, untrusted certificate, no client
 * certificate, plaintext to a TLS port — makes `start` exit 1 within seconds, with one line on stderr
 * naming the cause, no kafkajs stack trace or retry loop, and no secret anywhere in its output.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { productSync } from '../helpers/pipeline.js';
import { type SecureKafka, startSecureKafka } from '../helpers/secure-kafka.js';
import { endpoints, unique } from '../helpers/services.js';
import { startCli } from '../helpers/start-cli.js';

const BOUND_MS = 30_000;

describe('start refuses a Kafka that refuses it (integration, own broker)', () => {
  let k: SecureKafka;
  let dir: string;
  let key: string;
  const badPassword = `wrong-${unique('pw')}`;

  beforeAll(async () => {
    k = await startSecureKafka();
    dir = mkdtempSync(join(tmpdir(), 'catalog-sync-refusals-'));
    key = readFileSync(k.files.clientKey, 'utf8');
  }, 120_000);
  afterAll(async () => {
    await k?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv => {
    const e: NodeJS.ProcessEnv = {
      ...process.env,
      TEST_KAFKA_PASSWORD: k.user.password,
      TEST_KAFKA_BAD_PASSWORD: badPassword,
      TEST_KAFKA_KEY: key,
      TEST_BATCH_PROJECT: 'project_refusal',
      TEST_BATCH_KEY: 'rest_refusal_key',
      LOG_LEVEL: 'debug',
    };
    delete e.KAFKA_BROKERS;
    return e;
  };

  function configFile(name: string, kafka: Record<string, unknown>): string {
    const id = unique(name);
    const file = join(dir, `${name}.yaml`);
    writeFileSync(
      file,
      toYaml({
        instanceId: id,
        logLevel: 'debug',
        kafka: {
          groupId: id,
          cdcTopic: `${id}.cdc`,
          statusTopic: `${id}.status`,
          deadLetterTopic: `${id}.dlq`,
          ...kafka,
        },
        schemaRegistry: { url: endpoints().registryUrl },
        redis: { url: endpoints().redisUrl, keyPrefix: id },
        http: { port: 0 },
        batch: {
          baseUrl: 'http://127.0.0.1:9/2.11',
          projects: {
            demo: { projectKey: { env: 'TEST_BATCH_PROJECT' }, restApiKey: { env: 'TEST_BATCH_KEY' } },
          },
        },
        syncs: [productSync('refused', 'refused', 'full_then_delta', 'mirror')],
      }),
    );
    return file;
  }

  const sasl = (password: string) => ({
    mechanism: 'scram-sha-512',
    username: 'catalog-sync',
    password: { env: password },
  });
  const cases: { name: string; code: string; cause: RegExp; kafka: () => Record<string, unknown> }[] = [
    {
      name: 'wrong-password',
      code: 'KAFKA_AUTH_FAILED',
      cause: /rejected the SASL credentials for user catalog-sync/,
      kafka: () => ({
        brokers: k.saslSsl,
        tls: { ca: { file: k.files.ca } },
        sasl: sasl('TEST_KAFKA_BAD_PASSWORD'),
      }),
    },
    {
      name: 'untrusted-ca',
      code: 'KAFKA_TLS_UNTRUSTED',
      cause: /certificate is not trusted/,
      kafka: () => ({
        brokers: k.saslSsl,
        tls: { ca: { file: k.files.untrustedCa } },
        sasl: sasl('TEST_KAFKA_PASSWORD'),
      }),
    },
    {
      name: 'untrusted-ca-mtls',
      code: 'KAFKA_TLS_UNTRUSTED',
      cause: /certificate is not trusted/,
      kafka: () => ({
        brokers: k.mtls,
        tls: {
          ca: { file: k.files.untrustedCa },
          cert: { file: k.files.clientCert },
          key: { env: 'TEST_KAFKA_KEY' },
        },
      }),
    },
    {
      name: 'no-client-cert',
      code: 'KAFKA_TLS_CLIENT_CERT',
      cause: /client certificate/,
      kafka: () => ({ brokers: k.mtls, tls: { ca: { file: k.files.ca } } }),
    },
    {
      name: 'plaintext-to-tls',
      code: 'KAFKA_PROTOCOL_MISMATCH',
      cause: /closed the connection before answering this SASL_PLAINTEXT client/,
      kafka: () => ({ brokers: k.saslSsl, sasl: sasl('TEST_KAFKA_PASSWORD') }),
    },
  ];

  it('wrong password, untrusted CA (SASL_SSL and mTLS), missing client certificate, plaintext to the TLS port: exit 1, one line, no secret', async () => {
    const results = [];
    // Two at a time: two cores, shared with the other test files.
    for (let i = 0; i < cases.length; i += 2) {
      results.push(
        ...(await Promise.all(
          cases
            .slice(i, i + 2)
            .map(async (c) => ({ c, r: await startCli(configFile(c.name, c.kafka()), env(), BOUND_MS) })),
        )),
      );
    }
    const keyLines = key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'));
    for (const { c, r } of results) {
      const what = `${c.name}: ${r.stderr}`;
      expect(r.code, what).toBe(1);
      expect(r.ms, what).toBeLessThan(BOUND_MS);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines, what).toHaveLength(1);
      expect(lines[0], what).toMatch(c.cause);
      expect(lines[0], what).toContain(`[${c.code}]`);
      // The instance never got as far as the consumer: it logged its start and nothing about Kafka's retries.
      expect(r.stdout, what).toContain('"msg":"starting"');
      expect(r.stdout, what).toContain('effective configuration'); // the resolved secrets, redacted
      expect(r.stdout, what).not.toContain('consuming');
      expect(r.stdout, what).not.toMatch(/KafkaJS|Retrying|at .*node_modules/);
      for (const out of [r.stdout, r.stderr]) {
        expect(out, what).not.toContain(k.user.password);
        expect(out, what).not.toContain(badPassword);
        for (const line of keyLines) expect(out, what).not.toContain(line);
      }
    }
  });
});
