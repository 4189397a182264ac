import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { GenerationFencedError, InFlightFence } from '../../src/ingest/fence.js';
import { PartitionGate } from '../../src/ingest/gate.js';
import { PartitionOffsets } from '../../src/ingest/offsets.js';
import { createKeys } from '../../src/redis/keys.js';
import { deleteKeys, testRedis, unique } from '../helpers/services.js';

const redis = testRedis();
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(prefix);
  await redis.quit();
});

function setup(ttlMs = 30_000) {
  const keys = createKeys(unique('test-gate'));
  prefixes.push(keys.prefix);
  const key = keys.inFlight('group', 'cdc');
  const fence = new InFlightFence(redis, key, {
    ttlMs,
    pollMs: 20,
    generationKey: keys.generations('group', 'cdc'),
  });
  const gate = new PartitionGate(fence);
  const tracker = (partition: number, instance = 'a') =>
    new PartitionOffsets('cdc', partition, fence.owner(instance));
  return { key, fence, gate, tracker };
}

/** Resolves true if the promise settles within ms, false otherwise (it keeps running). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
}

describe('InFlightFence (fenceEnter-2.lua, fenceBusy-1.lua)', () => {
  it('counts other owners’ requests per partition until they are released', async () => {
    const { fence, key } = setup();
    const [a, b] = [fence.owner('a'), fence.owner('b')];
    const release = await fence.enter([
      { partition: 0, owner: a },
      { partition: 1, owner: a },
    ]);
    expect(await redis.zcard(key)).toBe(2);
    let stop = false;
    const blocked = fence.waitClear(b, 0, () => stop);
    expect(await settlesWithin(blocked, 150)).toBe(false);
    expect(
      await settlesWithin(
        fence.waitClear(a, 0, () => stop),
        150,
      ),
    ).toBe(true);
    expect(
      await settlesWithin(
        fence.waitClear(b, 2, () => stop),
        150,
      ),
    ).toBe(true);
    const waiting = fence.waitClear(b, 1, () => stop);
    await release();
    expect(await settlesWithin(waiting, 1000)).toBe(true);
    expect(await settlesWithin(blocked, 1000)).toBe(true);
    expect(await redis.zcard(key)).toBe(0);
    stop = true;
  });

  it('forgets a request past its deadline (a crashed instance releases nothing)', async () => {
    const { fence } = setup(300);
    await fence.enter([{ partition: 0, owner: fence.owner('crashed') }]);
    const started = Date.now();
    await fence.waitClear(fence.owner('b'), 0, () => false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });
});

/** pass, then enter: what the destinations do around their token wait. */
async function through(gate: PartitionGate, items: Parameters<PartitionGate['pass']>[0]) {
  const pass = await gate.pass(items);
  const entry = await pass.enter();
  if (!entry) throw new Error('a rebalance began between pass and enter');
  return entry;
}

describe('PartitionGate', () => {
  it('leaves out items whose partition assignment was revoked, and keeps mixed ones', async () => {
    const { gate, tracker } = setup();
    const [old, current] = [tracker(0), tracker(1)];
    old.revoke();
    const pass = await gate.pass([
      { id: 'gone', trackers: [old] },
      { id: 'kept', trackers: [current] },
      { id: 'mixed', trackers: [old, current] },
      { id: 'derived', trackers: [] },
    ]);
    expect([...pass.drop]).toEqual(['gone']);
    const entry = await pass.enter();
    expect([...entry!.drop]).toEqual(['gone']);
    await entry!.release();
  });

  it('waits in pass only; enter registers the request on the wire, release removes it', async () => {
    const { gate, tracker, key } = setup();
    const t = tracker(0);
    const pass = await gate.pass([{ id: 'x', trackers: [t] }]);
    expect(await redis.zcard(key)).toBe(0);
    const entry = await pass.enter();
    expect(entry!.drop.size).toBe(0);
    expect(await redis.zcard(key)).toBe(1);
    await entry!.release();
    expect(await redis.zcard(key)).toBe(0);
  });

  it('leaves out at enter what was revoked after pass (while the request waited for tokens)', async () => {
    const { gate, tracker, key } = setup();
    const [a, b] = [tracker(0), tracker(1)];
    const pass = await gate.pass([
      { id: 'a', trackers: [a] },
      { id: 'b', trackers: [b] },
    ]);
    expect(pass.drop.size).toBe(0);
    gate.hold();
    a.revoke();
    gate.open();
    const entry = await pass.enter();
    expect([...entry!.drop]).toEqual(['a']);
    expect((await redis.zrange(key, '0', '-1')).map((m) => m.split('|')[0])).toEqual(['1']);
    await entry!.release();
  });

  it('enters nothing while a rebalance runs: the request must pass again', async () => {
    const { gate, tracker, key } = setup();
    const t = tracker(0);
    const pass = await gate.pass([{ id: 'x', trackers: [t] }]);
    gate.hold();
    expect(await pass.enter()).toBeUndefined();
    expect(await redis.zcard(key)).toBe(0);
    const again = gate.pass([{ id: 'x', trackers: [t] }]);
    expect(await settlesWithin(again, 200)).toBe(false);
    t.revoke();
    gate.open();
    expect([...(await again).drop]).toEqual(['x']);
  });

  it('holds every request during a rebalance and lets it go once the new assignment is known', async () => {
    const { gate, tracker } = setup();
    const t = tracker(0);
    gate.hold();
    const pending = gate.pass([{ id: 'x', trackers: [t] }]);
    expect(await settlesWithin(pending, 200)).toBe(false);
    t.revoke();
    gate.open();
    const pass = await pending;
    expect([...pass.drop]).toEqual(['x']);
  });

  it('sends a new owner’s first request only after the earlier owner’s request was answered', async () => {
    const { gate, tracker } = setup();
    const earlier = tracker(3, 'a');
    const onWire = await through(gate, [{ id: 'x', trackers: [earlier] }]);
    earlier.revoke();
    const next = tracker(3, 'b');
    const waiting = gate.pass([{ id: 'x', trackers: [next] }]);
    expect(await settlesWithin(waiting, 300)).toBe(false);
    await onWire.release();
    const pass = await waiting;
    expect(pass.drop.size).toBe(0);
    expect(next.cleared).toBe(true);
    const entry = await pass.enter();
    expect(entry!.drop.size).toBe(0);
    await entry!.release();
  });

  it('abandons everything still waiting once closed', async () => {
    const { gate, tracker } = setup();
    gate.hold();
    const pending = gate.pass([{ id: 'x', trackers: [tracker(0)] }]);
    gate.close();
    expect([...(await pending).drop]).toEqual(['x']);
  });
});

