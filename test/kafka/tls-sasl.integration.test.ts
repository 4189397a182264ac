/**
 * Kafka over TLS and SASL against a real broker (test/helpers/secure-kafka.ts): real syncs end to end
 * over SASL_SSL with SCRAM-SHA-512 and over mTLS, `produce` and `status tail` through the CLI, every
 * SASL mechanism, and no secret in any log line. The registry and Redis are the shared stack's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify as toYaml } from 'yaml';
import { parseConfig } from '../../src/config/config.js';
import { checkKafkaAccess, connectionOf, KafkaAccessError } from '../../src/kafka/client.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { type SecureKafka, startSecureKafka, unsecuredJwt } from '../helpers/secure-kafka.js';
import { endpoints } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

/** Runs the CLI; `until` ends it with SIGINT once its stdout matches (status tail runs until stopped). */
function cli(args: string[], env: NodeJS.ProcessEnv, opts: { until?: (out: string) => boolean } = {}) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 45_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.until?.(stdout)) child.kill('SIGINT');
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('Kafka over TLS and SASL (integration, own broker)', () => {
  let k: SecureKafka;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let dir: string;

  beforeAll(async () => {
    k = await startSecureKafka();
    dir = mkdtempSync(join(tmpdir(), 'catalog-sync-tls-test-'));
    process.stderr.write(
      `[secure-kafka] SASL_SSL ${k.saslSsl}, mTLS ${k.mtls}, started in ${k.startedInMs} ms\n`,
    );
  }, 120_000);
  afterAll(async () => {
    await k?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('a Mirror sync runs end to end over SASL_SSL with SCRAM-SHA-512, produce and status tail through the CLI, and logs no secret', async () => {
    fx = await pipelineFixture([productSync('tls-scram', 'tls_scram', 'full_then_delta', 'mirror')], {
      kafka: {
        brokers: k.saslSsl,
        tls: { ca: { file: k.files.ca } },
        sasl: { mechanism: 'scram-sha-512', username: k.user.name, password: { env: 'TEST_KAFKA_PASSWORD' } },
      },
      kafkaEnv: { TEST_KAFKA_PASSWORD: k.user.password },
    });
    const logs: Record<string, unknown>[] = [];
    await fx.startInstance('a', { logs, level: 'trace' });
    const first = await fx.produce('tls-scram', 'FULL', products(1, 30));
    await fx.runDone('tls-scram', first.runId);
    expect(fx.items('tls_scram').size).toBe(30);

    // The second full run goes through `produce` with the same config file: 5 rows fewer, 5 deletions.
    const config = join(dir, 'scram.yaml');
    writeFileSync(config, toYaml(fx.raw));
    const rows = join(dir, 'rows.ndjson');
    writeFileSync(
      rows,
      `${products(1, 25)
        .map((r) => JSON.stringify(r))
        .join('\n')}\n`,
    );
    const produced = await cli(
      ['produce', '--sync', 'tls-scram', '--run', 'full', '--file', rows, '--config', config],
      fx.env,
    );
    expect(produced.stderr).toBe('');
    expect(produced.code).toBe(0);
    const runId = /full run (\S+) \(seq/.exec(produced.stdout)?.[1];
    expect(runId).toBeDefined();
    const done = await fx.runDone('tls-scram', runId!);
    expect(done.state).toBe('done');
    expect(fx.items('tls_scram').size).toBe(25);

    const tail = await cli(
      ['status', 'tail', '--sync', 'tls-scram', '--from-beginning', '-c', config],
      fx.env,
      {
        until: (out) => out.split('RUN_COMPLETED').length > 2,
      },
    );
    expect(tail.stdout.split('RUN_COMPLETED').length).toBeGreaterThan(2);
    expect(tail.stdout).toContain(runId!);

    const everything = [JSON.stringify(logs), produced.stdout, produced.stderr, tail.stdout, tail.stderr];
    expect(logs.some((l) => l.msg === 'starting' && l.kafkaSecurity === 'SASL_SSL/scram-sha-512')).toBe(true);
    for (const text of everything) expect(text).not.toContain(k.user.password);
  });

  it('a Mirror sync runs end to end over mTLS (client certificate, key from the environment)', async () => {
    const key = readFileSync(k.files.clientKey, 'utf8');
    fx = await pipelineFixture([productSync('tls-mtls', 'tls_mtls', 'full_then_delta', 'mirror')], {
      kafka: {
        brokers: k.mtls,
        tls: { ca: { file: k.files.ca }, cert: { file: k.files.clientCert }, key: { env: 'TEST_KAFKA_KEY' } },
      },
      kafkaEnv: { TEST_KAFKA_KEY: key },
    });
    const logs: Record<string, unknown>[] = [];
    await fx.startInstance('a', { logs, level: 'trace' });
    const full = await fx.produce('tls-mtls', 'FULL', products(1, 20));
    await fx.runDone('tls-mtls', full.runId);
    const delta = await fx.produce('tls-mtls', 'DELTA', products(21, 22), ['sku-1', 'sku-2']);
    await fx.runDone('tls-mtls', delta.runId);
    const items = fx.items('tls_mtls');
    expect(items.size).toBe(20);
    expect(items.has('sku-1')).toBe(false);
    expect(items.has('sku-22')).toBe(true);
    expect(logs.some((l) => l.kafkaSecurity === 'SSL+client-cert')).toBe(true);
    // No line of the key's body (the base64 between the PEM markers) appears in any log.
    const text = JSON.stringify(logs);
    for (const line of key.split('\n').filter((l) => l.length > 20 && !l.startsWith('-----'))) {
      expect(text).not.toContain(line);
    }
  });

  it('PLAIN, SCRAM-SHA-256 and OAUTHBEARER (token file and token command) authenticate; a wrong password fails at once', async () => {
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, `${unsecuredJwt('catalog-sync')}\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, TEST_KAFKA_PASSWORD: k.user.password, TEST_BATCH: 'x' };
    delete env.KAFKA_BROKERS;
    const kafkaOf = (sasl: Record<string, unknown>) =>
      parseConfig(
        {
          kafka: { brokers: k.saslSsl, tls: { ca: { file: k.files.ca } }, sasl },
          schemaRegistry: { url: endpoints().registryUrl },
          batch: {
            projects: { p: { projectKey: { env: 'TEST_BATCH' }, restApiKey: { env: 'TEST_BATCH' } } },
          },
          syncs: [
            productSync('s', 'c', 'full_only', 'upsert', {
              destination: { type: 'batch', project: 'p', catalog: 'c' },
            }),
          ],
        },
        env,
      ).kafka;
    const password = { env: 'TEST_KAFKA_PASSWORD' };
    for (const sasl of [
      { mechanism: 'plain', username: k.user.name, password },
      { mechanism: 'scram-sha-256', username: k.user.name, password },
      { mechanism: 'oauthbearer', tokenFile },
      { mechanism: 'oauthbearer', tokenCommand: `cat '${tokenFile}'` },
    ]) {
      await expect(
        checkKafkaAccess(connectionOf(kafkaOf(sasl))),
        JSON.stringify(sasl),
      ).resolves.toBeUndefined();
    }
    const started = Date.now();
    const err = await checkKafkaAccess(
      connectionOf(
        kafkaOf({ mechanism: 'scram-sha-256', username: k.user.name, password: { env: 'TEST_BATCH' } }),
      ),
    ).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KafkaAccessError);
    expect((err as KafkaAccessError).code).toBe('KAFKA_AUTH_FAILED');
    expect((err as KafkaAccessError).retriable).toBe(false);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
