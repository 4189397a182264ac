import { describe, expect, it } from 'vitest';
import {
  changelogTopicConfig,
  changelogTopicName,
  headKey,
  memberKey,
  parseRecord,
  partitionOf,
} from '../../src/planning/changelog.js';

const buf = (s: string) => Buffer.from(s, 'utf8');

describe('membership changelog records', () => {
  it('reads back a member, a tombstone and a head of its own sync only', () => {
    expect(parseRecord('s1', buf(memberKey('s1', 'sku:1')), buf('{"s":7,"l":42}'))).toEqual({
      kind: 'member',
      itemId: 'sku:1',
      present: true,
      seq: 7,
      lsn: 42,
    });
    expect(parseRecord('s1', buf(memberKey('s1', 'sku:1')), null)).toMatchObject({
      kind: 'member',
      present: false,
    });
    expect(parseRecord('s1', buf(headKey('s1')), buf('{"l":50,"r":9,"f":3}'))).toEqual({
      kind: 'head',
      head: { l: 50, r: 9, f: 3 },
    });
    // A sync whose id extends another's is another sync.
    expect(parseRecord('s1', buf(memberKey('s10', 'x')), buf('{"s":1,"l":1}'))).toBeUndefined();
    expect(parseRecord('s1', buf(headKey('s10')), buf('{"l":1}'))).toBeUndefined();
    expect(parseRecord('s1', null, null)).toBeUndefined();
  });

  it('puts every record of a sync in one partition, stable across processes', () => {
    expect(partitionOf('products', 6)).toBe(partitionOf('products', 6));
    const spread = new Set(Array.from({ length: 60 }, (_, i) => partitionOf(`sync-${i}`, 6)));
    expect(spread.size).toBeGreaterThan(3);
    for (const p of spread) expect(p).toBeLessThan(6);
  });

  it('is a compacted topic named after the group unless configured', () => {
    expect(changelogTopicName({ groupId: 'g' })).toBe('g.state-changelog');
    expect(changelogTopicName({ groupId: 'g', changelogTopic: 't' })).toBe('t');
    expect(changelogTopicConfig('t').configEntries).toContainEqual({
      name: 'cleanup.policy',
      value: 'compact',
    });
  });

  it('is replicated as configured for the service topics, else as the brokers default', () => {
    const t = changelogTopicConfig('t', { replicationFactor: 3, minInsyncReplicas: 2 });
    expect(t.replicationFactor).toBe(3);
    expect(t.configEntries).toContainEqual({ name: 'min.insync.replicas', value: '2' });
    expect(changelogTopicConfig('t').replicationFactor).toBe(-1);
    expect(changelogTopicConfig('t').configEntries?.map((e) => e.name)).not.toContain('min.insync.replicas');
  });
});
