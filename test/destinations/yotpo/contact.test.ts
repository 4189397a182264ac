import { describe, expect, it } from 'vitest';
import { encodeContact } from '../../../src/destinations/yotpo/contact.js';
import { AttributeFingerprint } from '../../../src/destinations/yotpo/fingerprint.js';

const all = (values: Record<string, unknown>) => new Set(Object.keys(values));
const rules = { matchKey: 'external_id' as const, custom: new Set(['tier', 'score', 'birthday']) };

describe('Yotpo contact encoding', () => {
  it('puts the identity under the match key, fields at the top and custom attributes in custom_properties', () => {
    const values = {
      first_name: 'Ada',
      tier: 'gold',
      score: 4.5,
      birthday: new Date('1990-01-02T00:00:00Z'),
    };
    const e = encodeContact(rules, 'shop-1', values, all(values));
    expect(e).toEqual({
      ok: true,
      identity: 'shop-1',
      customer: {
        external_id: 'shop-1',
        first_name: 'Ada',
        custom_properties: { tier: 'gold', score: 4.5, birthday: '1990-01-02T00:00:00.000Z' },
      },
      sent: 4,
      omitted: [],
    });
  });

  it('normalises email identities and phone numbers (E.164, default region)', () => {
    const byEmail = encodeContact({ ...rules, matchKey: 'email' }, ' Ada@Example.COM ', {}, new Set());
    expect(byEmail.ok && byEmail.customer).toEqual({ email: 'ada@example.com' });
    const byPhone = encodeContact(
      { ...rules, matchKey: 'phone', defaultCountry: 'FR' },
      '06 12 34 56 78',
      {},
      new Set(),
    );
    expect(byPhone.ok && byPhone.customer).toEqual({ phone_number: '+33612345678' });
  });

  it('refuses a bad email, an unparsable phone, a phone without region, an array property', () => {
    expect(encodeContact({ ...rules, matchKey: 'email' }, 'not-an-email', {}, new Set())).toMatchObject({
      ok: false,
      code: 'YOTPO_INVALID_IDENTITY',
    });
    expect(
      encodeContact({ ...rules, matchKey: 'phone', defaultCountry: 'FR' }, '12', {}, new Set()),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/not a valid phone number/),
    });
    expect(encodeContact({ ...rules, matchKey: 'phone' }, '0612345678', {}, new Set())).toMatchObject({
      ok: false,
    });
    const values = { tier: ['a'] };
    expect(encodeContact(rules, 'x', values, all(values))).toMatchObject({
      ok: false,
      code: 'YOTPO_INVALID_PROPERTY',
    });
    const email = { email: 'nope' };
    expect(encodeContact(rules, 'x', email, all(email))).toMatchObject({
      ok: false,
      code: 'YOTPO_INVALID_EMAIL',
    });
  });

  it('leaves null attributes out and names them; a record of nulls only is refused', () => {
    const values = { first_name: null, tier: 'gold' };
    expect(encodeContact(rules, 'x', values, all(values))).toMatchObject({
      ok: true,
      customer: { external_id: 'x', custom_properties: { tier: 'gold' } },
      omitted: ['first_name'],
    });
    const nulls = { first_name: null, tier: null };
    expect(encodeContact(rules, 'x', nulls, all(nulls))).toMatchObject({
      ok: false,
      code: 'YOTPO_NULL_ONLY',
    });
  });

  it('sends only the attributes listed', () => {
    const values = { first_name: 'Ada', last_name: 'L', tier: 'gold' };
    const e = encodeContact(rules, 'x', values, new Set(['last_name']));
    expect(e.ok && e.customer).toEqual({ external_id: 'x', last_name: 'L' });
  });
});

describe('per-attribute fingerprint', () => {
  const fp = new AttributeFingerprint(['first_name', 'last_name', 'tier']);

  it('is stable, equal for equal values and names exactly the attributes that changed', () => {
    const a = { first_name: 'Ada', last_name: 'L', tier: 'gold' };
    expect(fp.of(a)).toBe(fp.of({ tier: 'gold', last_name: 'L', first_name: 'Ada' }));
    expect(fp.of(a)).toMatch(/^[A-Za-z0-9_-]+$/);
    const b = { ...a, tier: 'silver' };
    expect(fp.of(b)).not.toBe(fp.of(a));
    expect([...fp.changed(b, fp.of(a))]).toEqual(['tier']);
    expect(fp.changed(a, fp.of(a)).size).toBe(0);
  });

  it('treats every present attribute as changed without a usable previous fingerprint', () => {
    const a = { first_name: 'Ada', tier: 'gold' };
    expect([...fp.changed(a, null)]).toEqual(['first_name', 'tier']);
    const other = new AttributeFingerprint(['first_name', 'tier']);
    expect([...fp.changed(a, other.of(a))]).toEqual(['first_name', 'tier']);
  });
});
