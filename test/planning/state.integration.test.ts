import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fingerprint, type RunRef, SyncState, SyncStateError } from '../../src/planning/state.js';
import { parseItem } from '../../src/planning/state-codec.js';
import { createRedis, type Redis } from '../../src/redis/connection.js';
import { createKeys, type Keys } from '../../src/redis/keys.js';

const redis = createRedis();
const other = createRedis();
let keys: Keys;
let syncId: string;

const full = (seq: number): RunRef => ({ runId: `full-${seq}`, seq, kind: 'FULL' });
const delta = (seq: number): RunRef => ({ runId: `delta-${seq}`, seq, kind: 'DELTA' });
const state = (opts = {}, conn: Redis = redis) => new SyncState(conn, keys, syncId, opts);

/** Upserts ids in a run and settles them as accepted, as the consumer would. */
async function upsertAll(s: SyncState, run: RunRef, ids: string[], fp = 'fp-1') {
  const decisions = await s.prepareUpserts(
    run,
    ids.map((id) => ({ id, fp })),
  );
  return s.settle(
    run,
    decisions.map((d) => ({
      id: d.id,
      outcome: d.decision === 'send' ? 'upserted' : 'skipped',
      fp,
    })),
  );
}

async function finishedRun(s: SyncState, run: RunRef, ids: string[]) {
  await upsertAll(s, run, ids);
  expect(await s.endRun(run, ids.length)).toBe('claimed');
  await s.finishRun(run);
}

async function collect(it: AsyncIterable<string[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const chunk of it) out.push(...chunk);
  return out.sort();
}

beforeEach(() => {
  keys = createKeys(`test-${randomUUID()}`);
  syncId = `sync-${randomUUID()}`;
});

afterEach(async () => {
  const found = await redis.keys(`${keys.prefix}:*`);
  if (found.length > 0) await redis.unlink(...found);
});

afterAll(async () => {
  await redis.quit();
  await other.quit();
});

