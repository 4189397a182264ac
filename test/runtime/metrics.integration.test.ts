import { afterEach, describe, expect, it } from 'vitest';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

/** Sum of the samples of `name` whose labels include `labels`. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum = (sum ?? 0) + Number(m[3]);
  }
  return sum;
}

describe('/metrics after a small sync (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    fx?.sim.batch.faults.clear();
    await fx?.close();
    fx = undefined;
  });

  it('counts events, items, 429s, retries, token waits and request latency; gauges runs and held deletions', async () => {
    fx = await pipelineFixture([productSync('m', 'products', 'full_then_delta', 'mirror')]);
    const svc = await fx.startInstance();
    const port = await svc.listen();
    const scrape = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();

    // The simulator answers 429 while the window lasts, with a Retry-After of what is left of it: a short
    // window, renewed until a 429 was counted, keeps the pause short whenever the first request comes.
    const r1 = await fx.produce('m', 'FULL', products(1, 20));
    await eventually('a 429 counted', async () => {
      fx!.sim.batch.faults.set({ force429UntilMs: Date.now() + 1000 });
      const n = sample(await scrape(), 'catalog_sync_destination_rate_limited_total', { sync: 'm' });
      return n && n > 0 ? n : undefined;
    });
    fx.sim.batch.faults.clear();
    await fx.runDone('m', r1.runId);
    // Unchanged rows are skipped; a full run dropping 15 of 20 members trips the guardrail.
    await fx.runDone('m', (await fx.produce('m', 'FULL', products(1, 20))).runId);
    const held = await fx.runDone('m', (await fx.produce('m', 'FULL', products(1, 5))).runId);
    expect(held.state).toBe('held');

    const text = await scrape();
    // Consumed events count redeliveries too (the consumer re-fetches from the last resolved offset).
    const events = (type: string) => sample(text, 'catalog_sync_events_total', { sync: 'm', type });
    expect(events('ROW_UPSERTED')).toBeGreaterThanOrEqual(45);
    expect(events('RUN_STARTED')).toBeGreaterThanOrEqual(3);
    expect(events('RUN_ENDED')).toBeGreaterThanOrEqual(3);
    expect(sample(text, 'catalog_sync_items_total', { sync: 'm', outcome: 'sent' })).toBeGreaterThanOrEqual(
      20,
    );
    expect(
      sample(text, 'catalog_sync_items_total', { sync: 'm', outcome: 'skipped' }),
    ).toBeGreaterThanOrEqual(25);
    expect(sample(text, 'catalog_sync_items_total', { sync: 'm', outcome: 'rejected' })).toBeUndefined();
    expect(sample(text, 'catalog_sync_destination_retries_total', { sync: 'm' })).toBeGreaterThan(0);
    expect(
      sample(text, 'catalog_sync_destination_request_duration_seconds_count', {
        destination: 'batch',
        endpoint: '/catalogs/items/edit',
        status: '429',
      }),
    ).toBeGreaterThan(0);
    expect(
      sample(text, 'catalog_sync_destination_request_duration_seconds_count', {
        endpoint: '/catalogs/items/edit',
        status: '202',
      }),
    ).toBeGreaterThan(0);
    expect(sample(text, 'catalog_sync_token_wait_seconds_count', { sync: 'm' })).toBeGreaterThan(0);
    expect(sample(text, 'catalog_sync_runs_in_progress', { sync: 'm' })).toBe(1);
    expect(sample(text, 'catalog_sync_deletions_held', { sync: 'm' })).toBe(15);
    expect(sample(text, 'catalog_sync_buffer_queued_items', { sync: 'm' })).toBe(0);
    const lag = [...text.matchAll(/^catalog_sync_consumer_lag\{partition="(\d+)"\} (\S+)$/gm)];
    expect(lag.length).toBeGreaterThan(0);
    for (const [, , v] of lag) expect(Number(v)).toBeGreaterThanOrEqual(0);
  });
});
