import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChangeEvent } from '../../src/ingest/change-event.js';
import { Decoder } from '../../src/ingest/decoder.js';
import type { Producer } from '../../src/kafka/client.js';
import { produceRun } from '../../src/runtime/produce.js';
import { readInput } from '../../src/runtime/produce-input.js';
import { createTopic, endpoints, testKafka, unique } from '../helpers/services.js';
import { consumeAll } from '../helpers/topics.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'produce-it-'));

interface Read {
  key: string;
  partition: number;
  event: ChangeEvent;
}

async function readTopic(topic: string, registry: SchemaRegistry): Promise<Read[]> {
  const decoder = new Decoder(registry);
  const out: Read[] = [];
  for (const { partition, message } of await consumeAll(topic)) {
    out.push({ key: message.key!.toString(), partition, event: await decoder.decode(message.value) });
  }
  return out;
}

/** Events of one key, in offset order; a key must live in one partition. */
function byKey(read: Read[]): Map<string, ChangeEvent[]> {
  const partitions = new Map<string, number>();
  const out = new Map<string, ChangeEvent[]>();
  for (const r of read) {
    expect(partitions.get(r.key) ?? r.partition).toBe(r.partition);
    partitions.set(r.key, r.partition);
    out.set(r.key, [...(out.get(r.key) ?? []), r.event]);
  }
  return out;
}

