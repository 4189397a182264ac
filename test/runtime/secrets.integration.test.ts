import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { type Simulator, startSimulator } from '../../tools/simulator/server.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { endpoints, eventually, testRedis } from '../helpers/services.js';
import { recordsAsText } from '../helpers/topics.js';

describe('secrets stay out of logs, status events and dead letters (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let sim: Simulator | undefined;
  let service: CatalogSyncService | undefined;
  const redisUser = `catalog-sync-test-${randomUUID().slice(0, 8)}`;
  afterEach(async () => {
    await service?.stop().catch(() => undefined);
    await sim?.close();
    await fx?.close();
    const admin = testRedis();
    await admin.call('ACL', 'DELUSER', redisUser);
    await admin.quit();
  });

  it('a real sync at trace level with a Redis password, retries and rejections leaks none of them', async () => {
    const secret = {
      projectKey: `pk-${randomUUID()}`,
      restApiKey: `rk-${randomUUID()}`,
      redisPassword: `pw-${randomUUID()}`,
    };
    const admin = testRedis();
    await admin.call('ACL', 'SETUSER', redisUser, 'on', `>${secret.redisPassword}`, '~*', '&*', '+@all');
    await admin.quit();
    const redisUrl = new URL(endpoints().redisUrl);
    redisUrl.username = redisUser;
    redisUrl.password = secret.redisPassword;

    fx = await pipelineFixture([productSync('secret', 'secrets', 'full_then_delta', 'mirror')]);
    sim = await startSimulator({
      port: 0,
      batch: {
        indexingDelayMs: 20,
        projects: [{ projectKey: secret.projectKey, restApiKey: secret.restApiKey }],
      },
    });
    const config = parseConfig(
      {
        ...fx.raw,
        logLevel: 'trace',
        redis: { url: redisUrl.toString(), keyPrefix: fx.name },
        batch: { ...fx.raw.batch, baseUrl: sim.batchUrl },
      },
      {
        ...fx.env,
        REDIS_URL: redisUrl.toString(),
        TEST_BATCH_PROJECT: secret.projectKey,
        TEST_BATCH_KEY: secret.restApiKey,
      },
    );
    const lines: string[] = [];
    const logger = createLogger({ level: 'trace', destination: { write: (s: string) => lines.push(s) } });
    expect(config.redis.url).toContain(secret.redisPassword);
    service = new CatalogSyncService(config, {}, logger);
    await service.start();

    sim.batch.faults.set({ serverErrorRate: 0.3 });
    const rows = [...products(1, 30), { sku: 'bad-1', name: 'Bad', price: 'not a number', in_stock: true }];
    const run = await fx.produce('secret', 'FULL', rows);
    await fx.produce('no-such-sync', 'FULL', products(1, 2));
    const state = service.state('secret');
    const info = await eventually('the run done', async () => {
      const i = await state.runInfo(run.runId);
      return i?.state === 'done' ? i : undefined;
    });
    expect(info.upserted).toBe(30);
    expect(info.rejected).toBe(1);
    await service.stop();
    service = undefined;

    const logs = lines.join('');
    const status = await recordsAsText(config.kafka.statusTopic);
    const deadLetters = await recordsAsText(config.kafka.deadLetterTopic);
    // The checks below must have something to look at: debug lines, the redacted URL, the events.
    expect(lines.filter((l) => l.startsWith('{"level":20')).length).toBeGreaterThan(3);
    expect(logs).toContain(`redis://${redisUser}:redacted@`);
    expect(logs).toContain('"projectKey":"[redacted]"');
    expect(status.length).toBeGreaterThan(5);
    expect(deadLetters.length).toBeGreaterThanOrEqual(5);
    for (const [name, value] of Object.entries(secret)) {
      expect(logs.includes(value), `${name} in the logs`).toBe(false);
      expect(
        status.some((r) => r.includes(value)),
        `${name} on the status topic`,
      ).toBe(false);
      expect(
        deadLetters.some((r) => r.includes(value)),
        `${name} on the dead-letter topic`,
      ).toBe(false);
    }
  });
});
