import { describe, expect, it } from 'vitest';
import { fingerprint, type ItemEntry, packItem, parseItem } from '../../src/planning/state-codec.js';

describe('item entry codec', () => {
  it('round-trips every field, fingerprints containing the separator included', () => {
    const entries: ItemEntry[] = [
      { idx: 0, seq: 0, removalPending: false, uncertain: false, fp: null },
      {
        idx: 1_999_999,
        seq: 1_767_225_600_000,
        removalPending: true,
        uncertain: true,
        fp: { epoch: 3, value: 'a|b.c' },
      },
    ];
    for (const e of entries) expect(parseItem(packItem(e))).toEqual(e);
  });

  it('stays short: under 32 characters for a 2,000,000th item with an epoch-ms seq and an 11-char fingerprint', () => {
    const v = packItem({
      idx: 1_999_999,
      seq: 1_767_225_600_000,
      removalPending: false,
      uncertain: false,
      fp: { epoch: 0, value: 'AbCdEfGhIjK' },
    });
    expect(v).toBe('16v7j|mjuohs00||0.AbCdEfGhIjK');
    expect(v.length).toBeLessThan(32);
  });

  it('rejects a value that is not an entry', () => {
    expect(() => parseItem('nonsense')).toThrow(/not an item entry/);
  });
});

describe('fingerprint', () => {
  // Fingerprints are stored in Redis: any change to these values re-sends every item once.
  it('keeps the values stored by earlier versions', () => {
    expect(fingerprint({})).toBe('RBNvo1WzZ4o');
    expect(fingerprint({ name: 'Product 1', price: 1.99, in_stock: true, tags: ['bench'] })).toBe(
      'PAIiqRDXoRw',
    );
    expect(
      fingerprint({ a: null, b: undefined, c: 0, d: -0, e: 1e21, f: 'é"\\\n\u2028', g: [], h: false }),
    ).toBe('dwmce2tVXzK');
    expect(
      fingerprint({ nested: { z: 1, a: [1, 'x', null, { y: 2, b: undefined }] }, when: new Date(0) }),
    ).toBe('04ilVS6CrJJ');
    expect(fingerprint({ Z: 1, a: 2, _: 3, é: 4, '10': 5, '9': 6 })).toBe('oM_baZZDtEF');
  });

  it('does not depend on key order', () => {
    expect(fingerprint({ tags: ['bench'], in_stock: true, price: 1.99, name: 'Product 1' })).toBe(
      'PAIiqRDXoRw',
    );
  });
});
