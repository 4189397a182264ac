import { describe, expect, it } from 'vitest';
import * as data from '../../../tools/demo/data.js';
import { catalogCheck } from '../../../tools/demo/summary.js';
import { sustainedRate } from '../../../tools/demo/tracker.js';

describe('demo scenario', () => {
  const s = data.scenario(10_000, 2_000);

  it('changes ≈5%, deletes ≈1% and leaves ≈2% out of the last full run, in disjoint sets', () => {
    expect(s.changed.size).toBe(400);
    expect(s.deleted.size).toBe(100);
    expect(s.missing.size).toBe(200);
    const all = [...s.bad, ...s.changed, ...s.deleted, ...s.missing];
    expect(new Set(all).size).toBe(all.length);
  });

  it('expects every product of the last full run but the rejected ones', () => {
    const last = [...data.lastFull(s)].map((r) => r.sku as string);
    const rejected = [...s.bad].map(data.productId);
    expect(last).toHaveLength(10_000 - 100 - 200);
    expect([...data.expectedProducts(s)].sort()).toEqual(last.filter((id) => !rejected.includes(id)).sort());
    for (const i of s.bad) expect(String(data.product(i, s).url)).not.toContain('://');
  });

  it('delta rows differ from the first export and equal the last one', () => {
    const [i] = [...s.changed];
    expect(data.product(i!, s, 1).price).not.toBe(data.product(i!, s).price);
    const inLast = [...data.lastFull(s)].find((r) => r.sku === data.productId(i!));
    expect(inLast).toEqual(data.product(i!, s, 1));
  });
});

describe('sustainedRate', () => {
  it('averages the whole inner seconds of each busy stretch, leaving out bursts and edges', () => {
    const perSecond = new Map([
      [100, 1200],
      [101, 990],
      [102, 1000],
      [103, 300],
      [200, 500],
    ]);
    expect(sustainedRate(perSecond)).toBe(995);
    expect(sustainedRate(new Map([[1, 800]]))).toBeUndefined();
  });
});

describe('catalogCheck', () => {
  it('passes on the exact id set and names differences otherwise', () => {
    expect(catalogCheck('p', ['a', 'b'], new Set(['a', 'b'])).ok).toBe(true);
    const bad = catalogCheck('p', ['a', 'c'], new Set(['a', 'b']));
    expect(bad.ok).toBe(false);
    expect(bad.line).toBe('check: p catalog has 2 items, expected 2 FAILED (unexpected: c; missing: b)');
  });
});