describe('run completion', () => {
  it('counts distinct ids, never replays, and completes when the end marker comes last', async () => {
    const s = state();
    const run = full(1);
    await s.startRun(run);
    await s.prepareUpserts(
      run,
      ['a', 'b', 'c'].map((id) => ({ id, fp: 'f' })),
    );
    const first = await s.settle(run, [
      { id: 'a', outcome: 'upserted', fp: 'f' },
      { id: 'b', outcome: 'upserted', fp: 'f' },
    ]);
    expect(first).toEqual({ newlySettled: 2, completion: 'none', again: [] });
    const replay = await s.settle(run, [
      { id: 'a', outcome: 'upserted', fp: 'f' },
      { id: 'b', outcome: 'rejected' },
    ]);
    expect(replay).toEqual({ newlySettled: 0, completion: 'none', again: [] });
    expect(await s.endRun(run, 3)).toBe('none');
    expect(await s.settle(run, [{ id: 'c', outcome: 'skipped' }])).toEqual({
      newlySettled: 1,
      completion: 'claimed',
      again: [],
    });
    const info = await s.runInfo(run.runId);
    expect(info).toMatchObject({ state: 'deriving', expected: 3, settled: 3, upserted: 2, skipped: 1 });
    expect(await s.finishRun(run)).toEqual({ upserted: 2, removed: 0, rejected: 0, skipped: 1, held: 0 });
    expect(await s.runsInProgress()).toEqual([]);
  });

  it('completes exactly at the last distinct id when the end marker comes first', async () => {
    const s = state();
    const run = delta(2);
    expect(await s.endRun(run, 2)).toBe('none');
    expect((await upsertAll(s, run, ['a'])).completion).toBe('none');
    expect(await upsertAll(s, run, ['a'])).toEqual({ newlySettled: 0, completion: 'none', again: [] });
    expect(await upsertAll(s, run, ['a', 'b'])).toEqual({
      newlySettled: 1,
      completion: 'claimed',
      again: [],
    });
  });

  it('an empty run completes at its end marker', async () => {
    const s = state();
    expect(await s.endRun(full(1), 0)).toBe('claimed');
  });

  it('a replayed removal counts once even after the entry (and its bit index) is gone', async () => {
    const s = state();
    await finishedRun(s, full(1), ['x', 'y']);
    const run = delta(2);
    expect(await s.prepareRemovals(run, ['x'], 'members-only')).toEqual([{ id: 'x', decision: 'send' }]);
    expect((await s.settle(run, [{ id: 'x', outcome: 'removed' }])).newlySettled).toBe(1);
    expect(await s.memberCount()).toBe(1);
    // Crash before the offset commit: the delete is replayed.
    expect(await s.prepareRemovals(run, ['x'], 'members-only')).toEqual([
      { id: 'x', decision: 'not_member' },
    ]);
    expect((await s.settle(run, [{ id: 'x', outcome: 'skipped' }])).newlySettled).toBe(0);
    // Re-created (new bit index) within the same run: still the same id, still counted once.
    await s.prepareUpserts(run, [{ id: 'x', fp: 'f' }]);
    expect((await s.settle(run, [{ id: 'x', outcome: 'upserted', fp: 'f' }])).newlySettled).toBe(0);
    expect(await s.endRun(run, 2)).toBe('none');
    expect(await upsertAll(s, run, ['y'])).toEqual({ newlySettled: 1, completion: 'claimed', again: [] });
  });

  it('two instances racing on the last settle and end marker: exactly one claims', async () => {
    for (let i = 0; i < 10; i++) {
      const a = state();
      const b = state({}, other);
      const run = full(100 + i);
      await a.prepareUpserts(run, [
        { id: 'p', fp: 'f' },
        { id: 'q', fp: 'f' },
      ]);
      await a.settle(run, [{ id: 'p', outcome: 'upserted', fp: 'f' }]);
      const last = { id: 'q', outcome: 'upserted' as const, fp: 'f' };
      const answers = await Promise.all([
        a.settle(run, [last]).then((r) => r.completion),
        b.settle(run, [last]).then((r) => r.completion),
        a.endRun(run, 2),
        b.endRun(run, 2),
      ]);
      expect(answers.filter((c) => c === 'claimed')).toHaveLength(1);
      expect((await a.runInfo(run.runId))?.settled).toBe(2);
      // The claimer finishes it; an unfinished earlier run would make the next one wait.
      await (answers.indexOf('claimed') % 2 === 0 ? a : b).finishRun(run);
    }
  });

  it('a dead claimer loses the run when its lease expires; another instance claims it', async () => {
    const dead = state({ leaseMs: 200 });
    const alive = state({}, other);
    const run = full(1);
    expect(await dead.endRun(run, 0)).toBe('claimed');
    let answer = await alive.claim(run);
    expect(answer).toBe('busy');
    const deadline = Date.now() + 10_000;
    while (answer === 'busy' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      answer = await alive.claim(run);
    }
    expect(answer).toBe('claimed');
    expect(await dead.renewLease(run)).toBe(false);
    await expect(dead.finishRun(run)).rejects.toMatchObject({ code: 'STATE_LEASE_LOST', retriable: false });
    await alive.finishRun(run);
    expect(await dead.claim(run)).toBe('done');
    expect(await dead.settle(run, [{ id: 'late', outcome: 'skipped' }])).toEqual({
      newlySettled: 0,
      completion: 'done',
      again: [],
    });
  });

  it('an incomplete run claims nothing and derives nothing', async () => {
    const s = state();
    const run = full(5);
    await upsertAll(s, run, ['a', 'b']);
    expect(await s.endRun(run, 3)).toBe('none');
    expect(await s.claim(run)).toBe('none');
    expect((await s.runInfo(run.runId))?.state).toBe('open');
    const err = await s.countDeletionCandidates(run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SyncStateError);
    expect(err).toMatchObject({ code: 'STATE_LEASE_LOST' });
    expect((await s.runsInProgress()).map((r) => r.runId)).toEqual([run.runId]);
    expect(await s.runInfo('no-such-run')).toBeNull();
  });
});

