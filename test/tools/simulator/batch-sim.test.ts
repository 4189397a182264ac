import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../../tools/simulator/server.js';

const AUTH = { authorization: 'Bearer rest_demo_key', 'x-batch-project': 'project_demo' };
const FIELDS = [
  { name: 'title', type: 'string' },
  { name: 'qty', type: 'integer' },
  { name: 'price', type: 'float' },
  { name: 'available', type: 'bool' },
  { name: 'launch', type: 'date' },
  { name: 'website', type: 'url' },
  { name: 'tags', type: 'array' },
];

interface Reply {
  status: number;
  body: Record<string, unknown>;
  headers: Headers;
}

function client(base: () => string) {
  return async (path: string, body?: unknown, headers: Record<string, string> = AUTH): Promise<Reply> => {
    const res = await fetch(`${base()}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };
}

function expectError(reply: Reply, status: number, ...mentions: string[]) {
  expect(reply.status).toBe(status);
  expect(reply.body.error_code).toEqual(expect.any(Number));
  for (const m of mentions) expect(reply.body.error_message).toContain(m);
}

const addItem = (id: string, attributes?: Record<string, unknown>) => ({ id, action: 'add', attributes });

describe('Batch Catalog API simulator: contract', () => {
  let sim: Simulator;
  const call = client(() => sim.batchUrl);
  const create = (name = 'products', fields = FIELDS) => call('/catalogs/create', { name, fields });
  const edit = (items: unknown[], name = 'products') => call('/catalogs/items/edit', { name, items });
  const stored = (id: string, name = 'products') => sim.batch.catalog('project_demo', name)?.items.get(id);

  beforeAll(async () => {
    sim = await startSimulator({
      port: 0,
      batch: {
        projects: [
          { projectKey: 'project_demo', restApiKey: 'rest_demo_key' },
          { projectKey: 'project_other', restApiKey: 'rest_other_key' },
        ],
        requestsPerSecond: 1_000_000,
        itemsPerSecond: 1_000_000_000,
        maxItems: 3,
      },
    });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    sim.batch.reset();
    sim.batch.faults.clear();
  });

  describe('authentication and transport', () => {
    it.each([
      ['no Authorization', { 'x-batch-project': 'project_demo' }, 'Authorization'],
      ['no X-Batch-Project', { authorization: 'Bearer rest_demo_key' }, 'X-Batch-Project'],
      ['a wrong key', { ...AUTH, authorization: 'Bearer nope' }, 'REST API key'],
      ['another scheme', { ...AUTH, authorization: 'Basic cmVzdF9kZW1vX2tleQ==' }, 'Bearer'],
      ['an unknown project', { ...AUTH, 'x-batch-project': 'project_unknown' }, 'REST API key'],
      ['the key of another project', { ...AUTH, 'x-batch-project': 'project_other' }, 'REST API key'],
    ])('answers 401 to %s', async (_, headers, mention) => {
      expectError(await call('/catalogs/list', undefined, headers), 401, mention);
      expectError(await call('/catalogs/create', { name: 'products', fields: [] }, headers), 401);
      expect(sim.batch.catalog('project_demo', 'products')).toBeUndefined();
    });

    it('serves every documented version prefix and no other', async () => {
      const base = sim.url;
      for (const version of ['2.6', '2.9', '2.11']) {
        const res = await fetch(`${base}/${version}/catalogs/list`, { headers: AUTH });
        expect(res.status).toBe(200);
      }
      expectError(await client(() => base)('/2.5/catalogs/list'), 404);
      expectError(await call('/catalogs/delete', {}), 404);
      expectError(await call('/catalogs/create'), 405);
    });

    it('refuses a body that is not JSON, not an object, or too large', async () => {
      const post = (body: string, contentType: string) =>
        fetch(`${sim.batchUrl}/catalogs/create`, {
          method: 'POST',
          headers: { ...AUTH, 'content-type': contentType },
          body,
        });
      const asReply = async (res: Response) => ({
        status: res.status,
        body: (await res.json()) as Record<string, unknown>,
        headers: res.headers,
      });
      expectError(
        await asReply(await post('{"name":"p","fields":[]}', 'text/plain')),
        400,
        'application/json',
      );
      expectError(await asReply(await post('{"name":', 'application/json')), 400, 'JSON');
      expectError(await asReply(await post('[1]', 'application/json')), 400, 'object');
      expectError(await asReply(await post(' '.repeat(11 * 1024 * 1024), 'application/json')), 413);
      expect(
        (await asReply(await post('{"name":"p","fields":[]}', 'application/json; charset=utf-8'))).status,
      ).toBe(201);
    });

    it('keeps projects apart', async () => {
      await create();
      const other = { authorization: 'Bearer rest_other_key', 'x-batch-project': 'project_other' };
      expectError(await call('/catalogs/view?name=products', undefined, other), 404, 'products');
      expect((await call('/catalogs/list', undefined, other)).body.count).toBe(0);
    });
  });

  describe('catalogs', () => {
    it('creates, views and refuses a duplicate name with 409', async () => {
      const created = await create();
      expect(created.status).toBe(201);
      expect(created.body).toEqual({});
      const view = await call('/catalogs/view?name=products');
      expect(view.status).toBe(200);
      expect(view.body).toMatchObject({ name: 'products', fields: FIELDS, items: 0, size: 0 });
      expect(Date.parse(view.body.created as string)).not.toBeNaN();
      expect(Date.parse(view.body.updated as string)).not.toBeNaN();
      expectError(await create(), 409, 'already exists');
      expectError(await call('/catalogs/view?name=missing'), 404, 'missing');
      expectError(await call('/catalogs/view'), 400, 'name');
    });

    it.each([
      [
        'an uppercase field name',
        { name: 'p', fields: [{ name: 'Title', type: 'string' }] },
        'fields[0].name',
      ],
      [
        'a 31-character field name',
        { name: 'p', fields: [{ name: 'a'.repeat(31), type: 'string' }] },
        'fields[0]',
      ],
      ['an unknown type', { name: 'p', fields: [{ name: 'a', type: 'object' }] }, 'fields[0].type'],
      ['a field listed twice', { name: 'p', fields: [FIELDS[0], FIELDS[0]] }, 'twice'],
      ['an unknown property', { name: 'p', fields: [], extra: 1 }, 'extra'],
      ['no fields', { name: 'p' }, 'fields'],
      ['a bad catalog name', { name: 'my catalog', fields: [] }, 'name'],
    ])('refuses a create with %s', async (_, body, mention) => {
      expectError(await call('/catalogs/create', body), 400, mention);
      expect((await call('/catalogs/list')).body.count).toBe(0);
    });

    it('holds at most 25 fields and 5 catalogs', async () => {
      const fields = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `f${i}`, type: 'string' }));
      expectError(await create('wide', fields(26)), 400, '25 fields');
      for (let i = 0; i < 5; i++) expect((await create(`c${i}`, fields(i === 0 ? 25 : 1))).status).toBe(201);
      expectError(await create('c5', fields(1)), 400, '5 catalogs');
      expectError(
        await call('/catalogs/update', { name: 'c0', fields: [{ name: 'x', type: 'bool', action: 'add' }] }),
        400,
        '25 fields',
      );
    });

    it('pages the list with an opaque cursor', async () => {
      for (const name of ['e', 'a', 'd', 'b', 'c']) await create(name, []);
      const seen: string[] = [];
      let from: string | null = null;
      let pages = 0;
      do {
        const page = await call(`/catalogs/list?limit=2${from ? `&from=${from}` : ''}`);
        expect(page.status).toBe(200);
        expect(page.body.count).toBe(5);
        seen.push(...(page.body.catalogs as { name: string }[]).map((c) => c.name));
        from = page.body.next_from as string | null;
        expect(page.body.has_more).toBe(from !== null);
        pages++;
      } while (from !== null);
      expect(seen).toEqual(['a', 'b', 'c', 'd', 'e']);
      expect(pages).toBe(3);
      for (const limit of ['0', '101', 'ten', '2.5'])
        expectError(await call(`/catalogs/list?limit=${limit}`), 400, 'limit');
      expectError(await call('/catalogs/list?from=a'), 400, 'from');
    });

    it('adds and removes fields; a removed field leaves the items', async () => {
      await create('products', [{ name: 'title', type: 'string' }]);
      expectError(
        await edit([addItem('1', { title: 'x', qty: 2 })]),
        400,
        'no field "qty"',
        'POST /catalogs/update',
      );
      const update = (fields: unknown[]) => call('/catalogs/update', { name: 'products', fields });
      expect(await update([{ name: 'qty', type: 'integer', action: 'add' }])).toMatchObject({
        status: 200,
        body: {},
      });
      expect((await edit([addItem('1', { title: 'x', qty: 2 })])).status).toBe(202);
      expect((await update([{ name: 'title', type: 'string', action: 'remove' }])).status).toBe(200);
      expect(stored('1')).toEqual({ qty: 2 });
      expect(sim.batch.catalog('project_demo', 'products')?.fields).toEqual([
        { name: 'qty', type: 'integer' },
      ]);
      expectError(await update([{ name: 'qty', type: 'integer', action: 'add' }]), 400, 'already exists');
      expectError(await update([{ name: 'nope', type: 'string', action: 'remove' }]), 400, 'does not exist');
      expectError(await update([{ name: 'qty', type: 'string', action: 'remove' }]), 400, 'integer');
      expectError(await update([{ name: 'a', type: 'string', action: 'rename' }]), 400, 'action');
      expectError(await update([]), 400);
    });
  });

  describe('item attributes', () => {
    beforeEach(async () => {
      expect((await create()).status).toBe(201);
    });

    it.each<[string, Record<string, unknown>, Record<string, unknown>]>([
      ['a string', { title: 'Squid Game' }, { title: 'Squid Game' }],
      ['a 10,000-character string', { title: 'é'.repeat(10_000) }, { title: 'é'.repeat(10_000) }],
      ['an integer', { qty: 25 }, { qty: 25 }],
      ['a float', { price: 19.99 }, { price: 19.99 }],
      ['a whole float', { price: 20 }, { price: 20 }],
      ['a boolean', { available: false }, { available: false }],
      ['a date in Unix seconds', { 'date(launch)': 1451642400 }, { launch: 1451642400 }],
      ['an RFC 3339 date', { 'date(launch)': '2012-08-12T22:30:05Z' }, { launch: '2012-08-12T22:30:05Z' }],
      [
        'an RFC 3339 date with offset',
        { 'date(launch)': '2012-08-12T22:30:05.5+02:00' },
        { launch: '2012-08-12T22:30:05.5+02:00' },
      ],
      [
        'a web URL',
        { 'url(website)': 'https://batchstore/product/4729/image.png' },
        { website: 'https://batchstore/product/4729/image.png' },
      ],
      ['an app URL', { 'url(website)': 'myapp://path/to/content' }, { website: 'myapp://path/to/content' }],
      ['a string array', { tags: ['bikes', 'cinema'] }, { tags: ['bikes', 'cinema'] }],
      [
        '15 strings of 64 characters',
        { tags: Array(15).fill('t'.repeat(64)) },
        { tags: Array(15).fill('t'.repeat(64)) },
      ],
      ['a null', { title: null, qty: 1 }, { qty: 1 }],
    ])('accepts %s', async (_, attributes, expected) => {
      const reply = await edit([addItem('item-1', attributes)]);
      expect(reply.status).toBe(202);
      expect(stored('item-1')).toEqual(expected);
    });

    it.each<[string, Record<string, unknown>, string]>([
      ['an empty string', { title: '' }, 'title'],
      ['a 10,001-character string', { title: 'x'.repeat(10_001) }, 'title'],
      ['a number for a string', { title: 5 }, 'title'],
      ['a fraction for an integer', { qty: 2.5 }, 'qty'],
      ['a string for an integer', { qty: '3' }, 'qty'],
      ['a string for a float', { price: '1.5' }, 'price'],
      ['a string for a boolean', { available: 'true' }, 'available'],
      ['a number for a boolean', { available: 1 }, 'available'],
      ['a date without date()', { launch: 1451642400 }, 'date(launch)'],
      ['a date in milliseconds', { 'date(launch)': 1451642400000 }, 'milliseconds'],
      ['a date without time', { 'date(launch)': '2012-08-12' }, 'RFC 3339'],
      ['an impossible date', { 'date(launch)': '2012-02-30T22:30:05Z' }, 'RFC 3339'],
      ['a fractional timestamp', { 'date(launch)': 1.5 }, 'date(launch)'],
      ['a URL without url()', { website: 'https://example.com' }, 'url(website)'],
      ['a URL without scheme', { 'url(website)': 'example.com/page' }, 'url(website)'],
      ['a URL without ://', { 'url(website)': 'https:/example.com' }, 'url(website)'],
      ['a URL over 2048 characters', { 'url(website)': `https://e.com/${'a'.repeat(2040)}` }, '2048'],
      ['date() on a string field', { 'date(title)': 1451642400 }, 'date(title)'],
      ['an array of numbers', { tags: [1, 2] }, 'tags'],
      ['16 array elements', { tags: Array(16).fill('t') }, '15'],
      ['a 65-character array element', { tags: ['t'.repeat(65)] }, '64'],
      ['an object for an array', { tags: { a: 'b' } }, 'tags'],
      ['a nested object', { title: { en: 'x' } }, 'title'],
      ['an uppercase key', { Title: 'x' }, 'Title'],
      ['a 31-character key', { ['k'.repeat(31)]: 'x' }, '30 characters'],
      ['an undeclared attribute', { color: 'red' }, 'color'],
    ])('refuses %s, naming the item and the attribute', async (_, attributes, mention) => {
      const reply = await edit([addItem('item-1', attributes)]);
      expectError(reply, 400, 'item-1', mention);
      expect(stored('item-1')).toBeUndefined();
    });

    it('fails the whole request for one bad item and applies nothing', async () => {
      expect((await edit([addItem('kept', { title: 'before' })])).status).toBe(202);
      const reply = await edit([
        addItem('good-1', { title: 'a' }),
        { id: 'kept', action: 'remove' },
        addItem('bad-item', { qty: 'many' }),
        addItem('good-2', { title: 'b' }),
      ]);
      expectError(reply, 400, 'items[2]', 'bad-item', 'qty');
      expect(stored('good-1')).toBeUndefined();
      expect(stored('good-2')).toBeUndefined();
      expect(stored('kept')).toEqual({ title: 'before' });
    });

    it('merges attributes on add, removes one on null, deletes the item on remove', async () => {
      expect((await edit([addItem('1', { title: 'a', qty: 1, tags: ['x'] })])).status).toBe(202);
      expect((await edit([addItem('1', { qty: null, price: 2.5, title: 'b' })])).status).toBe(202);
      expect(stored('1')).toEqual({ title: 'b', tags: ['x'], price: 2.5 });
      expect((await edit([addItem('1')])).status).toBe(202);
      expect(stored('1')).toEqual({ title: 'b', tags: ['x'], price: 2.5 });
      expect(
        (
          await edit([
            { id: '1', action: 'remove' },
            { id: 'never-added', action: 'remove' },
          ])
        ).status,
      ).toBe(202);
      expect(stored('1')).toBeUndefined();
      expect((await call('/catalogs/view?name=products')).body.items).toBe(0);
    });

    it('sizes the catalog as the UTF-8 bytes of each id and its attributes in JSON', async () => {
      const update = [{ name: '__proto__', type: 'string', action: 'add' }];
      expect((await call('/catalogs/update', { name: 'products', fields: update })).status).toBe(200);
      // Three items at most in this simulator.
      const edits = [
        [
          addItem('plain', { title: 'Squid Game', qty: 3, price: 0.1, available: true, tags: [] }),
          addItem('é-😀', { title: 'quote " back\\ tab\t é 😀', tags: ['a', 'ü', '\u0001'] }),
          // An own property named __proto__, as a JSON body carries it.
          addItem('proto', JSON.parse('{"__proto__":"an attribute","url(website)":"myapp://x?q=\\"1\\""}')),
        ],
        [
          { id: 'é-😀', action: 'remove' },
          addItem('numbers', { price: 1e21, qty: -0, 'date(launch)': 1451642400, available: false }),
        ],
        [
          addItem('plain', { title: null, price: 5e-7, tags: ['x', 'y'] }),
          addItem('numbers', { 'date(launch)': '2012-08-12T22:30:05Z' }),
        ],
      ];
      for (const items of edits) {
        expect((await edit(items)).status).toBe(202);
        const catalog = sim.batch.catalog('project_demo', 'products')!;
        let bytes = 0;
        for (const [id, attributes] of catalog.items) {
          bytes += Buffer.byteLength(id) + Buffer.byteLength(JSON.stringify(attributes));
        }
        expect((await call('/catalogs/view?name=products')).body.size).toBe(bytes);
      }
      expect(Object.keys(stored('proto')!)).toContain('__proto__');
    });

    it.each<[string, unknown[], string]>([
      ['attributes on a remove', [{ id: '1', action: 'remove', attributes: {} }], 'remove'],
      ['an empty id', [addItem('', { title: 'x' })], 'id'],
      ['a 257-character id', [addItem('i'.repeat(257), { title: 'x' })], '256'],
      ['a numeric id', [{ id: 7, action: 'add' }], 'id'],
      ['an unknown action', [{ id: '1', action: 'upsert' }], 'action'],
      ['an id twice', [addItem('1', { title: 'x' }), addItem('1', { title: 'y' })], 'twice'],
      ['no items', [], 'at least one'],
      ['201 items', Array.from({ length: 201 }, (_, i) => addItem(`i${i}`)), '200'],
      ['attributes that are not an object', [{ id: '1', action: 'add', attributes: ['title'] }], 'object'],
    ])('refuses %s', async (_, items, mention) => {
      expectError(await edit(items), 400, mention);
      expect(sim.batch.catalog('project_demo', 'products')?.items.size).toBe(0);
    });

    it('accepts 200 items; 404 for an unknown catalog', async () => {
      const items = Array.from({ length: 200 }, (_, i) => addItem(`i${i}`));
      expectError(await edit(items, 'missing'), 404, 'missing');
      // maxItems is 3 in this suite, so 200 new items are refused as a whole.
      expectError(await edit(items), 400, 'at most 3 items');
      expect(sim.batch.catalog('project_demo', 'products')?.items.size).toBe(0);
    });

    it('enforces the item limit counting the removes of the same request', async () => {
      expect((await edit([addItem('a'), addItem('b'), addItem('c')])).status).toBe(202);
      expectError(await edit([addItem('d')]), 400, 'at most 3 items');
      expect((await edit([{ id: 'a', action: 'remove' }, addItem('d')])).status).toBe(202);
      expect([...(sim.batch.catalog('project_demo', 'products')?.items.keys() ?? [])].sort()).toEqual([
        'b',
        'c',
        'd',
      ]);
    });
  });
});