describe('zombie fence on Redis (fenceClaim-1.lua, fenceEnter-2.lua)', () => {
  it('refuses, atomically and whole, a request of an older generation once a newer one claimed', async () => {
    const { fence, key } = setup();
    const [zombie, owner] = [fence.owner('zombie'), fence.owner('owner')];
    expect(await fence.claim(5, [0, 1])).toEqual([]);
    const release = await fence.enter([{ partition: 0, owner: zombie, generation: 5 }]);
    await release();
    expect(await fence.claim(6, [0])).toEqual([]);
    const refused = fence.enter([
      { partition: 0, owner: zombie, generation: 5 },
      { partition: 1, owner: zombie, generation: 5 },
    ]);
    await expect(refused).rejects.toBeInstanceOf(GenerationFencedError);
    await expect(refused).rejects.toMatchObject({ code: 'GENERATION_FENCED', partitions: [0] });
    expect(await redis.zcard(key)).toBe(0);
    // Partition 1 is still generation 5's; the newer owner of 0 sends.
    await (await fence.enter([{ partition: 1, owner: zombie, generation: 5 }]))();
    await (await fence.enter([{ partition: 0, owner, generation: 6 }]))();
    // A late claim of the older generation changes nothing.
    expect(await fence.claim(5, [0, 1])).toEqual([0]);
    await expect(fence.enter([{ partition: 0, owner: zombie, generation: 5 }])).rejects.toBeInstanceOf(
      GenerationFencedError,
    );
  });

  it('a request of a newer generation claims on its own (its claim at join failed); unknown is unchecked', async () => {
    const { fence, key } = setup();
    const gens = key.replace(':inflight:', ':generation:');
    await fence.claim(2, [3]);
    await (await fence.enter([{ partition: 3, owner: fence.owner('b'), generation: 4 }]))();
    expect((await redis.hget(gens, '3'))?.split('|')[0]).toBe('4');
    await expect(fence.enter([{ partition: 3, owner: fence.owner('a'), generation: 2 }])).rejects.toThrow(
      /newer consumer group generation owns partition\(s\) 3/,
    );
    await (await fence.enter([{ partition: 3, owner: fence.owner('a') }]))();
  });

  it('lets a lower generation claim over an old entry (the group was deleted and started over)', async () => {
    const keys = createKeys(unique('test-gate'));
    prefixes.push(keys.prefix);
    const fence = new InFlightFence(redis, keys.inFlight('g', 'cdc'), {
      ttlMs: 30_000,
      generationKey: keys.generations('g', 'cdc'),
      resetAfterMs: 300,
    });
    await fence.claim(40, [0]);
    expect(await fence.claim(1, [0])).toEqual([0]);
    await sleep(400);
    expect(await fence.claim(1, [0])).toEqual([]);
    await (await fence.enter([{ partition: 0, owner: fence.owner('a'), generation: 1 }]))();
  });

  it('through the gate: the zombie’s items are left out and its assignment revoked', async () => {
    const { fence } = setup();
    const fenced: number[] = [];
    const zombieGate = new PartitionGate(fence, (t) => void fenced.push(t.partition));
    const old = new PartitionOffsets('cdc', 0, fence.owner('zombie'), 8);
    const kept = new PartitionOffsets('cdc', 1, fence.owner('zombie'), 8);
    await fence.claim(8, [0, 1]);
    await fence.claim(9, [0]);
    const entry = await through(zombieGate, [
      { id: 'x', trackers: [old] },
      { id: 'y', trackers: [kept] },
    ]);
    expect([...entry.drop]).toEqual(['x']);
    expect(fenced).toEqual([0]);
    expect(old.revoked).toBe(true);
    await entry.release();
  });
});