describe('fingerprints and membership', () => {
  it('skips unchanged items, re-sends after a reset, and after a removal', async () => {
    const s = state();
    await upsertAll(s, delta(1), ['a'], 'fp-1');
    expect(await s.prepareUpserts(delta(2), [{ id: 'a', fp: 'fp-1' }])).toEqual([
      { id: 'a', decision: 'unchanged', storedFp: 'fp-1' },
    ]);
    expect(await s.prepareUpserts(delta(3), [{ id: 'a', fp: 'fp-2' }])).toEqual([
      { id: 'a', decision: 'send', storedFp: 'fp-1' },
    ]);
    await s.resetFingerprints();
    expect(await s.prepareUpserts(delta(4), [{ id: 'a', fp: 'fp-1' }])).toEqual([
      { id: 'a', decision: 'send', storedFp: null },
    ]);
    await s.settle(delta(4), [{ id: 'a', outcome: 'upserted', fp: 'fp-1' }]);
    expect((await s.prepareUpserts(delta(5), [{ id: 'a', fp: 'fp-1' }]))[0]?.decision).toBe('unchanged');
    await s.prepareRemovals(delta(6), ['a'], 'members-only');
    await s.settle(delta(6), [{ id: 'a', outcome: 'removed' }]);
    expect(await s.prepareUpserts(delta(7), [{ id: 'a', fp: 'fp-1' }])).toEqual([
      { id: 'a', decision: 'send', storedFp: null },
    ]);
  });

  it('an id twice in one script call is decided as in two calls (entries are read and written per call)', async () => {
    // Same steps on two syncs: one item per call, then every item of a step in one call.
    const outcome = async (oneCall: boolean) => {
      syncId = `sync-${randomUUID()}`;
      const s = state();
      const calls = <T, R>(list: T[], f: (part: T[]) => Promise<R[]>) =>
        oneCall
          ? f(list)
          : list.reduce<Promise<R[]>>(
              async (acc, x) => [...(await acc), ...(await f([x]))],
              Promise.resolve([]),
            );
      const settle = async (run: RunRef, list: Parameters<SyncState['settle']>[1]) => {
        const parts = oneCall ? [list] : list.map((o) => [o]);
        const res = [];
        for (const part of parts) res.push(await s.settle(run, part));
        return res.reduce((a, r) => ({ newly: a.newly + r.newlySettled, again: [...a.again, ...r.again] }), {
          newly: 0,
          again: [] as { id: string; seq: number }[],
        });
      };
      const run1 = full(1);
      await s.startRun(run1);
      const up = [
        { id: 'a', fp: 'f1' },
        { id: 'a', fp: 'f1' },
        { id: 'b', fp: 'f1' },
      ];
      const d1 = await calls(up, (part) => s.prepareUpserts(run1, part));
      const s1 = await settle(run1, [
        { id: 'a', outcome: 'upserted', fp: 'f1' },
        { id: 'a', outcome: 'upserted', fp: 'f1' },
        { id: 'b', outcome: 'upserted', fp: 'f1' },
      ]);
      const run2 = delta(2);
      await s.prepareRemovals(run2, ['a'], 'members-only');
      const d2 = await calls(
        [
          { id: 'b', fp: 'f2' },
          { id: 'b', fp: 'f2' },
          { id: 'c', fp: 'f2' },
          { id: 'c', fp: 'f2' },
        ],
        (part) => s.prepareUpserts(run2, part),
      );
      // a's removal settles (it leaves), then an upsert of it that raced it lands (it joins again).
      const s2 = await settle(run2, [
        { id: 'a', outcome: 'removed' },
        { id: 'a', outcome: 'upserted', fp: 'f2' },
        { id: 'b', outcome: 'upserted', fp: 'f2' },
        { id: 'b', outcome: 'skipped' },
      ]);
      return {
        d1,
        s1,
        d2,
        s2,
        items: await redis.hgetall(keys.sync(syncId, 'items')),
        nextIdx: await redis.hget(keys.sync(syncId, 'meta'), 'nextIdx'),
        // Its counts; its times differ between the two syncs.
        run: { ...(await s.runInfo(run2.runId)), at: undefined },
      };
    };
    const apart = await outcome(false);
    expect(apart.d1.map((d) => d.decision)).toEqual(['send', 'send', 'send']);
    expect(Object.keys(apart.items).sort()).toEqual(['a', 'b', 'c']);
    const together = await outcome(true);
    expect(together).toEqual(apart);
  });

  it('writes entries the TS codec reads (the memory bench fills through it)', async () => {
    const s = state();
    await upsertAll(s, delta(1_767_225_600_000), ['a', 'b'], 'AbCdEfGhIjK');
    await s.prepareRemovals(delta(1_767_225_600_001), ['b'], 'members-only');
    const items = keys.sync(syncId, 'items');
    expect(parseItem((await redis.hget(items, 'a'))!)).toEqual({
      idx: 0,
      seq: 1_767_225_600_000,
      removalPending: false,
      uncertain: false,
      fp: { epoch: 0, value: 'AbCdEfGhIjK' },
    });
    expect(parseItem((await redis.hget(items, 'b'))!)).toMatchObject({ idx: 1, removalPending: true });
  });

  it('membership errs towards a superset: joins before the create, leaves only after an accepted removal', async () => {
    const s = state();
    await s.prepareUpserts(delta(1), [{ id: 'a', fp: 'f' }]);
    expect(await s.memberCount()).toBe(1);
    await s.settle(delta(1), [{ id: 'a', outcome: 'rejected' }]);
    expect(await s.memberCount()).toBe(1);
    expect(await s.prepareRemovals(delta(2), ['a'], 'members-only')).toEqual([{ id: 'a', decision: 'send' }]);
    // Crash between prepare and send: the replayed delete goes out again instead of waiting on itself.
    expect(await s.prepareRemovals(delta(2), ['a'], 'members-only')).toEqual([{ id: 'a', decision: 'send' }]);
    expect((await s.prepareUpserts(delta(3), [{ id: 'a', fp: 'f' }]))[0]?.decision).toBe('wait');
    await s.settle(delta(2), [{ id: 'a', outcome: 'rejected' }]);
    expect(await s.memberCount()).toBe(1);
    await s.prepareRemovals(delta(3), ['a'], 'members-only');
    expect(await s.memberCount()).toBe(1);
    await s.settle(delta(3), [{ id: 'a', outcome: 'removed' }]);
    expect(await s.memberCount()).toBe(0);
  });

  it('Delete Only removes ids it never saw without making them members, counting each once', async () => {
    const s = state();
    const run = full(1);
    expect(await s.prepareRemovals(run, ['u', 'v'], 'always')).toEqual([
      { id: 'u', decision: 'send' },
      { id: 'v', decision: 'send' },
    ]);
    const outcomes = [
      { id: 'u', outcome: 'removed' as const },
      { id: 'v', outcome: 'removed' as const },
    ];
    expect((await s.settle(run, outcomes)).newlySettled).toBe(2);
    expect((await s.settle(run, outcomes)).newlySettled).toBe(0);
    expect(await s.memberCount()).toBe(0);
    expect(await s.endRun(run, 2)).toBe('claimed');
  });

  it('a row of an older run replayed after a newer run processed it is stale', async () => {
    const s = state();
    await upsertAll(s, delta(20), ['a']);
    expect(await s.prepareUpserts(delta(10), [{ id: 'a', fp: 'old' }])).toEqual([
      { id: 'a', decision: 'stale', storedFp: null },
    ]);
    expect(await s.prepareRemovals(delta(10), ['a'], 'members-only')).toEqual([
      { id: 'a', decision: 'stale' },
    ]);
    expect((await s.settle(delta(10), [{ id: 'a', outcome: 'skipped' }])).newlySettled).toBe(1);
    expect((await s.prepareUpserts(delta(30), [{ id: 'a', fp: 'fp-1' }]))[0]?.decision).toBe('unchanged');
  });
});

