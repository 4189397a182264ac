import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { pipelineFixture, productSync } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const get = async (port: number, path: string) => {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
};

describe('health probes (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  const services: CatalogSyncService[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop().catch(() => undefined);
    await fx?.close();
    fx = undefined;
  });

  it('/healthz answers at once; /readyz is 503 with a reason until the consumer joins its group, then 200', async () => {
    fx = await pipelineFixture([productSync('probe', 'products', 'full_then_delta', 'upsert')]);
    const svc = new CatalogSyncService(
      { ...fx.config, instanceId: `${fx.name}-probe` },
      {},
      createLogger({ level: 'warn' }),
    );
    services.push(svc);
    const port = await svc.listen();
    expect(port).toBeGreaterThan(0);

    expect((await get(port, '/healthz')).status).toBe(200);
    const before = await get(port, '/readyz');
    expect(before.status).toBe(503);
    const reason = JSON.parse(before.body) as { ready: boolean; checks: Record<string, unknown> };
    expect(reason.ready).toBe(false);
    expect(reason.checks.kafka).toBe('consumer not started');
    expect(JSON.parse(before.body).reasons).toContain('consumer not started');

    await svc.start();
    const ready = await eventually('/readyz 200', async () => {
      const r = await get(port, '/readyz');
      return r.status === 200 ? r : undefined;
    });
    expect(JSON.parse(ready.body).checks).toEqual({
      redis: true,
      state: true,
      schemaRegistry: true,
      kafka: true,
    });
    expect((await get(port, '/nope')).status).toBe(404);

    await svc.stop();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('an instance beyond the partition count is ready: an idle member of the group', async () => {
    fx = await pipelineFixture([productSync('idle', 'products', 'full_then_delta', 'upsert')], {
      cdcPartitions: 1,
    });
    const instances = [await fx.startInstance(), await fx.startInstance()];
    const bodies = await Promise.all(
      instances.map(async (svc) => {
        const port = await svc.listen();
        return eventually(
          `/readyz 200 on ${svc.config.instanceId}`,
          async () => {
            const r = await get(port, '/readyz');
            return r.status === 200
              ? (JSON.parse(r.body) as { partitions: number[]; reasons: string[] })
              : undefined;
          },
          60_000,
        );
      }),
    );
    // Once both joined, one holds the only partition and the other idles; both ready, no reason given.
    const partitions = await eventually('one partition, one idle member', async () => {
      const now = await Promise.all(instances.map((s) => s.readiness()));
      const held = now.map((r) => r.partitions ?? []);
      return now.every((r) => r.ready) && held.flat().length === 1 ? held : undefined;
    });
    expect(partitions.map((p) => p.length).sort()).toEqual([0, 1]);
    for (const b of bodies) expect(b.reasons).toEqual([]);
  });

  it('/readyz names an unreachable schema registry', async () => {
    fx = await pipelineFixture([productSync('probe', 'products', 'full_then_delta', 'upsert')]);
    const svc = new CatalogSyncService(
      { ...fx.config, schemaRegistry: { url: 'http://127.0.0.1:9' } },
      {},
      createLogger({ level: 'warn' }),
    );
    services.push(svc);
    const port = await svc.listen();
    const r = await get(port, '/readyz');
    expect(r.status).toBe(503);
    expect(JSON.parse(r.body).checks.schemaRegistry).toMatch(/^schema registry unreachable/);
  });
});
