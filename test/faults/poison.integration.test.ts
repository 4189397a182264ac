/**
 * Poison input at scale (issue #14 §4): fast-check generates bad records of every kind, interleaved with
 * good runs in the same partitions. Nothing crashes, every bad record reaches the dead-letter topic with
 * its reason, and the good records around it are applied (catalog content compared).
 * `CATALOG_SYNC_FAULTS=1` (npm run test:faults) multiplies the volume.
 */
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { CHANGE_EVENT_SCHEMA, type ChangeEvent, toAvro } from '../../src/ingest/change-event.js';
import { encodeWire } from '../../src/kafka/wire-format.js';
import type { Row } from '../../src/runtime/produce.js';
import {
  caughtUp,
  collectDeadLetters,
  collectStatus,
  pipelineFixture,
  productSync,
  products,
} from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const LONG = process.env.CATALOG_SYNC_FAULTS === '1';
const ITEMS = LONG ? 2000 : 60;
const POISON = LONG ? 1500 : 60;

describe('fuzzed poison input between good runs (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  afterEach(async () => {
    await fx?.close();
    fx = undefined;
  });

  it('dead-letters every bad record with its reason and applies every good one', async () => {
    fx = await pipelineFixture([productSync('fz', 'products', 'full_then_delta', 'upsert')]);
    const svc = await fx.startInstance();
    const dlq = await collectDeadLetters(fx);
    const status = await collectStatus(fx);
    try {
      const topic = fx.config.kafka.cdcTopic;
      const { id } = await fx.registry.register(
        { type: SchemaType.AVRO, schema: CHANGE_EVENT_SCHEMA },
        { subject: `${topic}-value` },
      );
      const invoice = await fx.registry.register(
        {
          type: SchemaType.AVRO,
          schema: JSON.stringify({
            type: 'record',
            name: 'Invoice',
            namespace: 'fuzz',
            fields: [{ name: 'number', type: 'long' }],
          }),
        },
        { subject: `${topic}-invoice-value` },
      );
      const good = async (over: Partial<ChangeEvent>) =>
        fx!.registry.encode(
          id,
          toAvro({
            syncId: 'fz',
            runId: 'fuzz',
            runSeq: 1,
            runKind: 'DELTA',
            type: 'ROW_UPSERTED',
            itemKey: 'sku-1',
            values: { name: 'x' },
            rowCount: null,
            sourceTs: Date.now(),
            ...over,
          }),
        );
      const template = await good({});
      const corrupt = fc.oneof(
        fc.uint8Array({ minLength: 1, maxLength: 200 }).map((b) => Buffer.from([1 + (b[0]! % 255), ...b])),
        fc.nat().map((n) => template.subarray(0, 5 + (n % (template.length - 5)))),
        fc
          .array(fc.constantFrom(0xff, 0xfe, 0x80), { minLength: 2, maxLength: 30 })
          .map((b) => encodeWire(id, Buffer.from(b))),
        fc
          .integer({ min: 900_000_000, max: 2_000_000_000 })
          .map((sid) => encodeWire(sid, template.subarray(5))),
        fc.uint8Array({ maxLength: 40 }).map((b) => encodeWire(invoice.id, Buffer.from([0x80, ...b]))),
        fc.constant(Buffer.alloc(0)),
      );
      const poison = fc.sample(corrupt, { numRuns: POISON, seed: 14 });
      // Events that decode but cannot be applied: another sync, no item key.
      poison.push(await good({ syncId: 'nobody' }), await good({ itemKey: null }));
      const send = async (from: number, to: number) => {
        const messages = poison.slice(from, to).map((value, i) => ({
          key: `sku-${1 + ((from + i) % ITEMS)}`,
          value,
          headers: { 'x-fuzz': String(from + i) },
        }));
        for (let i = 0; i < messages.length; i += 500)
          await fx!.producer.send({ topic, messages: messages.slice(i, i + 500) });
      };

      const rows = products(1, ITEMS);
      await fx.runDone('fz', (await fx.produce('fz', 'FULL', rows)).runId, 120_000);
      await send(0, poison.length / 2);
      // Updates of the first half; every tenth carries a value Batch refuses (too long a name).
      const huge = new Set<string>();
      const second: Row[] = rows.slice(0, ITEMS / 2).map((r, i) => {
        if (i % 10 === 3) {
          huge.add(String(r.sku));
          return { ...r, name: 'h'.repeat(10_001 + i) };
        }
        return { ...r, name: `v2 ${r.name}` };
      });
      const run2 = await fx.produce('fz', 'DELTA', second);
      await send(poison.length / 2, poison.length);
      const third: Row[] = rows.slice(ITEMS / 2).map((r) => ({ ...r, price: Number(r.price) + 100 }));
      const run3 = await fx.produce('fz', 'DELTA', third);
      await fx.runDone('fz', run2.runId, 120_000);
      await fx.runDone('fz', run3.runId, 120_000);
      await caughtUp(fx, 120_000);

      // Exact catalog: content, not counts.
      const expected = new Map<string, Record<string, unknown>>();
      for (const r of [...rows, ...second, ...third]) {
        if (huge.has(String(r.sku)) && String(r.name).startsWith('h')) continue;
        expected.set(String(r.sku), { name: r.name, price: r.price, in_stock: r.in_stock, tags: r.tags });
      }
      const actual = new Map(
        [...fx.items('products')].map(([k, v]) => [
          k,
          { name: v.name, price: v.price, in_stock: v.in_stock, tags: v.tags },
        ]),
      );
      expect(actual).toEqual(expected);

      // Every bad record is in the dead-letter topic, with its code and reason.
      const letters = await eventually(
        'every poison record and refused item dead-lettered',
        () => {
          const fuzz = new Set(dlq.records.map((r) => r.headers['x-fuzz']).filter((x) => x !== undefined));
          const items = new Set(
            dlq.records.map((r) => r.headers['x-dlq-item']).filter((x) => x !== undefined),
          );
          return fuzz.size === poison.length && [...huge].every((h) => items.has(h))
            ? dlq.records
            : undefined;
        },
        60_000,
      );
      for (const r of letters) {
        expect(r.headers['x-dlq-code']).toMatch(/^[A-Z_]+$/);
        expect(r.headers['x-dlq-reason']?.length).toBeGreaterThan(0);
      }
      const codes = new Set(letters.map((r) => r.headers['x-dlq-code']));
      for (const code of ['WRONG_MAGIC_BYTE', 'CORRUPT_AVRO', 'UNKNOWN_SCHEMA_ID', 'UNKNOWN_SYNC'])
        expect(codes).toContain(code);
      expect(letters.some((r) => /schema id/.test(r.headers['x-dlq-reason'] ?? ''))).toBe(true);
      expect(status.events.filter((e) => e.type === 'DEAD_LETTER').length).toBeGreaterThan(0);
      // Still consuming: the instance never crashed.
      expect((await svc.readiness()).ready).toBe(true);
    } finally {
      await dlq.stop();
      await status.stop();
    }
  }, 300_000);
});