describe('Batch Catalog API simulator: indexing', () => {
  let sim: Simulator;
  const call = client(() => sim.batchUrl);
  beforeAll(async () => {
    // Long enough that the first view, sent right after the 202, sees the token in progress.
    sim = await startSimulator({ port: 0, batch: { indexingDelayMs: 1500 } });
  });
  afterAll(() => sim.close());

  it('reports IN_PROGRESS, then APPLIED; refuses a token of another catalog', async () => {
    await call('/catalogs/create', { name: 'products', fields: [] });
    await call('/catalogs/create', { name: 'other', fields: [] });
    const accepted = await call('/catalogs/items/edit', {
      name: 'products',
      items: [{ id: '1', action: 'add' }],
    });
    expect(accepted.status).toBe(202);
    const token = accepted.body.indexing_token as string;
    expect(token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const states: string[] = [];
    while (states.at(-1) !== 'APPLIED') {
      const view = await call(`/catalogs/view?name=products&indexing_token=${token}`);
      expect(view.status).toBe(200);
      expect(view.body.items).toBe(1);
      states.push(view.body.indexing_state as string);
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(states[0]).toBe('IN_PROGRESS');
    expect(new Set(states)).toEqual(new Set(['IN_PROGRESS', 'APPLIED']));
    expectError(await call(`/catalogs/view?name=other&indexing_token=${token}`), 400, 'indexing_token');
    expectError(await call('/catalogs/view?name=products&indexing_token=unknown'), 400, 'indexing_token');
  });
});
