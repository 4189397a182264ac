import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { BatchEvent } from '../../src/destinations/batch/index.js';
import { ServiceMetrics } from '../../src/runtime/metrics.js';

const noSources = {
  assignedPartitions: () => [],
  queued: () => [],
  runs: async () => [],
};

async function server(status: number): Promise<{ server: Server; url: string }> {
  const s = createServer((_req, res) => {
    res.writeHead(status);
    res.end('{}');
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return { server: s, url: `http://127.0.0.1:${(s.address() as AddressInfo).port}` };
}

describe('ServiceMetrics', () => {
  const servers: Server[] = [];
  const stops: (() => void)[] = [];
  afterEach(() => {
    for (const stop of stops.splice(0)) stop();
    for (const s of servers.splice(0)) s.close();
  });

  it('times fetches to a destination base URL by endpoint and status, and nothing else', async () => {
    const batch = await server(202);
    const other = await server(200);
    servers.push(batch.server, other.server);
    const m = new ServiceMetrics(noSources);
    stops.push(m.observeHttp([{ name: 'batch', baseUrl: `${batch.url}/2.11` }]));

    await (await fetch(`${batch.url}/2.11/catalogs/items/edit?x=1`, { method: 'POST', body: '{}' })).text();
    await (await fetch(`${batch.url}/2.11/catalogs/items/edit`, { method: 'POST', body: '{}' })).text();
    await (await fetch(`${batch.url}/2.10/catalogs/view`)).text();
    await (await fetch(`${other.url}/2.11/catalogs/view`)).text();
    await expect(fetch('http://127.0.0.1:9/2.11/catalogs/view')).rejects.toThrow();

    const { values } = await m.requestDuration.get();
    const counts = values
      .filter((v) => v.metricName === 'catalog_sync_destination_request_duration_seconds_count')
      .map((v) => ({ ...v.labels, n: v.value }));
    expect(counts).toEqual([{ destination: 'batch', endpoint: '/catalogs/items/edit', status: '202', n: 2 }]);
  });

  it('counts items off status events and 429s off destination events; gauges read their sources', async () => {
    const m = new ServiceMetrics({
      assignedPartitions: () => [0],
      queued: () => [['s', 7]],
      runs: async () => [['s', { inProgress: 2, held: 15 }]],
    });
    m.observeStatus({ syncId: 's', type: 'REQUEST_ACCEPTED', itemIds: ['a', 'b', 'c'] });
    m.observeStatus({ syncId: 's', type: 'ITEMS_SKIPPED', itemIds: ['d'] });
    m.observeStatus({ syncId: 's', type: 'DEAD_LETTER', errorCode: 'UNKNOWN_SYNC' });
    const retried: BatchEvent = {
      type: 'request_retried',
      catalog: 'c',
      itemIds: ['a'],
      attempt: 1,
      code: 'X',
      delayMs: 1,
    };
    m.observeDestinationEvent('s', 'batch:c', { ...retried, status: 429 });
    m.observeDestinationEvent('s', 'batch:c', { ...retried, status: 503 });
    m.setLag(0, 4);
    m.setLag(1, 9);
    const text = await m.registry.metrics();
    expect(text).toContain('catalog_sync_items_total{sync="s",outcome="sent"} 3');
    expect(text).toContain('catalog_sync_items_total{sync="s",outcome="skipped"} 1');
    expect(text).toContain('catalog_sync_dead_letters_total{code="UNKNOWN_SYNC"} 1');
    expect(text).toContain('catalog_sync_destination_retries_total{sync="s",destination="batch:c"} 2');
    expect(text).toContain('catalog_sync_destination_rate_limited_total{sync="s",destination="batch:c"} 1');
    expect(text).toContain('catalog_sync_buffer_queued_items{sync="s"} 7');
    expect(text).toContain('catalog_sync_runs_in_progress{sync="s"} 2');
    expect(text).toContain('catalog_sync_deletions_held{sync="s"} 15');
    expect(text).toContain('catalog_sync_consumer_lag{partition="0"} 4');
    expect(text).not.toContain('catalog_sync_consumer_lag{partition="1"}');
  });
});
