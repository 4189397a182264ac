import { describe, expect, it } from 'vitest';
import { PartitionOffsets } from '../../src/ingest/offsets.js';

describe('PartitionOffsets', () => {
  it('commits only the contiguous settled prefix, whatever order offsets settle in', () => {
    const t = new PartitionOffsets('t', 0);
    for (const o of ['10', '11', '13', '14']) t.add(o);
    expect(t.committable()).toBeUndefined();
    t.settle('13');
    t.settle('11');
    expect(t.committable()).toBeUndefined();
    t.settle('10');
    expect(t.committable()).toBe('13');
    expect(t.pending).toBe(1);
    t.settle('14');
    expect(t.committable()).toBe('14');
    expect(t.pending).toBe(0);
  });

  it('wakes waiters on settle and resolves at once when nothing is pending', async () => {
    const t = new PartitionOffsets('t', 0);
    t.add('1');
    let woke = false;
    const waiting = t.changed().then(() => {
      woke = true;
    });
    expect(woke).toBe(false);
    t.settle('1');
    await waiting;
    expect(woke).toBe(true);
    await t.changed();
  });

  it('handles offsets past 2^53', () => {
    const t = new PartitionOffsets('t', 0);
    t.add('9007199254740993');
    t.settle('9007199254740993');
    expect(t.committable()).toBe('9007199254740993');
  });
});
