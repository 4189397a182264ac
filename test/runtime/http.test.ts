import { Gauge, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.js';
import { type OpsServer, startOpsServer } from '../../src/runtime/http.js';

describe('ops HTTP server', () => {
  let ops: OpsServer | undefined;
  afterEach(async () => {
    await ops?.close();
    ops = undefined;
  });

  async function serve(readiness: () => Promise<{ ready: boolean; checks: Record<string, true | string> }>) {
    const registry = new Registry();
    new Gauge({ name: 'demo_gauge', help: 'a gauge', registers: [registry] }).set(3);
    new Gauge({
      name: 'broken_gauge',
      help: 'fails when scraped while broken',
      registers: [registry],
      collect() {
        if (broken) throw new Error('source down');
      },
    });
    let broken = false;
    ops = await startOpsServer({
      port: 0,
      host: '127.0.0.1',
      registry,
      readiness,
      logger: createLogger({ level: 'silent' }),
    });
    return { url: `http://127.0.0.1:${ops.port}`, breakMetrics: () => (broken = true) };
  }

  it('serves metrics in the Prometheus text format, and 500 when a collector fails', async () => {
    const { url, breakMetrics } = await serve(async () => ({ ready: true, checks: {} }));
    const res = await fetch(`${url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain');
    expect(await res.text()).toMatch(/^demo_gauge 3$/m);
    breakMetrics();
    expect((await fetch(`${url}/metrics`)).status).toBe(500);
  });

  it('/readyz is 503 with the failing checks, or when the check itself throws; other methods get 405', async () => {
    let state: 'down' | 'throws' | 'up' = 'down';
    const { url } = await serve(async () => {
      if (state === 'throws') throw new Error('probe broke');
      return state === 'up'
        ? { ready: true, checks: { redis: true } }
        : { ready: false, checks: { redis: 'redis connection is reconnecting' } };
    });
    let res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      status: 'not ready',
      ready: false,
      checks: { redis: 'redis connection is reconnecting' },
    });
    state = 'throws';
    res = await fetch(`${url}/readyz`);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { reason: string }).reason).toContain('probe broke');
    state = 'up';
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });
});
