import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CatalogSyncError } from '../../src/errors.js';
import { CHANGE_EVENT_SCHEMA, type ChangeEvent, toAvro } from '../../src/ingest/change-event.js';
import { Decoder, PoisonMessageError } from '../../src/ingest/decoder.js';
import { encodeWire } from '../../src/kafka/wire-format.js';
import { endpoints, unique } from '../helpers/services.js';

const upsert: ChangeEvent = {
  syncId: 'products',
  runId: 'run-1',
  runSeq: 1_700_000_000_000,
  runKind: 'FULL',
  type: 'ROW_UPSERTED',
  itemKey: 'SKU-1',
  values: { sku: 'SKU-1', price: 9.5, stock: 3, active: true, tags: ['a', 'b'], color: null },
  rowCount: null,
  sourceTs: 1_700_000_000_123,
};

async function poisonCode(decoder: Decoder, value: Buffer | null): Promise<string> {
  const err = await decoder.decode(value).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(PoisonMessageError);
  expect((err as PoisonMessageError).retriable).toBe(false);
  return (err as PoisonMessageError).code;
}

describe('Decoder against the real schema registry', () => {
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  const subject = `${unique('decoder')}-value`;
  let schemaId: number;
  let good: Buffer;

  beforeAll(async () => {
    ({ id: schemaId } = await registry.register(
      { type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA },
      { subject },
    ));
    good = await registry.encode(schemaId, toAvro(upsert));
  });

  it('decodes a good event into plain values', async () => {
    expect(await new Decoder(registry).decode(good)).toEqual(upsert);
  });

  it('fetches a schema once per id, however many messages use it', async () => {
    let fetches = 0;
    const counting = new SchemaRegistry({
      host: endpoints().registryUrl,
      middlewares: [
        () => ({
          request(req) {
            if (req.url().includes('/schemas/ids/')) fetches++;
            return req;
          },
        }),
      ],
    });
    const decoder = new Decoder(counting);
    const events = await Promise.all(Array.from({ length: 50 }, () => decoder.decode(good)));
    for (let i = 0; i < 10; i++) events.push(await decoder.decode(good));
    expect(events).toHaveLength(60);
    expect(events.every((e) => e.itemKey === 'SKU-1')).toBe(true);
    expect(fetches).toBe(1);
  });

  it('classifies each kind of poison message', async () => {
    const decoder = new Decoder(registry);
    expect(await poisonCode(decoder, null)).toBe('EMPTY_MESSAGE');
    expect(await poisonCode(decoder, Buffer.alloc(0))).toBe('EMPTY_MESSAGE');
    expect(await poisonCode(decoder, Buffer.from('{"sync_id":"products"}'))).toBe('WRONG_MAGIC_BYTE');
    expect(await poisonCode(decoder, encodeWire(2_000_000_000, good.subarray(5)))).toBe('UNKNOWN_SCHEMA_ID');
    expect(await poisonCode(decoder, good.subarray(0, good.length - 3))).toBe('CORRUPT_AVRO');
    expect(await poisonCode(decoder, Buffer.concat([good, Buffer.from([1, 2, 3])]))).toBe('CORRUPT_AVRO');
    expect(await poisonCode(decoder, good.subarray(0, 3))).toBe('CORRUPT_AVRO');

    const withoutKey = await registry.encode(schemaId, { ...toAvro(upsert), item_key: null });
    expect(await poisonCode(decoder, withoutKey)).toBe('INVALID_EVENT');
    const endWithoutCount = await registry.encode(
      schemaId,
      toAvro({ ...upsert, type: 'RUN_ENDED', itemKey: null, values: null, rowCount: null }),
    );
    expect(await poisonCode(decoder, endWithoutCount)).toBe('INVALID_EVENT');
  });

  it('reads a record written with a newer compatible schema (an added optional field)', async () => {
    const evolved = JSON.parse(CHANGE_EVENT_SCHEMA);
    evolved.fields.push({ name: 'source_table', type: ['null', 'string'], default: null });
    const { id: evolvedId } = await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(evolved) },
      { subject },
    );
    expect(evolvedId).not.toBe(schemaId);
    const bytes = await registry.encode(evolvedId, { ...toAvro(upsert), source_table: 'dw.products' });

    const fresh = new Decoder(new SchemaRegistry({ host: endpoints().registryUrl }));
    expect(await fresh.decode(bytes)).toEqual(upsert);
    const ended = await registry.encode(evolvedId, {
      ...toAvro({ ...upsert, type: 'RUN_ENDED', itemKey: null, values: null, rowCount: 42 }),
      source_table: null,
    });
    expect(await fresh.decode(ended)).toMatchObject({ type: 'RUN_ENDED', rowCount: 42, itemKey: null });
  });

  describe('a registry that is down', () => {
    let down = true;
    let server: Server;
    let url: string;

    beforeAll(async () => {
      // Answers 503 while down, then forwards to the real registry: an outage that ends.
      server = createServer(async (req, res) => {
        if (down) {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error_code: 50301, message: 'unavailable' }));
          return;
        }
        const upstream = await fetch(`${endpoints().registryUrl}${req.url}`);
        res.writeHead(upstream.status, { 'content-type': 'application/vnd.schemaregistry.v1+json' });
        res.end(await upstream.text());
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it('is a retriable REGISTRY_UNAVAILABLE, not poison, and is not cached once it answers again', async () => {
      const decoder = new Decoder(new SchemaRegistry({ host: url }));
      const err = await decoder.decode(good).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CatalogSyncError);
      expect(err).not.toBeInstanceOf(PoisonMessageError);
      expect(err).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', retriable: true });

      down = false;
      expect(await decoder.decode(good)).toEqual(upsert);
    });

    it('treats a refused connection the same way', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const decoder = new Decoder(new SchemaRegistry({ host: `http://127.0.0.1:${port}` }));
      const err = await decoder.decode(good).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'REGISTRY_UNAVAILABLE', retriable: true });
    });
  });
});
