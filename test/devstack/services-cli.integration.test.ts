/** `services:up --json` against the running stack: every service reused, nothing started or stopped. */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { endpoints } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../devstack/cli.ts', import.meta.url));

async function up(env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'up', '--json'], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stderr.on('data', (d) => {
    stderr += d;
  });
  const [code] = await once(child, 'close');
  return { code: code as number, stdout, stderr };
}

describe('services:up --json (integration)', { timeout: 60_000 }, () => {
  it('prints one JSON object: the endpoints, what it started and what it reused', async () => {
    const ep = endpoints();
    const env = {
      ...process.env,
      KAFKA_BROKERS: ep.kafkaBrokers,
      SCHEMA_REGISTRY_URL: ep.registryUrl,
      REDIS_URL: ep.redisUrl,
    };
    const r = await up(env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: true,
      seconds: expect.any(Number),
      started: [],
      reused: ['kafka', 'schema-registry', 'redis'],
      endpoints: { kafkaBrokers: ep.kafkaBrokers, registryUrl: ep.registryUrl, redisUrl: ep.redisUrl },
      env: { KAFKA_BROKERS: ep.kafkaBrokers, SCHEMA_REGISTRY_URL: ep.registryUrl, REDIS_URL: ep.redisUrl },
    });
  });

  it('a failure prints {"ok":false} with the reason and what it stopped, exit 1', async () => {
    const ep = endpoints();
    const r = await up({
      ...process.env,
      KAFKA_BROKERS: ep.kafkaBrokers,
      // Not local, so never started here: fails before anything starts.
      SCHEMA_REGISTRY_URL: 'http://192.0.2.1:18090/apis/ccompat/v7',
      REDIS_URL: ep.redisUrl,
    });
    expect(r.code).toBe(1);
    expect(JSON.parse(r.stdout)).toEqual({
      ok: false,
      error: expect.stringContaining('not local, so not started here'),
      stopped: [],
    });
  });
});
