import { describe, expect, it } from 'vitest';
import { type ItemEntry, packItem, parseItem } from '../../src/planning/state-codec.js';

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
