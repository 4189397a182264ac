import type { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import avro from 'avsc';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANGE_EVENT_SCHEMA, type ChangeEvent, toAvro } from '../../src/ingest/change-event.js';
import { Decoder, PoisonMessageError } from '../../src/ingest/decoder.js';
import { encodeWire } from '../../src/kafka/wire-format.js';

/** Id 1: the change event; 2: an Avro record it cannot be read as; 3: not Avro; others: unknown. */
const eventType = avro.Type.forSchema(JSON.parse(CHANGE_EVENT_SCHEMA));
const otherType = avro.Type.forSchema({
  type: 'record',
  name: 'Invoice',
  fields: [
    { name: 'number', type: 'long' },
    { name: 'lines', type: { type: 'array', items: 'string' } },
  ],
});
const registry = {
  getSchema: async (id: number) => {
    if (id === 1) return eventType;
    if (id === 2) return otherType;
    if (id === 3) return { type: 'JSON' };
    throw Object.assign(new Error('Schema not found'), { status: 404 });
  },
} as unknown as SchemaRegistry;

const value = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.string({ maxLength: 50 }),
  fc.array(fc.string({ maxLength: 10 }), { maxLength: 5 }),
);
const goodEvent = fc.record({
  syncId: fc.string({ minLength: 1, maxLength: 20 }),
  runId: fc.string({ minLength: 1, maxLength: 20 }),
  runSeq: fc.integer({ min: 0 }),
  runKind: fc.constantFrom('FULL', 'DELTA'),
  type: fc.constant('ROW_UPSERTED'),
  itemKey: fc.string({ minLength: 1, maxLength: 30 }),
  values: fc.dictionary(fc.string({ maxLength: 10 }), value, { maxKeys: 6 }),
  rowCount: fc.constant(null),
  sourceTs: fc.integer({ min: 0 }),
}) as fc.Arbitrary<ChangeEvent>;

const encoded = goodEvent.map((e) => encodeWire(1, eventType.toBuffer(toAvro(e))));

/** Bad messages of every kind the ingest path can meet. */
const poison = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
  fc.tuple(encoded, fc.nat()).map(([buf, n]) => buf.subarray(0, n % buf.length)),
  fc
    .tuple(
      encoded,
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    )
    .map(([buf, flips]) => {
      const out = Buffer.from(buf);
      for (const [at, byte] of flips) out[5 + (at % Math.max(1, out.length - 5))] = byte;
      return out;
    }),
  fc
    .tuple(encoded, fc.integer({ min: -5, max: 1_000_000 }))
    .map(([buf, id]) => encodeWire(id, buf.subarray(5))),
  fc
    .tuple(encoded, fc.uint8Array({ minLength: 1, maxLength: 64 }))
    .map(([buf, tail]) => Buffer.concat([buf, Buffer.from(tail)])),
  // Varints claiming huge lengths (strings, maps, arrays) right after the header.
  fc
    .array(fc.constantFrom(0xff, 0xfe, 0x80, 0x7f, 0x01), { minLength: 1, maxLength: 40 })
    .map((b) => encodeWire(1, Buffer.from(b))),
  fc.uint8Array({ maxLength: 100 }).map((b) => encodeWire(2, Buffer.from(b))),
  fc.uint8Array({ maxLength: 20 }).map((b) => encodeWire(3, Buffer.from(b))),
  fc.constant(Buffer.alloc(0)),
);

describe('Decoder fuzz (fast-check): nothing but a change event or a PoisonMessageError', () => {
  it('decodes every well-formed event it was given', async () => {
    const decoder = new Decoder(registry);
    await fc.assert(
      fc.asyncProperty(goodEvent, async (e) => {
        const got = await decoder.decode(encodeWire(1, eventType.toBuffer(toAvro(e))));
        expect(got.itemKey).toBe(e.itemKey);
        expect(got.syncId).toBe(e.syncId);
      }),
      { numRuns: 300 },
    );
  });

  it('answers random, truncated, corrupted, mis-framed and unmappable input with a poison code', async () => {
    const decoder = new Decoder(registry);
    const codes = new Set<string>();
    await fc.assert(
      fc.asyncProperty(poison, async (buf) => {
        try {
          const e = await decoder.decode(buf);
          // A corruption can still be a valid record: then it must be a whole change event.
          expect(typeof e.syncId).toBe('string');
          expect(e.syncId.length).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(PoisonMessageError);
          codes.add((err as PoisonMessageError).code);
        }
      }),
      { numRuns: 3000 },
    );
    for (const code of ['WRONG_MAGIC_BYTE', 'CORRUPT_AVRO', 'UNKNOWN_SCHEMA_ID', 'INCOMPATIBLE_SCHEMA']) {
      expect(codes).toContain(code);
    }
  });
});
