import avro from 'avsc';
import { describe, expect, it } from 'vitest';
import { parseConfig, type SyncConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { PoisonMessageError } from '../../src/ingest/change-event.js';
import { DebeziumDecoder, STREAM_RUN_ID } from '../../src/ingest/debezium.js';

const TOPIC = 'shop.public.items';

/** A Debezium Postgres envelope as Apicurio's converter registers it (trimmed to what matters). */
function envelope(columns: { name: string; type: unknown }[]) {
  const value = {
    type: 'record',
    name: 'Value',
    namespace: 'shop.public.items',
    fields: columns.map((c) => ({ name: c.name, type: ['null', c.type], default: null })),
  };
  return {
    type: 'record',
    name: 'Envelope',
    namespace: 'shop.public.items',
    fields: [
      { name: 'before', type: ['null', value], default: null },
      { name: 'after', type: ['null', 'Value'], default: null },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: 'io.debezium.connector.postgresql',
          fields: [
            { name: 'ts_ms', type: 'long' },
            { name: 'snapshot', type: ['string', 'null'], default: 'false' },
            { name: 'lsn', type: ['null', 'long'], default: null },
          ],
        },
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: ['null', 'long'], default: null },
      { name: 'ts_ns', type: ['null', 'long'], default: null },
    ],
  };
}

const V1 = envelope([
  { name: 'id', type: 'int' },
  { name: 'name', type: 'string' },
  { name: 'price', type: 'string' },
]);
const V2 = envelope([
  { name: 'id', type: 'int' },
  { name: 'name', type: 'string' },
  { name: 'colour', type: 'string' },
]);

/** Writes with a BigInt-capable long, as a JVM writer would: ts_ns is beyond 2^53. */
const bigLong = avro.types.LongType.__with({
  fromBuffer: (b: Buffer) => b.readBigInt64LE(),
  toBuffer: (n: bigint) => {
    const b = Buffer.alloc(8);
    b.writeBigInt64LE(BigInt(n));
    return b;
  },
  fromJSON: (v: unknown) => BigInt(v as string),
  toJSON: (n: bigint) => Number(n),
  isValid: (n: unknown) => typeof n === 'bigint',
  compare: () => 0,
});
const writers: Record<number, avro.Type> = {
  1: avro.Type.forSchema(V1 as avro.Schema, { registry: { long: bigLong } }),
  2: avro.Type.forSchema(V2 as avro.Schema, { registry: { long: bigLong } }),
};
const registry = {
  // What @kafkajs/confluent-schema-registry answers: a plainly parsed avsc Type.
  getSchema: async (id: number) => {
    if (!writers[id]) throw Object.assign(new Error('not found'), { status: 404 });
    return avro.Type.forSchema((id === 1 ? V1 : V2) as avro.Schema);
  },
};

function message(schemaId: number, value: Record<string, unknown>): Buffer {
  const head = Buffer.alloc(5);
  head.writeInt32BE(schemaId, 1);
  return Buffer.concat([head, (writers[schemaId] ?? writers[1]!).toBuffer(value)]);
}

const TS_NS = 1_796_208_639_123_456_789n;
function record(
  op: string,
  opts: { before?: unknown; after?: unknown; snapshot?: string; lsn?: bigint | null } = {},
) {
  return {
    before: opts.before ?? null,
    after: opts.after ?? null,
    source: {
      ts_ms: 1_796_208_639_123n,
      snapshot: opts.snapshot ?? 'false',
      lsn: opts.lsn === undefined ? 4242n : opts.lsn,
    },
    op,
    ts_ms: 1_796_208_639_124n,
    ts_ns: TS_NS,
  };
}

const sync = (): SyncConfig =>
  parseConfig(
    {
      batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
      syncs: [
        {
          id: 'items',
          destination: { type: 'batch', project: 'demo', catalog: 'items' },
          mode: 'full_then_delta',
          operation: 'mirror',
          idColumn: 'id',
          fields: [{ source: 'price', attribute: 'price', type: 'float' }],
          customAttributes: ['name'],
          input: { topic: TOPIC, envelope: 'debezium' },
        },
      ],
    },
    { PK: 'p', RK: 'r' },
  ).syncs[0]!;

const row = (id: number, price = '9.50') => ({ id, name: `Item ${id}`, price });

