/**
 * The admin REST API on two instances of one group, against the real Kafka, registry and Redis and the
 * Batch simulator: every response is checked against docs/openapi.yaml; the state written through one
 * instance is read through the other; pause holds a run's requests without losing or reordering any.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type Config, parseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { openApi } from '../helpers/openapi.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const TOKEN = 'admin-test-token-5f1c';

type Fixture = Awaited<ReturnType<typeof pipelineFixture>>;
/** A response body, as the OpenAPI check has already validated it. */
// biome-ignore lint/suspicious/noExplicitAny: bodies are checked against docs/openapi.yaml first
type Json = any;

describe('admin REST API (integration)', () => {
  let fx: Fixture | undefined;
  const services: CatalogSyncService[] = [];
  afterEach(async () => {
    for (const s of services.splice(0)) await s.stop().catch(() => undefined);
    await fx?.close();
    fx = undefined;
  });

  function adminConfig(f: Fixture, admin: Record<string, unknown>): Config {
    return parseConfig({ ...f.raw, admin }, { ...f.env, TEST_ADMIN_TOKEN: TOKEN });
  }

  /** The run's state once done or held (fx.runDone reads the fixture's own instances). */
  function runDone(svc: CatalogSyncService, syncId: string, runId: string) {
    return eventually(
      `run ${runId} of ${syncId} done or held`,
      async () => {
        const info = await svc.state(syncId).runInfo(runId);
        return info && (info.state === 'done' || info.state === 'held') ? info : undefined;
      },
      60_000,
    );
  }

  async function instance(config: Config, suffix: string, logs?: Record<string, unknown>[]) {
    const logger = createLogger({
      level: logs ? 'info' : 'warn',
      ...(logs ? { destination: { write: (line: string) => void logs.push(JSON.parse(line)) } } : {}),
    });
    const svc = new CatalogSyncService(
      { ...config, instanceId: `${config.instanceId}-${suffix}` },
      {},
      logger,
    );
    services.push(svc);
    const port = await svc.listen();
    await svc.start();
    return { svc, port };
  }

  it('lists, pauses and resumes, releases, resyncs; any instance answers; responses match the OpenAPI file', async () => {
    const oa = await openApi();
    fx = await pipelineFixture([productSync('shop', 'products', 'full_then_delta', 'mirror')]);
    const config = adminConfig(fx, { token: { env: 'TEST_ADMIN_TOKEN' } });
    const logs: Record<string, unknown>[] = [];
    const a = await instance(config, 'a', logs);
    const b = await instance(config, 'b', logs);

    const call = async (
      port: number,
      method: 'GET' | 'POST',
      path: string,
      template: string,
      opts: { token?: string; body?: unknown } = {},
    ) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        method,
        headers: {
          ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
          ...(opts.body ? { 'content-type': 'application/json' } : {}),
        },
        ...(opts.body ? { body: JSON.stringify(opts.body) } : {}),
      });
      const body = (await res.json()) as Record<string, unknown> & { [k: string]: never };
      oa.check(method, template, res.status, body);
      return { status: res.status, body: body as Json };
    };

    // A full run of 40, then a full run of 10: its 30 deletions are above the guardrail, so held.
    const r1 = await fx.produce('shop', 'FULL', products(1, 40));
    await runDone(a.svc, 'shop', r1.runId);
    const r2 = await fx.produce('shop', 'FULL', products(1, 10));
    const held = await runDone(a.svc, 'shop', r2.runId);
    expect(held.state).toBe('held');

    const list = await call(b.port, 'GET', '/api/syncs', '/api/syncs');
    expect(list.status).toBe(200);
    const shop = list.body.syncs[0];
    expect(shop).toMatchObject({
      syncId: 'shop',
      destination: 'batch:products',
      mode: 'full_then_delta',
      operation: 'mirror',
      members: 40,
      fingerprints: { count: 40, epoch: 0 },
      paused: null,
      heldDeletions: [{ runId: r2.runId, count: 30 }],
    });
    expect(shop.runs.map((r: { runId: string; state: string }) => [r.runId, r.state])).toEqual([
      [r2.runId, 'held'],
    ]);
    expect(shop.rateLimit.account).toEqual(expect.any(String));
    const runs = await call(a.port, 'GET', '/api/syncs/shop/runs?limit=10', '/api/syncs/{sync}/runs');
    expect(runs.body.history.map((h: { runId: string; type: string }) => [h.runId, h.type])).toEqual([
      [r2.runId, 'DELETIONS_HELD'],
      [r1.runId, 'RUN_COMPLETED'],
    ]);
    expect(runs.body.history[1].counts).toMatchObject({ upserted: 40, removed: 0 });
    expect((await call(a.port, 'GET', '/api/syncs/nope', '/api/syncs/{sync}')).body.code).toBe(
      'UNKNOWN_SYNC',
    );
    expect(
      (await call(a.port, 'GET', '/api/syncs/shop/runs?limit=0', '/api/syncs/{sync}/runs')).body.code,
    ).toBe('BAD_REQUEST');

    // Mutations need the token.
    const release = `/api/syncs/shop/runs/${encodeURIComponent(r2.runId)}/release`;
    const releaseT = '/api/syncs/{sync}/runs/{run}/release';
    expect((await call(a.port, 'POST', release, releaseT)).status).toBe(401);
    expect((await call(a.port, 'POST', release, releaseT, { token: 'wrong' })).status).toBe(401);

    // Pause through A: B sees it; a delta run is consumed but nothing of it is sent.
    const paused = await call(a.port, 'POST', '/api/syncs/shop/pause', '/api/syncs/{sync}/pause', {
      token: TOKEN,
      body: { reason: 'catalog maintenance' },
    });
    expect(paused.body.paused).toMatchObject({
      by: expect.stringContaining('admin-api@'),
      reason: 'catalog maintenance',
    });
    expect((await call(b.port, 'GET', '/api/syncs/shop', '/api/syncs/{sync}')).body.paused.reason).toBe(
      'catalog maintenance',
    );
    const metrics = await (await fetch(`http://127.0.0.1:${b.port}/metrics`)).text();
    expect(metrics).toContain('catalog_sync_paused{sync="shop"} 1');
    const refused = await call(b.port, 'POST', release, releaseT, { token: TOKEN });
    expect([refused.status, refused.body.code]).toEqual([409, 'SYNC_PAUSED']);

    const before = new Map(fx.items('products'));
    const r3 = await fx.produce('shop', 'DELTA', [
      ...products(41, 45),
      ...products(1, 3, { name: 'renamed' }),
    ]);
    // Every row of r3 is in a request that waits for the pause (the pipelines log each waiting one).
    await eventually(
      'all 8 changes waiting for the pause',
      () => {
        const waiting = logs
          .filter((l) => l.msg === 'sync paused by an operator: a request waits')
          .reduce((n, l) => n + Number(l.items), 0);
        return waiting >= 8 ? true : undefined;
      },
      60_000,
    );
    const info = await a.svc.state('shop').runInfo(r3.runId);
    expect(info?.settled).toBe(0);
    expect(fx.items('products').size).toBe(before.size);
    expect(fx.items('products').get('sku-1')?.name).toBe('Product 1');

    const resumed = await call(b.port, 'POST', '/api/syncs/shop/resume', '/api/syncs/{sync}/resume', {
      token: TOKEN,
    });
    expect(resumed.body).toEqual({ syncId: 'shop', paused: null, wasPaused: true });
    const done = await runDone(a.svc, 'shop', r3.runId);
    expect(done).toMatchObject({ state: 'done', upserted: 8, rejected: 0 });
    expect(fx.items('products').get('sku-1')?.name).toBe('renamed');
    expect(fx.items('products').get('sku-45')?.name).toBe('Product 45');

    // Release the held run through B: its deletions spare what the later run upserted.
    const released = await call(b.port, 'POST', release, releaseT, { token: TOKEN });
    expect(released.body).toEqual({ syncId: 'shop', runId: r2.runId, released: true, count: 30 });
    const ids = [...fx.items('products').keys()].sort();
    expect(ids).toEqual([...products(1, 10), ...products(41, 45)].map((p) => p.sku).sort());
    const again = await call(a.port, 'POST', release, releaseT, { token: TOKEN });
    expect(again.body).toMatchObject({ released: false, count: 0 });
    const discard = await call(
      a.port,
      'POST',
      `/api/syncs/shop/runs/${encodeURIComponent(r2.runId)}/discard`,
      '/api/syncs/{sync}/runs/{run}/discard',
      { token: TOKEN },
    );
    expect(discard.body).toMatchObject({ discarded: false, count: 0 });

    // Resync: the fingerprint epoch moves, so an identical full run is sent again, not skipped.
    const resync = await call(a.port, 'POST', '/api/syncs/shop/resync', '/api/syncs/{sync}/resync', {
      token: TOKEN,
    });
    expect(resync.body).toEqual({ syncId: 'shop', fingerprintsCleared: true });
    const after = await call(b.port, 'GET', '/api/syncs/shop', '/api/syncs/{sync}');
    expect(after.body.fingerprints.epoch).toBe(1);
    expect(after.body.heldDeletions).toEqual([]);
    const r4 = await fx.produce('shop', 'FULL', [...products(1, 10), ...products(41, 45)]);
    expect(await runDone(a.svc, 'shop', r4.runId)).toMatchObject({ upserted: 15, skipped: 0 });

    const history = await call(b.port, 'GET', '/api/syncs/shop/runs', '/api/syncs/{sync}/runs');
    const completed = history.body.history.filter((h: { type: string }) => h.type === 'RUN_COMPLETED');
    expect(completed.map((h: { runId: string }) => h.runId)).toEqual([
      r4.runId,
      r2.runId,
      r3.runId,
      r1.runId,
    ]);
    const rejections = await call(
      a.port,
      'GET',
      '/api/syncs/shop/rejections',
      '/api/syncs/{sync}/rejections',
    );
    expect(rejections.body.rejections).toEqual([]);
  }, 180_000);

  it('records rejections with their reasons; reads can require the token; no token configured refuses mutations', async () => {
    const oa = await openApi();
    fx = await pipelineFixture([productSync('rej', 'products', 'full_then_delta', 'upsert')]);
    const protectedReads = await instance(
      adminConfig(fx, { token: { env: 'TEST_ADMIN_TOKEN' }, protectReads: true }),
      'p',
    );
    const noToken = await instance(adminConfig(fx, {}), 'n');
    // A name over Batch's 10,000-character string limit is rejected alone.
    const run = await fx.produce('rej', 'DELTA', [
      ...products(1, 3),
      ...products(4, 4, { name: 'x'.repeat(10_001) }),
    ]);
    await runDone(noToken.svc, 'rej', run.runId);

    const get = async (port: number, path: string, template: string, token?: string) => {
      const res = await fetch(`http://127.0.0.1:${port}${path}`, {
        headers: token ? { authorization: `Bearer ${token}` } : {},
      });
      const body = (await res.json()) as Json;
      oa.check('GET', template, res.status, body);
      return { status: res.status, body };
    };
    expect((await get(protectedReads.port, '/api/syncs', '/api/syncs')).status).toBe(401);
    const page = await fetch(`http://127.0.0.1:${protectedReads.port}/status/live`);
    expect(page.status).toBe(401);
    const rejections = await get(
      protectedReads.port,
      '/api/syncs/rej/rejections',
      '/api/syncs/{sync}/rejections',
      TOKEN,
    );
    expect(rejections.body.rejections).toEqual([
      expect.objectContaining({
        type: 'ITEM_REJECTED',
        // Rejected by the destination's checks, which see requests, not runs.
        runId: null,
        itemIds: ['sku-4'],
        errorCode: expect.stringMatching(/^ITEM_/),
        message: expect.any(String),
      }),
    ]);
    // Open reads on the other instance, same group state.
    expect(
      (await get(noToken.port, '/api/syncs/rej/rejections', '/api/syncs/{sync}/rejections')).body,
    ).toEqual(rejections.body);
    const res = await fetch(`http://127.0.0.1:${noToken.port}/api/syncs/rej/pause`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = (await res.json()) as { code: string };
    oa.check('POST', '/api/syncs/{sync}/pause', res.status, body);
    expect([res.status, body.code]).toEqual([403, 'ADMIN_DISABLED']);
    expect(await noToken.svc.state('rej').runInfo(run.runId)).toMatchObject({ state: 'done' });
  }, 120_000);
});
