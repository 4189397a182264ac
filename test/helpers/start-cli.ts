import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify as toYaml } from 'yaml';
import { PROJECT, productSync } from './pipeline.js';
import { endpoints, unique } from './services.js';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

export interface StartResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `catalog-sync start --config <file>` as a child process, killed after `limitMs` if still running. */
export function startCli(config: string, env: NodeJS.ProcessEnv, limitMs = 40_000): Promise<StartResult> {
  return new Promise((resolve, reject) => {
    const began = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', '--config', config], { env });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), limitMs);
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - began });
    });
  });
}

/**
 * Writes a one-sync configuration for a `start` that must be refused, on the shared stack unless
 * `overrides` (schemaRegistry, redis...) point elsewhere. The Batch endpoint is never reached.
 */
export function writeRefusedConfig(file: string, overrides: Record<string, unknown>): void {
  writeFileSync(
    file,
    toYaml({
      instanceId: unique('refused'),
      kafka: { brokers: endpoints().kafkaBrokers, groupId: unique('refused') },
      schemaRegistry: { url: endpoints().registryUrl },
      redis: { url: endpoints().redisUrl, keyPrefix: unique('refused') },
      http: { port: 0 },
      batch: {
        baseUrl: 'http://127.0.0.1:9/2.11',
        projects: {
          demo: { projectKey: { env: 'TEST_BATCH_PROJECT' }, restApiKey: { env: 'TEST_BATCH_KEY' } },
        },
      },
      syncs: [productSync('refused', 'refused', 'full_then_delta', 'upsert')],
      ...overrides,
    }),
  );
}

/** The environment of such a start: the Batch secrets, and none of the stack's endpoint overrides. */
export function refusalEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEST_BATCH_PROJECT: PROJECT.projectKey,
    TEST_BATCH_KEY: PROJECT.restApiKey,
    LOG_PRETTY: '0',
    ...extra,
  };
  for (const name of ['REDIS_URL', 'REDIS_KEY_PREFIX', 'KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL'])
    delete env[name];
  return env;
}
