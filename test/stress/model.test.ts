import { describe, expect, it } from 'vitest';
import {
  type Attrs,
  dishonestSkips,
  holdBounds,
  holdVerdict,
  outcomeKey,
  outcomes,
  type Run,
  type Step,
} from './model.js';

const cfg = { maxDeleteShare: 0.5 };
const attrs = (n: number, v = 0): Attrs => ({
  name: `Item ${n} v${v}`,
  price: n + v,
  in_stock: true,
  tags: [],
});
const rows = (from: number, to: number, v = 0) =>
  Array.from({ length: to - from + 1 }, (_, i) => ({ id: `i${from + i}`, attrs: attrs(from + i, v) }));
let seq = 0;
const full = (r: Run['rows']): Step => ({
  type: 'run',
  run: { runId: `full-${++seq}`, seq, kind: 'FULL', rows: r, deleted: [] },
});
const delta = (r: Run['rows'], deleted: string[] = []): Step => ({
  type: 'run',
  run: { runId: `delta-${++seq}`, seq, kind: 'DELTA', rows: r, deleted },
});
const runId = (s: Step) => (s.type === 'run' ? s.run.runId : '');
const ids = (m: Map<string, unknown>) => [...m.keys()].sort();
const only = (steps: Step[]) => {
  const all = outcomes(steps, cfg);
  expect(all).toHaveLength(1);
  return all[0]!;
};

describe('reference model of the run semantics', () => {
  it('a full run under the share removes its absentees; over it, holds them', () => {
    const a = full(rows(1, 10));
    const b = full(rows(1, 9));
    const c = full(rows(1, 2));
    const o = only([a, b, c]);
    expect(ids(o.catalog)).toEqual(ids(new Map(rows(1, 9).map((r) => [r.id, 0]))));
    expect(o.held).toEqual([runId(c)]);
    expect(o.decisions.get(runId(b))).toBe('applied');
    expect(o.decisions.get(runId(a))).toBe('none');
  });

  it('an empty full run holds; a release removes what no later run upserted', () => {
    const a = full(rows(1, 4));
    const empty = full([]);
    const later = delta(rows(2, 2, 1));
    const o = only([a, empty, later, { type: 'checkpoint', release: [runId(empty)] }]);
    expect([...o.catalog]).toEqual([['i2', attrs(2, 1)]]);
    expect(o.held).toEqual([]);
  });

  it('deltas upsert (the later row of an id wins) and delete', () => {
    const o = only([
      full(rows(1, 3)),
      delta([...rows(2, 2, 1), ...rows(4, 4), ...rows(2, 2, 2)], ['i1', 'ghost']),
    ]);
    expect(o.catalog).toEqual(
      new Map([
        ['i2', attrs(2, 2)],
        ['i3', attrs(3)],
        ['i4', attrs(4)],
      ]),
    );
  });

  it('a hold decision that later runs of the segment can tip either way branches', () => {
    // 4 members, 2 absentees: not over half. A later delta deleting 2 others makes it 2 of 2.
    const a = full(rows(1, 4));
    const b = full(rows(1, 2));
    const later = delta([], ['i1', 'i2']);
    const bounds = holdBounds(new Map(rows(1, 4).map((r) => [r.id, r])), (b as { run: Run }).run, [
      (later as { run: Run }).run,
    ]);
    expect(bounds).toEqual({ count: { min: 2, max: 2 }, members: { min: 2, max: 4 }, empty: false });
    expect(holdVerdict(bounds, cfg)).toBe('ambiguous');
    const all = outcomes([a, { type: 'checkpoint', release: [] }, b, later], cfg);
    expect(all.map((o) => o.held)).toEqual([[], [runId(b)]]);
    // A checkpoint between them settles the question: b completes before the delta is produced.
    expect(
      outcomes([a, { type: 'checkpoint', release: [] }, b, { type: 'checkpoint', release: [] }, later], cfg),
    ).toHaveLength(1);
  });

  it('outcomes compare by content, whatever the key order of the attributes', () => {
    const x = { catalog: new Map([['i1', { b: 1, a: [1] }]]), held: [] };
    const y = { catalog: new Map([['i1', { a: [1], b: 1 }]]), held: [] };
    expect(outcomeKey(x as never)).toBe(outcomeKey(y as never));
  });

  it('flags skips that cannot be honest: changed rows as UNCHANGED, sure members as NOT_A_MEMBER', () => {
    const a = full(rows(1, 3));
    const b = full([...rows(1, 1), ...rows(2, 2, 1), ...rows(4, 4)]);
    const c = delta([], ['i1', 'i3', 'i9']);
    const { unchanged, notMember } = dishonestSkips([a, b, c]);
    expect([...unchanged.get(runId(b))!].sort()).toEqual(['i2', 'i4']);
    // i3 was left out of b, whose deletions may be held: it may or may not be a member.
    expect([...notMember.get(runId(c))!]).toEqual(['i1']);
  });

  it('an upsert reported SUPERSEDED makes its id no surer a member; an earlier one still does', () => {
    const a = full(rows(1, 2));
    const b = full(rows(3, 3));
    const c = delta([...rows(1, 1, 1), ...rows(3, 3, 1)], []);
    const d = delta([], ['i1', 'i3']);
    // c's i1 and i3 replaced by d's deletions before they were sent: i1 was removed by b's derivation,
    // so d may honestly find it no member; i3 is still b's.
    const superseded = new Map([[runId(c), new Set(['i1', 'i3'])]]);
    expect([...dishonestSkips([a, b, c, d], superseded).notMember.get(runId(d))!]).toEqual(['i3']);
    expect([...dishonestSkips([a, b, c, d]).notMember.get(runId(d))!].sort()).toEqual(['i1', 'i3']);
  });
});