function cli(
  args: string[],
  stdin?: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/runtime/produce-cli.ts', ...args], {
      cwd: root,
      env: {
        ...process.env,
        KAFKA_BROKERS: endpoints().kafkaBrokers,
        SCHEMA_REGISTRY_URL: endpoints().registryUrl,
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.stdin.end(stdin ?? '');
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Records per partition of a topic: all zero when nothing was published. */
async function recordCount(topic: string): Promise<number> {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } finally {
    await admin.disconnect();
  }
}

/** A config whose sync `products` maps typed columns, on the given CDC topic. */
function typedConfig(topic: string): string {
  const config = join(dir, `${topic}.yaml`);
  writeFileSync(
    config,
    [
      'kafka:',
      `  cdcTopic: ${topic}`,
      '  cdcPartitions: 2',
      'batch:',
      '  projects:',
      '    shop:',
      '      projectKey: { env: PRODUCE_TEST_UNSET_PROJECT_KEY }',
      '      restApiKey: { env: PRODUCE_TEST_UNSET_REST_KEY }',
      'syncs:',
      '  - id: products',
      '    destination: { type: batch, project: shop, catalog: products }',
      '    mode: full_then_delta',
      '    operation: mirror',
      '    idColumn: sku',
      '    fields:',
      '      - { source: price, attribute: price, type: float }',
      '      - { source: stock, attribute: stock, type: integer }',
      '      - { source: live, attribute: live, type: bool }',
      '      - { source: since, attribute: since, type: date }',
      '    customAttributes:',
      '      - { name: tags, type: array }',
      '      - note',
    ].join('\n'),
  );
  return config;
}

describe('produceRun on a real broker and registry', () => {
  const registry = new SchemaRegistry({ host: endpoints().registryUrl });
  let producer: Producer;

  beforeAll(async () => {
    producer = testKafka().producer();
    await producer.connect();
  });
  afterAll(() => producer.disconnect());

  it('publishes a full run from an NDJSON file: markers by sync, rows by item, order kept per key', async () => {
    const topic = unique('cdc');
    await createTopic(topic, 3);
    // 1,200 rows over 400 ids: each id comes back in three different send chunks, with a rising version.
    const path = join(dir, 'full.ndjson');
    const lines = Array.from({ length: 1200 }, (_, i) =>
      JSON.stringify({
        sku: `SKU-${i % 400}`,
        version: i,
        price: i + 0.5,
        tags: ['t'],
        note: null,
        ok: i % 2 === 0,
      }),
    );
    writeFileSync(path, `${lines.join('\n')}\n`);
    const source = readInput(path);
    const progress: number[] = [];
    const result = await produceRun({
      producer,
      registry,
      topic,
      syncId: 'products',
      runSeq: 1000,
      kind: 'FULL',
      idColumn: 'sku',
      rows: source.entries,
      position: source.position,
      onProgress: (n) => progress.push(n),
    });
    expect(result).toEqual({ runId: 'full-1000', runSeq: 1000, rows: 1200, deletions: 0, distinctIds: 400 });
    expect(Math.max(...progress)).toBe(1200);

    const read = await readTopic(topic, registry);
    expect(read).toHaveLength(1202);
    expect(new Set(read.map((r) => r.partition)).size).toBe(3);
    const keys = byKey(read);
    expect(keys.get('products')!.map((e) => e.type)).toEqual(['RUN_STARTED', 'RUN_ENDED']);
    expect(keys.get('products')![1]!.rowCount).toBe(400);
    expect(keys.size).toBe(401);
    for (const [key, events] of keys) {
      if (key === 'products') continue;
      expect(events.every((e) => e.type === 'ROW_UPSERTED' && e.itemKey === key)).toBe(true);
      const versions = events.map((e) => e.values!.version as number);
      expect(versions).toEqual([...versions].sort((a, b) => a - b));
      expect(versions).toHaveLength(3);
    }
    const first = keys.get('SKU-7')![0]!;
    expect(first).toMatchObject({ syncId: 'products', runId: 'full-1000', runSeq: 1000, runKind: 'FULL' });
    expect(first.values).toEqual({
      sku: 'SKU-7',
      version: 7,
      price: 7.5,
      tags: ['t'],
      note: null,
      ok: false,
    });
  });

  it('publishes a delta with deletions after the upserts; RUN_ENDED counts distinct ids of both', async () => {
    const topic = unique('cdc');
    await createTopic(topic, 2);
    const result = await produceRun({
      producer,
      registry,
      topic,
      syncId: 'products',
      kind: 'DELTA',
      idColumn: 'sku',
      rows: [{ sku: 'A' }, { sku: 'B' }, { sku: 'C' }],
      deletedIds: ['C', 'D', 'E'],
    });
    expect(result).toMatchObject({ rows: 3, deletions: 3, distinctIds: 5 });
    expect(result.runId).toBe(`delta-${result.runSeq}`);

    const keys = byKey(await readTopic(topic, registry));
    expect(keys.get('products')!.map((e) => [e.type, e.rowCount])).toEqual([
      ['RUN_STARTED', null],
      ['RUN_ENDED', 5],
    ]);
    expect(keys.get('C')!.map((e) => e.type)).toEqual(['ROW_UPSERTED', 'ROW_DELETED']);
    expect(keys.get('D')!.map((e) => [e.type, e.values])).toEqual([['ROW_DELETED', null]]);
    expect([...keys.values()].flat().every((e) => e.runKind === 'DELTA' && e.runId === result.runId)).toBe(
      true,
    );
  });

  it('sends NDJSON deletions in their place among the rows, ids as written', async () => {
    const topic = unique('cdc');
    await createTopic(topic, 2);
    const path = join(dir, 'mixed.ndjson');
    writeFileSync(
      path,
      ['{"sku":"A","n":1}', '{"delete":"A"}', '{"delete":" spaced id "}', '{"sku":"A","n":2}'].join('\n'),
    );
    const source = readInput(path);
    const result = await produceRun({
      producer,
      registry,
      topic,
      syncId: 'products',
      kind: 'DELTA',
      idColumn: 'sku',
      rows: source.entries,
      position: source.position,
    });
    expect(result).toMatchObject({ rows: 2, deletions: 2, distinctIds: 2 });
    const keys = byKey(await readTopic(topic, registry));
    expect(keys.get('A')!.map((e) => [e.type, e.values])).toEqual([
      ['ROW_UPSERTED', { sku: 'A', n: 1 }],
      ['ROW_DELETED', null],
      ['ROW_UPSERTED', { sku: 'A', n: 2 }],
    ]);
    expect(keys.get(' spaced id ')!.map((e) => [e.type, e.itemKey])).toEqual([
      ['ROW_DELETED', ' spaced id '],
    ]);
  });

  it('refuses deletions in a full run and a row without its id, naming the row', async () => {
    const topic = unique('cdc');
    await createTopic(topic, 1);
    const base = { producer, registry, topic, syncId: 's', idColumn: 'sku' } as const;
    await expect(produceRun({ ...base, kind: 'FULL', rows: [], deletedIds: ['x'] })).rejects.toThrow(
      /full run/,
    );
    await expect(
      produceRun({ ...base, kind: 'FULL', rows: [{ sku: 'a' }, { name: 'no id' }] }),
    ).rejects.toThrow(/row 2: no value in the id column "sku"/);
    // The run stopped before its end marker: no consumer can take it for complete.
    const types = (await readTopic(topic, registry)).map((r) => r.event.type);
    expect(types).not.toContain('RUN_ENDED');
  });
});

describe('produce CLI', () => {
  it('explains itself with --help and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const option of [
      '--sync',
      '--run',
      '--file',
      '--format',
      '--deletes',
      '--id-column',
      '--config',
      '--topic',
      '--run-id',
    ]) {
      expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toContain('KAFKA_BROKERS');
    expect(r.stdout).toContain('{"delete": "SKU-1"}');
    expect(r.stdout).toMatch(/untyped custom attributes/);
  });

  it('exits 2 with a message on wrong arguments', async () => {
    const full = ['--sync', 'p', '--file', join(root, 'examples/products-full.ndjson'), '--id-column', 'sku'];
    const results = await Promise.all([
      cli(['--run', 'full', '--file', 'x.ndjson']),
      cli([...full, '--run', 'full', '--deletes', join(root, 'examples/products-deleted.txt')]),
      cli(['--sync', 'p', '--run', 'full', '--file', join(root, 'examples/products-full.ndjson')]),
    ]);
    expect(results.map((r) => r.code)).toEqual([2, 2, 2]);
    expect(results[0]!.stderr).toMatch(/--sync/);
    expect(results[1]!.stderr).toMatch(/--deletes is for --run delta only/);
    expect(results[2]!.stderr).toMatch(/--id-column/);
  });

  it('produces a CSV delta with the id column and topic from --config (secrets not needed)', async () => {
    const topic = unique('cdc');
    const config = join(dir, 'catalog-sync.yaml');
    writeFileSync(
      config,
      [
        'kafka:',
        `  cdcTopic: ${topic}`,
        '  cdcPartitions: 2',
        'batch:',
        '  projects:',
        '    shop:',
        '      projectKey: { env: PRODUCE_TEST_UNSET_PROJECT_KEY }',
        '      restApiKey: { env: PRODUCE_TEST_UNSET_REST_KEY }',
        'syncs:',
        '  - id: products',
        '    destination: { type: batch, project: shop, catalog: products }',
        '    mode: full_then_delta',
        '    operation: mirror',
        '    idColumn: sku',
      ].join('\n'),
    );
    const r = await cli([
      '--sync',
      'products',
      '--run',
      'delta',
      '--file',
      join(root, 'examples/products-delta.csv'),
      '--deletes',
      join(root, 'examples/products-deleted.txt'),
      '--config',
      config,
      '--run-id',
      'delta-cli',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stdout).toMatch(/delta run delta-cli .*3 rows, 2 deletions, 5 distinct ids/);

    const read = await readTopic(topic, new SchemaRegistry({ host: endpoints().registryUrl }));
    expect(new Set(read.map((r) => r.partition))).toEqual(new Set([0, 1]));
    const keys = byKey(read);
    expect(keys.get('products')!.at(-1)).toMatchObject({
      type: 'RUN_ENDED',
      rowCount: 5,
      runId: 'delta-cli',
    });
    expect(keys.get('SKU-1007')![0]!.values).toEqual({
      sku: 'SKU-1007',
      name: 'Yoga Mat, extra thick',
      price: '39.00',
      color: null,
      url: 'https://shop.example.com/p/sku-1007',
    });
    expect(keys.get('SKU-1011')!.map((e) => e.type)).toEqual(['ROW_DELETED']);
  });

  it('exits 1 naming line and column of a bad row, before sending anything', async () => {
    const topic = unique('cdc');
    const path = join(dir, 'bad.ndjson');
    writeFileSync(path, '{"sku":"A","n":1}\n{"sku":"B","meta":{"a":1}}\n');
    const r = await cli([
      '--sync',
      'p',
      '--run',
      'full',
      '--file',
      path,
      '--id-column',
      'sku',
      '--topic',
      topic,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/bad\.ndjson line 2: column "meta": an object is not supported/);
    const admin = testKafka().admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).not.toContain(topic);
    } finally {
      await admin.disconnect();
    }
  });

  it('types a CSV by the sync mapping of --config: numbers, booleans, dates, arrays, "" vs null', async () => {
    const topic = unique('cdc');
    const path = join(dir, 'typed.csv');
    writeFileSync(
      path,
      [
        'sku,price,stock,live,since,tags,note,extra',
        '007,12.50,3,true,1767225600,"[""a"",""b, c""]",10,x',
        '008,,,FALSE,2026-01-31T10:00:00Z,[],"",',
        '',
      ].join('\r\n'),
    );
    const r = await cli([
      '--sync',
      'products',
      '--run',
      'full',
      '--file',
      path,
      '--config',
      typedConfig(topic),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 rows, 0 deletions, 2 distinct ids/);
    const keys = byKey(await readTopic(topic, new SchemaRegistry({ host: endpoints().registryUrl })));
    expect(keys.get('007')![0]!.values).toEqual({
      sku: '007',
      price: 12.5,
      stock: 3,
      live: true,
      since: 1767225600,
      tags: ['a', 'b, c'],
      note: '10',
      extra: 'x',
    });
    expect(keys.get('008')![0]!.values).toEqual({
      sku: '008',
      price: null,
      stock: null,
      live: false,
      since: '2026-01-31T10:00:00Z',
      tags: [],
      note: '',
      extra: null,
    });
  });

  it('produces a mixed NDJSON delta from stdin: any id can be deleted', async () => {
    const topic = unique('cdc');
    const input = [
      JSON.stringify({ sku: 'A', price: 1.5 }),
      JSON.stringify({ delete: '  spaced  ' }),
      JSON.stringify({ delete: '#not-a-comment' }),
      JSON.stringify({ delete: 'two\nlines' }),
      '',
      JSON.stringify({ sku: 'B', tags: ['x'] }),
      JSON.stringify({ delete: 'A' }),
    ].join('\n');
    const r = await cli(
      ['--sync', 'products', '--run', 'delta', '--file', '-', '--config', typedConfig(topic)],
      input,
    );
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/2 rows, 4 deletions, 5 distinct ids/);
    const keys = byKey(await readTopic(topic, new SchemaRegistry({ host: endpoints().registryUrl })));
    for (const id of ['  spaced  ', '#not-a-comment', 'two\nlines']) {
      expect(keys.get(id)!.map((e) => [e.type, e.itemKey])).toEqual([['ROW_DELETED', id]]);
    }
    expect(keys.get('A')!.map((e) => e.type)).toEqual(['ROW_UPSERTED', 'ROW_DELETED']);
    expect(keys.get('B')![0]!.values).toEqual({ sku: 'B', tags: ['x'] });
    expect(keys.get('products')!.at(-1)).toMatchObject({ type: 'RUN_ENDED', rowCount: 5 });
  });

  it('exits 1 on a bad line of a CSV, an NDJSON file or stdin with the topic left empty', async () => {
    const topic = unique('cdc');
    await createTopic(topic, 2);
    const config = typedConfig(topic);
    const badCsv = join(dir, 'bad-typed.csv');
    writeFileSync(badCsv, 'sku,price,stock\nA,1.5,2\nB,2.5,3\n\nC,cheap,4\nD,1,1\n');
    const badNdjson = join(dir, 'bad-full.ndjson');
    writeFileSync(badNdjson, '{"sku":"A"}\n{"delete":"B"}\n');
    const results = await Promise.all([
      cli(['--sync', 'products', '--run', 'delta', '--file', badCsv, '--config', config]),
      cli(['--sync', 'products', '--run', 'full', '--file', badNdjson, '--config', config]),
      cli(
        ['--sync', 'products', '--run', 'delta', '--file', '-', '--config', config],
        '{"sku":"A"}\n{"delete":""}\n',
      ),
    ]);
    expect(results.map((r) => r.code)).toEqual([1, 1, 1]);
    expect(results[0]!.stderr).toMatch(
      /bad-typed\.csv line 5: column "price": expected a number, got "cheap"/,
    );
    expect(results[1]!.stderr).toMatch(/bad-full\.ndjson line 2: a deletion in a full run/);
    expect(results[2]!.stderr).toMatch(/stdin line 2: "delete" takes a non-empty string/);
    expect(await recordCount(topic)).toBe(0);
  });
});
