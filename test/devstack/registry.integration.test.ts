import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type RunningRegistry, startRegistry } from '../../devstack/registry/server.js';
import { RegistryState } from '../../devstack/registry/state.js';
import { createLogger } from '../../src/logger.js';
import { endpoints, testKafka, unique } from '../helpers/services.js';

const VND = 'application/vnd.schemaregistry.v1+json';
const logger = createLogger({ level: process.env.LOG_LEVEL ?? 'silent', name: 'registry-test' });

const userV1 = {
  type: 'record' as const,
  name: 'User',
  namespace: 'test.registry',
  fields: [
    { name: 'id', type: 'string' },
    { name: 'score', type: 'int' },
  ],
};
const userV2 = {
  ...userV1,
  fields: [...userV1.fields, { name: 'email', type: ['null', 'string'], default: null }],
};
const userRequired = { ...userV1, fields: [...userV1.fields, { name: 'country', type: 'string' }] };
const avro = (schema: object) => ({ type: SchemaType.AVRO as const, schema: JSON.stringify(schema) });

const topics: string[] = [];
const running: RunningRegistry[] = [];

async function start(topic: string): Promise<RunningRegistry> {
  const registry = await startRegistry({
    port: 0,
    brokers: endpoints().kafkaBrokers.split(','),
    topic,
    logger,
  });
  running.push(registry);
  return registry;
}

function newTopic(): string {
  const topic = unique('test-schemas');
  topics.push(topic);
  return topic;
}

async function call(base: string, method: string, path: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': VND },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    // biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
    body: (await res.json()) as any,
  };
}

/** Every record of the topic, in log order, read with a throwaway consumer group. */
async function readLog(topic: string) {
  const kafka = testKafka();
  const admin = kafka.admin();
  await admin.connect();
  const high = Number((await admin.fetchTopicOffsets(topic))[0]!.high);
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: unique('registry-log-reader') });
  const records: { key: Buffer | null; value: Buffer | null }[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve, reject) => {
    consumer
      .run({
        eachMessage: async ({ message }) => {
          records.push({ key: message.key, value: message.value });
          if (Number(message.offset) + 1 >= high) resolve();
        },
      })
      .catch(reject);
  });
  await consumer.disconnect();
  return records;
}

function replay(records: { key: Buffer | null; value: Buffer | null }[]) {
  const state = new RegistryState();
  for (const r of records) state.apply(r.key, r.value);
  return state.subjectNames(true).map((s) => state.versions(s, true));
}

/** What log compaction may leave: the last record of each key, in their original order. */
function compacted<T extends { key: Buffer | null }>(records: T[]): T[] {
  const last = new Map(records.map((r, i) => [r.key?.toString(), i]));
  return records.filter((r, i) => last.get(r.key?.toString()) === i);
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  const admin = testKafka().admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics });
  } finally {
    await admin.disconnect();
  }
});

