import { connect, createServer, type Socket } from 'node:net';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANGE_EVENT_SCHEMA } from '../../src/ingest/change-event.js';
import { caughtUp, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { endpoints } from '../helpers/services.js';

/** A TCP proxy to the schema registry that can refuse connections, to cut an instance off mid-run. */
async function registryProxy() {
  const target = new URL(endpoints().registryUrl);
  const sockets = new Set<Socket>();
  let refusing = false;
  let refused = 0;
  const server = createServer((client) => {
    if (refusing) {
      refused++;
      client.destroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    // The registry's API may sit under a path (Apicurio's /apis/ccompat/v7): keep it.
    url: `http://127.0.0.1:${port}${target.pathname.replace(/\/+$/, '')}`,
    get refused() {
      return refused;
    },
    refuse(on: boolean) {
      refusing = on;
      if (on) for (const s of sockets) s.destroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('CDC pipeline: recovery (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let proxy: Awaited<ReturnType<typeof registryProxy>> | undefined;
  afterEach(async () => {
    await fx?.close();
    await proxy?.close();
    fx = undefined;
    proxy = undefined;
  });

  it('a batch that fails midway (registry cut off) is replayed from its first unsettled event: nothing lost', async () => {
    proxy = await registryProxy();
    fx = await pipelineFixture([productSync('rec', 'products', 'full_then_delta', 'upsert')], {
      cdcPartitions: 1,
      registryUrl: proxy.url,
    });
    const logs: Record<string, unknown>[] = [];
    await fx.startInstance('a', { logs });
    await fx.runDone('rec', (await fx.produce('rec', 'FULL', products(1, 1500))).runId);

    // The instance knows schema v1 by now; events written with v2 need the registry, which is cut off.
    const subject = { subject: `${fx.config.kafka.cdcTopic}-value` };
    const v1 = await fx.registry.register({ type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA }, subject);
    const v2Schema = JSON.parse(CHANGE_EVENT_SCHEMA);
    v2Schema.fields.push({ name: 'warehouse', type: ['null', 'string'], default: null });
    const v2 = await fx.registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(v2Schema) },
      subject,
    );
    proxy.refuse(true);

    const base = {
      sync_id: 'rec',
      run_id: 'second',
      run_seq: Date.now() + 1000,
      run_kind: 'DELTA',
      source_ts: 0,
    };
    const event = (type: string, sku: string | null, name?: string, count?: number) => ({
      ...base,
      event_type: type,
      item_key: sku,
      values: name === undefined ? null : { name: { string: name } },
      row_count: count ?? null,
    });
    const messages = [{ key: 'rec', value: await fx.registry.encode(v1.id, event('RUN_STARTED', null)) }];
    for (let i = 1; i <= 1500; i++) {
      messages.push({
        key: `sku-${i}`,
        value: await fx.registry.encode(v1.id, event('ROW_UPSERTED', `sku-${i}`, `second ${i}`)),
      });
    }
    messages.push({
      key: 'sku-1501',
      value: await fx.registry.encode(v2.id, {
        ...event('ROW_UPSERTED', 'sku-1501', 'second 1501'),
        warehouse: 'eu',
      }),
    });
    messages.push({
      key: 'rec',
      value: await fx.registry.encode(v2.id, {
        ...event('RUN_ENDED', null, undefined, 1501),
        warehouse: 'eu',
      }),
    });
    await fx.producer.send({ topic: fx.config.kafka.cdcTopic, messages });

    // The registry client retries for a while; once it gives up the batch fails and kafkajs retries it.
    const failed = (l: Record<string, unknown>) => String(l.msg).startsWith('a batch failed');
    const deadline = Date.now() + 60_000;
    while (logs.filter(failed).length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(logs.filter(failed).length).toBeGreaterThanOrEqual(2);
    expect(proxy.refused).toBeGreaterThan(0);
    proxy.refuse(false);

    const info = await fx.runDone('rec', 'second', 90_000);
    expect(info.state).toBe('done');
    expect(info.upserted).toBe(1501);
    await caughtUp(fx);
    const items = fx.items('products');
    expect(items.size).toBe(1501);
    for (let i = 1; i <= 1501; i++) expect(items.get(`sku-${i}`)?.name).toBe(`second ${i}`);
  });
});