describe('mirror derivation', () => {
  it('derives members absent from the run, except those a later run upserted; removals never overtake upserts', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j']);
    const run = full(20);
    await upsertAll(s, run, ['a', 'b', 'g', 'h', 'i', 'j']);
    // f is in the run but its row was rejected locally (never prepared): still not a deletion.
    await s.settle(run, [{ id: 'f', outcome: 'rejected' }]);
    // A later delta streams in before run 20 completes: c (unchanged) and e (changed) are in it.
    expect((await upsertAll(s, delta(30), ['c'])).newlySettled).toBe(1);
    await upsertAll(s, delta(30), ['e'], 'fp-2');
    expect(await s.endRun(run, 7)).toBe('claimed');
    expect(await s.countDeletionCandidates(run)).toBe(1);
    expect(await collect(s.markDeletionCandidates(run))).toEqual(['d']);

    // The later run's upsert of d must wait for the removal to settle, then goes out as a create.
    expect((await s.prepareUpserts(delta(30), [{ id: 'd', fp: 'fp-1' }]))[0]?.decision).toBe('wait');
    await s.settleDerived(run, [{ id: 'd', outcome: 'removed' }]);
    expect(await s.memberCount()).toBe(9);
    expect(await s.prepareUpserts(delta(30), [{ id: 'd', fp: 'fp-1' }])).toEqual([
      { id: 'd', decision: 'send', storedFp: null },
    ]);
    // A second owner re-sending the same removal counts nothing more.
    await s.settleDerived(run, [{ id: 'd', outcome: 'removed' }]);
    expect(await s.finishRun(run)).toEqual({ upserted: 0, removed: 1, rejected: 1, skipped: 6, held: 0 });
  });

  it('a takeover re-marks what a dead owner had already flagged', async () => {
    const dead = state({ leaseMs: 200 });
    const alive = state({}, other);
    await finishedRun(alive, full(10), ['a', 'b', 'c']);
    const run = full(20);
    await upsertAll(alive, run, ['a']);
    expect(await dead.endRun(run, 1)).toBe('claimed');
    expect(await collect(dead.markDeletionCandidates(run))).toEqual(['b', 'c']);
    let answer = await alive.claim(run);
    const deadline = Date.now() + 10_000;
    while (answer !== 'claimed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      answer = await alive.claim(run);
    }
    expect(answer).toBe('claimed');
    await expect(collect(dead.markDeletionCandidates(run))).rejects.toMatchObject({
      code: 'STATE_LEASE_LOST',
    });
    expect(await collect(alive.markDeletionCandidates(run))).toEqual(['b', 'c']);
  });

  it('a removal settled after a later run re-upserted the item leaves it in place', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a']);
    await s.prepareRemovals(delta(40), ['a'], 'members-only');
    await s.settle(delta(40), [{ id: 'a', outcome: 'rejected' }]);
    await upsertAll(s, delta(50), ['a'], 'fp-2');
    // Replay of run 40's settle arrives late.
    await s.settle(delta(40), [{ id: 'a', outcome: 'removed' }]);
    expect(await s.memberCount()).toBe(1);
    expect((await s.prepareUpserts(delta(60), [{ id: 'a', fp: 'fp-2' }]))[0]?.decision).toBe('unchanged');
  });

  it('an older upsert racing a derived removal makes the removal go again, whichever settles first', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'e', 'f']);
    // Run 15 lags: its upserts of e and f are in flight while run 20 derives.
    const lagging = await s.prepareUpserts(delta(15), [
      { id: 'e', fp: 'fp-2' },
      { id: 'f', fp: 'fp-2' },
    ]);
    expect(lagging.map((d) => d.decision)).toEqual(['send', 'send']);
    const run = full(20);
    await upsertAll(s, run, ['a']);
    expect(await s.endRun(run, 1)).toBe('claimed');
    expect(await collect(s.markDeletionCandidates(run))).toEqual(['e', 'f']);
    // e: the upsert settles first, while the removal is pending.
    expect((await s.settle(delta(15), [{ id: 'e', outcome: 'upserted', fp: 'fp-2' }])).again).toEqual([]);
    // f: the removal settles first; the upsert may have landed after it.
    expect(await s.settleDerived(run, [{ id: 'f', outcome: 'removed' }])).toEqual([]);
    expect((await s.settle(delta(15), [{ id: 'f', outcome: 'upserted', fp: 'fp-2' }])).again).toEqual([
      { id: 'f', seq: 20 },
    ]);
    expect(await s.settleDerived(run, [{ id: 'e', outcome: 'removed' }])).toEqual([{ id: 'e', seq: 20 }]);
    // Until the repeated removals are accepted, both stay members (a superset), and nothing waits on them.
    expect(await s.memberCount()).toBe(3);
    expect(await s.settleRepair([{ id: 'e', seq: 20, outcome: 'removed' }])).toEqual([]);
    expect(await s.memberCount()).toBe(2);
    // A run from 20 on upserted f in between: the repeated removal leaves its entry in place.
    expect((await s.prepareUpserts(delta(30), [{ id: 'f', fp: 'fp-3' }]))[0]?.decision).toBe('send');
    expect(await s.settleRepair([{ id: 'f', seq: 20, outcome: 'removed' }])).toEqual([]);
    expect(await s.memberCount()).toBe(2);
    // Rows of runs older than a derived run are superseded by it.
    expect((await s.prepareUpserts(delta(15), [{ id: 'z', fp: 'f' }]))[0]?.decision).toBe('stale');
    expect(await s.finishRun(run)).toMatchObject({ removed: 2 });
  });

  it('runs take effect in order: a complete run waits until every earlier ended run is done or held', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'b', 'c']);
    // Run 15 (a delta) has its end marker but one of its rows is still streaming in.
    await upsertAll(s, delta(15), ['a']);
    expect(await s.endRun(delta(15), 2)).toBe('none');
    // Run 17 never ended (its producer died): it is not waited for.
    await upsertAll(s, delta(17), ['b']);
    const run = full(20);
    await upsertAll(s, run, ['a']);
    expect(await s.endRun(run, 1)).toBe('waiting');
    expect(await s.runInfo(run.runId)).toMatchObject({ state: 'complete', waitingFor: 'delta-15' });
    // Deriving now would be premature: run 15's last row is a new item, d, that run 20 does not have.
    expect((await upsertAll(s, delta(15), ['d'])).completion).toBe('claimed');
    expect(await s.claim(run)).toBe('waiting');
    await s.finishRun(delta(15));
    expect(await s.claim(run)).toBe('claimed');
    expect((await s.runInfo(run.runId))?.waitingFor).toBeNull();
    expect(await s.countDeletionCandidates(run)).toBe(3);
    expect(await collect(s.markDeletionCandidates(run))).toEqual(['b', 'c', 'd']);
  });

  it('an earlier run that settles nothing more (it can never complete) stops holding later runs back', async () => {
    const s = state({ orderStallMs: 300 });
    // Run 5 ended with 3 ids, but one of its rows was dead-lettered: it never completes.
    await upsertAll(s, delta(5), ['a', 'b']);
    expect(await s.endRun(delta(5), 3)).toBe('none');
    const run = delta(6);
    await upsertAll(s, run, ['c']);
    expect(await s.endRun(run, 1)).toBe('waiting');
    await new Promise((r) => setTimeout(r, 350));
    expect(await s.claim(run)).toBe('claimed');
    expect((await s.runInfo('delta-5'))?.state).toBe('open');
  });

  it('holding a run changes nothing for earlier or later rows; release derives with per-item order', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'b', 'c', 'd']);
    const held = full(30);
    await upsertAll(s, held, ['a']);
    expect(await s.endRun(held, 1)).toBe('claimed');
    expect(await s.countDeletionCandidates(held)).toBe(3);
    await s.holdDeletions(held, 3);
    // Earlier rows still apply (a lagging delta 20, or a replay), and a later delta too.
    expect((await s.prepareUpserts(delta(20), [{ id: 'b', fp: 'fp-2' }]))[0]?.decision).toBe('send');
    await s.settle(delta(20), [{ id: 'b', outcome: 'upserted', fp: 'fp-2' }]);
    expect(await s.prepareRemovals(delta(20), ['c'], 'members-only')).toEqual([
      { id: 'c', decision: 'send' },
    ]);
    await s.settle(delta(20), [{ id: 'c', outcome: 'removed' }]);
    expect((await s.prepareUpserts(delta(40), [{ id: 'd', fp: 'fp-2' }]))[0]?.decision).toBe('send');
    await s.settle(delta(40), [{ id: 'd', outcome: 'upserted', fp: 'fp-2' }]);
    // A held run does not block later runs' post-run work.
    expect(await s.endRun(delta(40), 1)).toBe('claimed');
    await s.finishRun(delta(40));
    expect(await s.releaseDeletions(held.runId)).toBe(true);
    expect(await s.claim(held)).toBe('claimed');
    expect(await s.countDeletionCandidates(held)).toBe(1);
    // b was upserted by run 20 < 30: removed; d by run 40: kept; c is gone already.
    expect(await collect(s.markDeletionCandidates(held))).toEqual(['b']);
    expect((await s.prepareUpserts(delta(20), [{ id: 'e', fp: 'f' }]))[0]?.decision).toBe('stale');
  });

  it('an entry created between the count and the marking is derived too', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'b']);
    const run = full(20);
    await upsertAll(s, run, ['a']);
    expect(await s.endRun(run, 1)).toBe('claimed');
    expect(await s.countDeletionCandidates(run)).toBe(1);
    // A replayed row of run 5 arrives after the count, before the floor rises.
    expect((await s.prepareUpserts(delta(5), [{ id: 'z', fp: 'f' }]))[0]?.decision).toBe('send');
    expect(await collect(s.markDeletionCandidates(run))).toEqual(['b', 'z']);
  });

  it('derives across many scan steps, through the count stash or, over its cap, by scanning again', async () => {
    const ids = Array.from({ length: 1200 }, (_, i) => `item-${i}`);
    const absent = ids.filter((_, i) => i % 100 === 7);
    for (const stashCap of [100_000, 5]) {
      keys = createKeys(`test-${randomUUID()}`);
      const s = state({ scanCount: 100, markChunk: 5, stashCap });
      await finishedRun(s, full(10), ids);
      const run = full(20);
      await upsertAll(
        s,
        run,
        ids.filter((id) => !absent.includes(id)),
      );
      expect(await s.endRun(run, ids.length - absent.length)).toBe('claimed');
      expect(await s.countDeletionCandidates(run)).toBe(absent.length);
      // Upserted by a later run between the count and the marking: no longer a deletion.
      await upsertAll(s, delta(30), [absent[0]!]);
      const chunks: string[][] = [];
      for await (const chunk of s.markDeletionCandidates(run)) chunks.push(chunk);
      expect(chunks.flat().sort()).toEqual(absent.slice(1).sort());
      expect((await s.prepareUpserts(delta(30), [{ id: absent[1]!, fp: 'f' }]))[0]?.decision).toBe('wait');
    }
  });

  it('holds deletions over the guardrail until an operator releases them', async () => {
    const s = state();
    await finishedRun(s, full(10), ['a', 'b', 'c']);
    const run = full(20);
    expect(await s.endRun(run, 0)).toBe('claimed');
    const n = await s.countDeletionCandidates(run);
    expect(n).toBe(3);
    expect(await s.isReleased(run.runId)).toBe(false);
    await s.holdDeletions(run, n);
    expect(await s.runInfo(run.runId)).toMatchObject({ state: 'held', held: 3 });
    expect(await s.claim(run)).toBe('none');
    expect(await s.memberCount()).toBe(3);
    expect(await s.releaseDeletions(run.runId)).toBe(true);
    expect(await s.releaseDeletions(run.runId)).toBe(false);
    expect(await s.claim(run)).toBe('claimed');
    expect(await s.isReleased(run.runId)).toBe(true);
    const ids = await collect(s.markDeletionCandidates(run));
    expect(ids).toEqual(['a', 'b', 'c']);
    await s.settleDerived(
      run,
      ids.map((id) => ({ id, outcome: 'removed' })),
    );
    expect(await s.finishRun(run)).toEqual({ upserted: 0, removed: 3, rejected: 0, skipped: 0, held: 3 });
    expect(await s.memberCount()).toBe(0);
    expect((await s.runInfo(run.runId))?.state).toBe('done');
  });

  it('only the lease holder may hold a run', async () => {
    const s = state();
    await expect(s.holdDeletions(full(1), 1)).rejects.toBeInstanceOf(SyncStateError);
  });
});

describe('fingerprint()', () => {
  it('is short, stable under key order and sensitive to values', () => {
    const a = fingerprint({ name: 'x', tags: ['a', 'b'], price: 1.5, gone: null });
    expect(a).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(fingerprint({ gone: null, price: 1.5, tags: ['a', 'b'], name: 'x' })).toBe(a);
    expect(fingerprint({ name: 'x', tags: ['b', 'a'], price: 1.5, gone: null })).not.toBe(a);
    expect(fingerprint({ name: 'x', tags: ['a', 'b'], price: 1.5 })).not.toBe(a);
  });
});