describe('development schema registry with the real @kafkajs/confluent-schema-registry client', () => {
  it('registers, encodes, decodes and finds ids; the same schema keeps its id in every subject', async () => {
    const server = await start(newTopic());
    const client = new SchemaRegistry({ host: server.url });
    const subject = 'users-value';

    const { id } = await client.register(avro(userV1), { subject });
    const encoded = await client.encode(id, { id: 'u1', score: 7 });
    expect(encoded.readUInt8(0)).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id);
    expect(await client.decode(encoded)).toEqual({ id: 'u1', score: 7 });

    expect(await client.getLatestSchemaId(subject)).toBe(id);
    expect(await client.getRegistryIdBySchema(subject, avro(userV1))).toBe(id);
    expect((await client.register(avro(userV1), { subject })).id).toBe(id);
    expect((await client.register(avro(userV1), { subject: 'another-value' })).id).toBe(id);

    const versions = await call(server.url, 'GET', `/subjects/${subject}/versions`);
    expect(versions).toMatchObject({ status: 200, contentType: VND, body: [1] });
    // Whitespace and key order do not make a new version.
    const reordered = `{ "fields": ${JSON.stringify(userV1.fields)}, "namespace": "test.registry", "type": "record", "name": "User" }`;
    expect(
      (await call(server.url, 'POST', `/subjects/${subject}/versions`, { schema: reordered })).body,
    ).toEqual({ id });
    expect((await call(server.url, 'GET', `/schemas/ids/${id}/versions`)).body).toEqual([
      { subject: 'another-value', version: 1 },
      { subject, version: 1 },
    ]);
    // The client set the subject's level on first registration, as it does against Confluent.
    expect((await call(server.url, 'GET', `/config/${subject}`)).body).toEqual({
      compatibilityLevel: 'BACKWARD',
    });
  });

  it('accepts a compatible evolution as version 2, refuses an incompatible one with 409, and resolves v1 data with v2', async () => {
    const server = await start(newTopic());
    const client = new SchemaRegistry({ host: server.url });
    const subject = 'evolving-value';
    const { id: v1 } = await client.register(avro(userV1), { subject });
    const v1Data = await client.encode(v1, { id: 'u1', score: 3 });

    const { id: v2 } = await client.register(avro(userV2), { subject });
    expect(v2).not.toBe(v1);
    expect((await call(server.url, 'GET', `/subjects/${subject}/versions/latest`)).body).toMatchObject({
      subject,
      version: 2,
      id: v2,
    });

    await expect(client.register(avro(userRequired), { subject })).rejects.toMatchObject({ status: 409 });
    const refused = await call(server.url, 'POST', `/subjects/${subject}/versions`, {
      schema: JSON.stringify(userRequired),
    });
    expect(refused.status).toBe(409);
    expect(refused.body.error_code).toBe(409);
    expect(refused.body.message).toContain('country');
    const check = await call(server.url, 'POST', `/compatibility/subjects/${subject}/versions/latest`, {
      schema: JSON.stringify(userRequired),
    });
    expect(check.body).toEqual({ is_compatible: false });
    expect((await call(server.url, 'GET', `/subjects/${subject}/versions`)).body).toEqual([1, 2]);

    const read = await client.decode(v1Data, { [SchemaType.AVRO]: { readerSchema: userV2 } });
    expect(read).toEqual({ id: 'u1', score: 3, email: null });
  });

  it('answers Confluent error codes', async () => {
    const server = await start(newTopic());
    await call(server.url, 'POST', '/subjects/known/versions', { schema: JSON.stringify(userV1) });
    const cases: [string, string, unknown, number, number][] = [
      ['GET', '/schemas/ids/4242', undefined, 404, 40403],
      ['GET', '/subjects/unknown/versions', undefined, 404, 40401],
      ['GET', '/subjects/unknown/versions/latest', undefined, 404, 40401],
      ['GET', '/subjects/known/versions/9', undefined, 404, 40402],
      ['GET', '/subjects/known/versions/zero', undefined, 422, 42202],
      ['POST', '/subjects/known', { schema: JSON.stringify(userV2) }, 404, 40403],
      ['POST', '/subjects/known/versions', { schema: '{"type":"record","name":"X"}' }, 422, 42201],
      ['POST', '/subjects/known/versions', { schema: 'not json' }, 422, 42201],
      ['POST', '/subjects/known/versions', { schema: '{}', schemaType: 'PROTOBUF' }, 422, 42201],
      ['PUT', '/config/known', { compatibility: 'SOMETIMES' }, 422, 42203],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await call(server.url, method, path, body);
      expect({ method, path, status: res.status, code: res.body.error_code }).toEqual({
        method,
        path,
        status,
        code,
      });
      expect(res.body.message).toEqual(expect.any(String));
    }
    const client = new SchemaRegistry({ host: server.url });
    await expect(client.getSchema(4242)).rejects.toMatchObject({ status: 404 });
  });

  it('soft-deletes before it deletes permanently, and re-registers a deleted schema as a new version', async () => {
    const server = await start(newTopic());
    const schema = JSON.stringify(userV1);
    const { body: first } = await call(server.url, 'POST', '/subjects/d/versions', { schema });
    expect((await call(server.url, 'DELETE', '/subjects/d/versions/1?permanent=true')).body.error_code).toBe(
      40407,
    );
    expect((await call(server.url, 'DELETE', '/subjects/d/versions/latest')).body).toBe(1);
    expect((await call(server.url, 'GET', '/subjects/d/versions')).body.error_code).toBe(40401);
    expect((await call(server.url, 'POST', '/subjects/d', { schema })).body.error_code).toBe(40401);
    expect((await call(server.url, 'POST', '/subjects/d?deleted=true', { schema })).body).toMatchObject({
      version: 1,
    });

    expect((await call(server.url, 'POST', '/subjects/d/versions', { schema })).body).toEqual(first);
    expect((await call(server.url, 'GET', '/subjects/d/versions?deleted=true')).body).toEqual([1, 2]);
    expect((await call(server.url, 'DELETE', '/subjects/d?permanent=true')).body.error_code).toBe(40405);
    expect((await call(server.url, 'DELETE', '/subjects/d')).body).toEqual([2]);
    expect((await call(server.url, 'DELETE', '/subjects/d')).body.error_code).toBe(40404);
    expect((await call(server.url, 'DELETE', '/subjects/d?permanent=true')).body).toEqual([1, 2]);
    expect((await call(server.url, 'GET', '/subjects?deleted=true')).body).toEqual([]);
    // Nothing refers to the id any more, so it is gone, as it would be after a restart on a compacted topic.
    expect((await call(server.url, 'GET', `/schemas/ids/${first.id}`)).body.error_code).toBe(40403);
  });

  it('rebuilds ids, versions, deletions and config from the topic after a restart', async () => {
    const topic = newTopic();
    const first = await start(topic);
    const a1 = await call(first.url, 'POST', '/subjects/a/versions', { schema: JSON.stringify(userV1) });
    const a2 = await call(first.url, 'POST', '/subjects/a/versions', { schema: JSON.stringify(userV2) });
    const gone = await call(first.url, 'POST', '/subjects/gone/versions', { schema: '"string"' });
    await call(first.url, 'PUT', '/config/a', { compatibility: 'FULL' });
    await call(first.url, 'PUT', '/config', { compatibility: 'NONE' });
    expect((await call(first.url, 'DELETE', '/subjects/gone')).body).toEqual([1]);
    await first.close();

    const second = await start(topic);
    expect((await call(second.url, 'GET', '/subjects')).body).toEqual(['a']);
    expect((await call(second.url, 'GET', '/subjects?deleted=true')).body).toEqual(['a', 'gone']);
    expect((await call(second.url, 'GET', '/subjects/a/versions/1')).body.id).toBe(a1.body.id);
    expect((await call(second.url, 'GET', '/subjects/a/versions/2')).body.id).toBe(a2.body.id);
    expect((await call(second.url, 'GET', `/schemas/ids/${gone.body.id}`)).body).toEqual({
      schema: '"string"',
    });
    expect((await call(second.url, 'GET', '/config/a')).body).toEqual({ compatibilityLevel: 'FULL' });
    expect((await call(second.url, 'GET', '/config')).body).toEqual({ compatibilityLevel: 'NONE' });
    const next = await call(second.url, 'POST', '/subjects/b/versions', { schema: '"long"' });
    expect(next.body.id).toBe(Math.max(a1.body.id, a2.body.id, gone.body.id) + 1);
  });

  it('keeps two instances on one topic in agreement when they register concurrently', async () => {
    const topic = newTopic();
    const [one, two] = [await start(topic), await start(topic)];
    // Each adds a different optional field, so any order is a BACKWARD-compatible history of "shared".
    const variants = Array.from({ length: 8 }, (_, i) => ({
      ...userV1,
      fields: [...userV1.fields, { name: `extra${i}`, type: ['null', 'long'], default: null }],
    }));
    const registrations = [
      ...variants.map((schema, i) => ({ via: i % 2 ? one : two, subject: 'shared', schema })),
      ...Array.from({ length: 6 }, (_, i) => ({
        via: i % 2 ? two : one,
        subject: `own-${i}`,
        schema: { type: 'enum', name: `E${i}`, symbols: ['A', 'B'] },
      })),
    ];
    const ids = await Promise.all(
      registrations.map(async ({ via, subject, schema }) => {
        const res = await call(via.url, 'POST', `/subjects/${subject}/versions`, {
          schema: JSON.stringify(schema),
        });
        expect(res.status).toBe(200);
        return res.body.id as number;
      }),
    );
    expect(new Set(ids).size).toBe(registrations.length);

    // A third instance replaying the log from scratch must reach the same state as the two that raced.
    const three = await start(topic);
    for (const [i, id] of ids.entries()) {
      const answers = await Promise.all(
        [one, two, three].map((r) => call(r.url, 'GET', `/schemas/ids/${id}`)),
      );
      for (const answer of answers) {
        expect(answer.status).toBe(200);
        expect(JSON.parse(answer.body.schema)).toEqual(registrations[i]!.schema);
      }
      const usages = await Promise.all(
        [one, two, three].map((r) => call(r.url, 'GET', `/schemas/ids/${id}/versions`)),
      );
      expect(usages[1]!.body).toEqual(usages[0]!.body);
      expect(usages[2]!.body).toEqual(usages[0]!.body);
    }
    const shared = await Promise.all(
      [one, two, three].map((r) => call(r.url, 'GET', '/subjects/shared/versions')),
    );
    for (const answer of shared) expect(answer.body).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    // Records that lost a race must not win once compaction has dropped the records that beat them.
    const log = await readLog(topic);
    expect(replay(compacted(log))).toEqual(replay(log));
    expect(replay(log).flat()).toHaveLength(registrations.length);
  });
});