describe('DebeziumDecoder', () => {
  it('maps a snapshot to one FULL run per LSN: first starts it, last ends it without a count', async () => {
    const d = new DebeziumDecoder(registry, TOPIC, [sync()]);
    const first = await d.decodeMessage(
      message(1, record('r', { after: row(1), snapshot: 'first', lsn: 100n })),
    );
    expect(first.events.map((e) => [e.type, e.runId, e.runSeq, e.runKind, e.itemKey])).toEqual([
      ['RUN_STARTED', 'snapshot-100', 100, 'FULL', null],
      ['ROW_UPSERTED', 'snapshot-100', 100, 'FULL', '1'],
    ]);
    expect(first.events[1]!.values).toEqual({ id: 1, name: 'Item 1', price: '9.50' });
    const mid = await d.decodeMessage(
      message(1, record('r', { after: row(2), snapshot: 'true', lsn: 100n })),
    );
    expect(mid.events.map((e) => e.type)).toEqual(['ROW_UPSERTED']);
    const last = await d.decodeMessage(
      message(1, record('r', { after: row(3), snapshot: 'last', lsn: 100n })),
    );
    expect(last.events.map((e) => [e.type, e.rowCount])).toEqual([
      ['ROW_UPSERTED', null],
      ['RUN_ENDED', null],
    ]);
  });

  it('streams c/u as upserts and d as removals of the stream run, each at its own LSN', async () => {
    const d = new DebeziumDecoder(registry, TOPIC, [sync()]);
    const c = await d.decodeMessage(message(1, record('c', { after: row(7), lsn: 500n })));
    const u = await d.decodeMessage(
      message(1, record('u', { before: row(7), after: row(7, '1.00'), lsn: 501n })),
    );
    const del = await d.decodeMessage(message(1, record('d', { before: row(7, '1.00'), lsn: 502n })));
    expect(
      [...c.events, ...u.events, ...del.events].map((e) => [e.type, e.runId, e.runSeq, e.runKind]),
    ).toEqual([
      ['ROW_UPSERTED', STREAM_RUN_ID, 500, 'DELTA'],
      ['ROW_UPSERTED', STREAM_RUN_ID, 501, 'DELTA'],
      ['ROW_DELETED', STREAM_RUN_ID, 502, 'DELTA'],
    ]);
    expect(del.events[0]!.itemKey).toBe('7');
  });

  it('reads incremental snapshot rows as upserts of the stream, and a tombstone as nothing', async () => {
    const d = new DebeziumDecoder(registry, TOPIC, [sync()]);
    const inc = await d.decodeMessage(
      message(1, record('r', { after: row(4), snapshot: 'incremental', lsn: 900n })),
    );
    expect(inc.events.map((e) => [e.type, e.runId, e.runKind])).toEqual([
      ['ROW_UPSERTED', STREAM_RUN_ID, 'DELTA'],
    ]);
    expect(await d.decodeMessage(null)).toEqual({ events: [], notices: [] });
  });

  it('dead-letters a truncate, a row without its id and a record without an LSN', async () => {
    const d = new DebeziumDecoder(registry, TOPIC, [sync()]);
    await expect(d.decodeMessage(message(1, record('t')))).rejects.toMatchObject({ code: 'INVALID_EVENT' });
    await expect(d.decodeMessage(message(1, record('d', { before: null })))).rejects.toThrow(/before\.id/);
    await expect(
      d.decodeMessage(message(1, record('c', { after: row(1), lsn: null }))),
    ).rejects.toBeInstanceOf(PoisonMessageError);
    await expect(d.decodeMessage(message(9, record('c', { after: row(1) })))).rejects.toMatchObject({
      code: 'UNKNOWN_SCHEMA_ID',
    });
  });

  it('keeps decoding a new writer schema and reports a mapped column it lacks once', async () => {
    const d = new DebeziumDecoder(registry, TOPIC, [sync()]);
    const v1 = await d.decodeMessage(message(1, record('c', { after: row(1), lsn: 1n })));
    expect(v1.notices).toEqual([]);
    const after = { id: 1, name: 'Item 1', colour: 'red' };
    const v2 = await d.decodeMessage(message(2, record('u', { after, lsn: 2n })));
    expect(v2.events[0]!.values).toEqual(after);
    expect(v2.notices).toEqual([
      { syncId: 'items', code: 'MAPPED_COLUMN_MISSING', message: expect.stringContaining('no column price') },
    ]);
    const again = await d.decodeMessage(message(2, record('u', { after, lsn: 3n })));
    expect(again.notices).toEqual([]);
  });
});

describe('sync input', () => {
  it("refuses a Debezium topic that is one of catalog-sync's own", () => {
    const raw = {
      batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
      syncs: [
        {
          id: 'items',
          destination: { type: 'batch', project: 'demo', catalog: 'items' },
          mode: 'full_then_delta',
          operation: 'mirror',
          idColumn: 'id',
          input: { topic: 'catalog-sync.cdc', envelope: 'debezium' },
        },
      ],
    };
    expect(() => parseConfig(raw, { PK: 'p', RK: 'r' })).toThrow(ConfigError);
    expect(() => parseConfig(raw, { PK: 'p', RK: 'r' })).toThrow(/syncs\.0\.input\.topic/);
  });
});
