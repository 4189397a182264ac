/**
 * The Confluent Schema Registry behaviour catalog-sync relies on, checked against the registry the tests
 * run with (Apicurio Registry's ccompat API from services:up, Confluent's in testcontainers): the
 * @kafkajs/confluent-schema-registry client's handshake, ids, evolution, and the errors the decoder
 * tells apart.
 */
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { describe, expect, it } from 'vitest';
import { endpoints, unique } from '../helpers/services.js';

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

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(`${endpoints().registryUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/vnd.schemaregistry.v1+json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  // biome-ignore lint/suspicious/noExplicitAny: answers are JSON whose shape the assertions check
  return { status: res.status, body: (await res.json()) as any };
}

describe('the schema registry, through the Confluent API and client', () => {
  it('registers, encodes and decodes; one schema keeps one id in every subject', async () => {
    const client = new SchemaRegistry({ host: endpoints().registryUrl });
    const subject = `${unique('users')}-value`;

    const { id } = await client.register(avro(userV1), { subject });
    const encoded = await client.encode(id, { id: 'u1', score: 7 });
    expect(encoded.readUInt8(0)).toBe(0);
    expect(encoded.readInt32BE(1)).toBe(id);
    expect(await client.decode(encoded)).toEqual({ id: 'u1', score: 7 });
    // A client that has never seen the id fetches the schema by id.
    expect(await new SchemaRegistry({ host: endpoints().registryUrl }).decode(encoded)).toEqual({
      id: 'u1',
      score: 7,
    });

    expect(await client.getLatestSchemaId(subject)).toBe(id);
    expect(await client.getRegistryIdBySchema(subject, avro(userV1))).toBe(id);
    // A second register passes the client's compatibility handshake (GET /config/{subject}: BACKWARD).
    expect((await client.register(avro(userV1), { subject })).id).toBe(id);
    const other = `${unique('others')}-value`;
    expect((await client.register(avro(userV1), { subject: other })).id).toBe(id);
    expect((await call('GET', `/config/${subject}`)).body).toEqual({ compatibilityLevel: 'BACKWARD' });

    // Whitespace and key order make neither a new id nor a new version.
    const reordered = `{ "fields": ${JSON.stringify(userV1.fields)}, "namespace": "test.registry", "type": "record", "name": "User" }`;
    expect((await call('POST', `/subjects/${subject}/versions`, { schema: reordered })).body).toEqual({ id });
    expect((await call('GET', `/subjects/${subject}/versions`)).body).toEqual([1]);
    const usages = (await call('GET', `/schemas/ids/${id}/versions`)).body as unknown[];
    expect(usages).toEqual(
      expect.arrayContaining([
        { subject, version: 1 },
        { subject: other, version: 1 },
      ]),
    );
  });

  it('takes a compatible evolution as version 2, refuses an incompatible one with 409, and reads v1 data with v2', async () => {
    const client = new SchemaRegistry({ host: endpoints().registryUrl });
    const subject = `${unique('evolving')}-value`;
    const { id: v1 } = await client.register(avro(userV1), { subject });
    const v1Data = await client.encode(v1, { id: 'u1', score: 3 });

    const { id: v2 } = await client.register(avro(userV2), { subject });
    expect(v2).not.toBe(v1);
    expect((await call('GET', `/subjects/${subject}/versions/latest`)).body).toMatchObject({
      subject,
      version: 2,
      id: v2,
    });

    await expect(client.register(avro(userRequired), { subject })).rejects.toMatchObject({ status: 409 });
    const refused = await call('POST', `/subjects/${subject}/versions`, {
      schema: JSON.stringify(userRequired),
    });
    expect(refused).toMatchObject({ status: 409, body: { error_code: 409 } });
    const check = await call('POST', `/compatibility/subjects/${subject}/versions/latest`, {
      schema: JSON.stringify(userRequired),
    });
    expect(check.body).toMatchObject({ is_compatible: false });
    expect((await call('GET', `/subjects/${subject}/versions`)).body).toEqual([1, 2]);

    const read = await client.decode(v1Data, { [SchemaType.AVRO]: { readerSchema: userV2 } });
    expect(read).toEqual({ id: 'u1', score: 3, email: null });
  });

  it("answers Confluent's error codes; an unknown id is a 404, which the decoder calls poison", async () => {
    const known = unique('known');
    await call('POST', `/subjects/${known}/versions`, { schema: JSON.stringify(userV1) });
    const cases: [string, string, unknown, number, number][] = [
      ['GET', '/schemas/ids/2000000000', undefined, 404, 40403],
      ['GET', `/subjects/${unique('unknown')}/versions`, undefined, 404, 40401],
      ['GET', `/subjects/${unique('unknown')}/versions/latest`, undefined, 404, 40401],
      ['GET', `/subjects/${known}/versions/9`, undefined, 404, 40402],
      ['POST', `/subjects/${known}`, { schema: JSON.stringify(userV2) }, 404, 40403],
      ['POST', `/subjects/${known}/versions`, { schema: 'not json' }, 422, 42201],
      ['PUT', `/config/${known}`, { compatibility: 'SOMETIMES' }, 422, 42203],
    ];
    for (const [method, path, body, status, code] of cases) {
      const res = await call(method, path, body);
      expect({ method, path, status: res.status, code: res.body.error_code }).toEqual({
        method,
        path,
        status,
        code,
      });
      expect(res.body.message).toEqual(expect.any(String));
    }
    const client = new SchemaRegistry({ host: endpoints().registryUrl });
    await expect(client.getSchema(2_000_000_000)).rejects.toMatchObject({ status: 404 });
  });
});
