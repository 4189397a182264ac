import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../src/config/config.js';

const env = { YOTPO_STORE: 'store_1', YOTPO_TOKEN: 'secret-token' };
const config = (sync: Record<string, unknown>, yotpo: Record<string, unknown> = {}) => ({
  yotpo: {
    stores: { main: { storeId: { env: 'YOTPO_STORE' }, token: { env: 'YOTPO_TOKEN' } } },
    ...yotpo,
  },
  syncs: [
    {
      id: 'contacts',
      destination: { type: 'yotpo', store: 'main', matchKey: 'email' },
      mode: 'full_then_delta',
      operation: 'upsert',
      idColumn: 'email',
      fields: [{ source: 'fn', attribute: 'first_name', type: 'string' }],
      customAttributes: ['tier'],
      ...sync,
    },
  ],
});

const refusal = (input: unknown) => {
  try {
    parseConfig(input, env);
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

describe('Yotpo configuration', () => {
  it('resolves stores to secrets, with defaults, insert mode off and YOTPO_API_URL', () => {
    const cfg = parseConfig(config({}), { ...env, YOTPO_API_URL: 'http://127.0.0.1:1/core/v3' });
    expect(cfg.destinations.yotpo!.baseUrl).toBe('http://127.0.0.1:1/core/v3');
    expect(cfg.destinations.yotpo!.limits).toEqual({ requestsPerSecond: 10, concurrency: 8, headroom: 0.98 });
    expect(cfg.destinations.yotpo!.stores.main!.token.reveal()).toBe('secret-token');
    expect(JSON.stringify(cfg)).not.toContain('secret-token');
    expect(cfg.syncs[0]!.destination).toEqual({
      type: 'yotpo',
      store: 'main',
      matchKey: 'email',
      insertMode: false,
    });
  });

  it('refuses, naming the field, what Yotpo cannot take', () => {
    expect(refusal(config({ operation: 'mirror' }))).toMatch(
      /syncs\.0\.operation: .*never deletes Yotpo contacts/,
    );
    expect(refusal(config({ mode: 'full_only', operation: 'delete_only' }))).toMatch(/syncs\.0\.operation/);
    expect(refusal(config({ destination: { type: 'yotpo', store: 'nope', matchKey: 'email' } }))).toMatch(
      /syncs\.0\.destination\.store: store nope is not defined/,
    );
    expect(refusal(config({ customAttributes: ['has space'] }))).toMatch(/syncs\.0\.customAttributes\.0/);
    expect(refusal(config({ customAttributes: [{ name: 'tags_list', type: 'array' }] }))).toMatch(
      /customAttributes\.0\.type: .*not arrays/,
    );
    expect(refusal(config({ customAttributes: ['email'] }))).toMatch(/standard Yotpo customer field/);
    expect(refusal(config({ fields: [{ source: 'x', attribute: 'favourite', type: 'string' }] }))).toMatch(
      /fields\.0\.attribute: favourite is not a Yotpo customer field/,
    );
    expect(refusal(config({ fields: [{ source: 'p', attribute: 'phone_number', type: 'string' }] }))).toMatch(
      /refuses email and phone_number together/,
    );
    expect(refusal(config({}, { defaultCountry: 'XX' }))).toMatch(/yotpo\.defaultCountry/);
  });
});
