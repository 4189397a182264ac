import { afterEach, describe, expect, it } from 'vitest';
import { SyncPipeline } from '../../src/pipeline/sync-pipeline.js';
import { delivery, FakeDestination, FakeState, FakeStatus, mirrorSync, silent, until } from './fakes.js';

const STREAM = 'stream';
const row = (id: string, runId = 'r1', runSeq = 1) =>
  delivery({ type: 'ROW_UPSERTED', itemKey: id, values: { name: id.toUpperCase() }, runId, runSeq });
const deletion = (id: string, runId = 'r2', runSeq = 2) =>
  delivery({ type: 'ROW_DELETED', itemKey: id, runId, runSeq });

describe('SyncPipeline with a fake state and destination', () => {
  let pipeline: SyncPipeline | undefined;
  afterEach(async () => {
    await pipeline?.close();
    pipeline = undefined;
  });

  function setup(flushWaitMs = 20) {
    const state = new FakeState();
    const destination = new FakeDestination();
    const status = new FakeStatus();
    const dead: unknown[] = [];
    pipeline = new SyncPipeline({
      sync: mirrorSync({ flushWaitMs }),
      state,
      destination,
      status,
      deadLetters: { send: async (d) => void dead.push(d) },
      logger: silent,
    });
    return { state, destination, status, dead, pipeline };
  }

  it('a Debezium snapshot end waits for every partition to pass it, then ends with what settled', async () => {
    const { state, status, pipeline } = setup();
    state.info = { settled: 3 };
    let pass: () => void = () => undefined;
    const end = delivery({ type: 'RUN_ENDED', runId: 'snapshot-9', runSeq: 9, runKind: 'FULL' });
    end.passed = () => new Promise<void>((resolve) => (pass = resolve));
    const next = row('z', STREAM, 10);
    await pipeline.accept([end, next]);
    // The partition goes on while the snapshot waits.
    await until('the row after the end settled', () => next.ack.settled === 1);
    expect(state.ops('endRun')).toEqual([]);
    state.completions = ['claimed'];
    pass();
    await until('the end settled after the post-run work', () => end.ack.settled === 1);
    expect(state.ops('endRun')).toEqual([{ op: 'endRun', run: 'snapshot-9', items: 3 }]);
    expect(status.types('snapshot-9')).toEqual(['RUN_COMPLETED']);
  });

  it('changes of one run with different seqs are prepared and settled per seq', async () => {
    const { state, pipeline } = setup();
    const ds = [row('a', STREAM, 5), row('b', STREAM, 6)];
    await pipeline.accept(ds);
    await until('both settled', () => ds.every((d) => d.ack.settled === 1));
    expect(state.ops('prepareUpserts')).toEqual([
      { op: 'prepareUpserts', run: STREAM, items: ['a'] },
      { op: 'prepareUpserts', run: STREAM, items: ['b'] },
    ]);
    expect(state.ops('settle')).toHaveLength(2);
  });

  it('a row goes prepare → request → settle, then its ack settles', async () => {
    const { state, destination, pipeline } = setup();
    const d = row('a');
    await pipeline.accept([d]);
    await until('the ack settled', () => d.ack.settled === 1);
    expect(destination.requests).toEqual([
      [expect.objectContaining({ id: 'a', action: 'add', values: { name: 'A' } })],
    ]);
    expect(state.ops('settle')).toEqual([{ op: 'settle', run: 'r1', items: ['a:upserted'] }]);
  });

  it('skip reasons say why: UNCHANGED, SUPERSEDED (stale), NOT_A_MEMBER', async () => {
    const { state, destination, status, pipeline } = setup();
    state.upsertDecisions.set('same', 'unchanged').set('old', 'stale');
    state.removalDecisions.set('gone', 'not_member').set('later', 'stale');
    const ds = [row('same'), row('old'), deletion('gone', 'r1', 1), deletion('later', 'r1', 1)];
    await pipeline.accept(ds);
    await until('every ack settled', () => ds.every((d) => d.ack.settled === 1));
    expect(destination.requests).toEqual([]);
    const skipped = status.events.filter((e) => e.type === 'ITEMS_SKIPPED');
    expect(skipped.map((e) => [e.errorCode, e.itemIds])).toEqual([
      ['UNCHANGED', ['same']],
      ['SUPERSEDED', ['old']],
      ['NOT_A_MEMBER', ['gone']],
      ['SUPERSEDED', ['later']],
    ]);
  });

  it('a change arriving while a held item is retried waits behind it: a removal never overtakes the upsert', async () => {
    const { state, pipeline } = setup();
    state.upsertDecisions.set('x', 'wait');
    const first = row('x', 'r1', 1);
    await pipeline.accept([first]);
    expect(state.ops('prepareUpserts')).toHaveLength(1);
    // The retry's prepare of x is answered only once released; a removal of x arrives meanwhile.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    const prepare = state.prepareUpserts.bind(state);
    state.prepareUpserts = async (run, items) => {
      state.upsertDecisions.set('x', 'send');
      const out = await prepare(run, items);
      await released;
      return out;
    };
    await until('the retry preparing x', () => state.ops('prepareUpserts').length === 2);
    const later = deletion('x', 'r2', 2);
    await pipeline.accept([later]);
    expect(state.ops('prepareRemovals')).toEqual([]);
    release();
    await until('both settled', () => first.ack.settled === 1 && later.ack.settled === 1);
    const order = state.calls.filter((c) => c.op.startsWith('prepare')).map((c) => `${c.op}:${c.run}`);
    expect(order).toEqual(['prepareUpserts:r1', 'prepareUpserts:r1', 'prepareRemovals:r2']);
  });

  it('an add of run 1 coalesced with a removal of run 2 settles under each run: skipped, then removed', async () => {
    const { state, destination, status, pipeline } = setup(200);
    const add = row('a');
    const remove = deletion('a');
    await pipeline.accept([add, remove]);
    await until('both acks settled', () => add.ack.settled === 1 && remove.ack.settled === 1);
    expect(destination.requests).toEqual([[expect.objectContaining({ id: 'a', action: 'remove' })]]);
    expect(state.ops('settle')).toEqual([
      { op: 'settle', run: 'r1', items: ['a:skipped'] },
      { op: 'settle', run: 'r2', items: ['a:removed'] },
    ]);
    expect(status.events.find((e) => e.type === 'ITEMS_SKIPPED')).toMatchObject({
      runId: 'r1',
      itemIds: ['a'],
      errorCode: 'SUPERSEDED',
    });
  });

  it('a removal to repeat (an older upsert raced it) is sent again and settled as a repair', async () => {
    const { state, destination, pipeline } = setup();
    state.again = [{ id: 'x', seq: 5 }];
    const d = row('a');
    await pipeline.accept([d]);
    await until('the repair settled', () => state.ops('settleRepair').length === 1);
    expect(destination.requests.at(-1)).toEqual([{ id: 'x', action: 'remove' }]);
    expect(state.ops('settleRepair')[0]!.items).toEqual(['x@5:removed']);
  });

  it('a removal replaces an upsert waiting on a removal flag (a dead instance may have left it)', async () => {
    const { state, destination, status, pipeline } = setup();
    state.upsertDecisions.set('a', 'wait');
    const add = row('a');
    const remove = deletion('a');
    await pipeline.accept([add]);
    await pipeline.accept([remove]);
    await until('both acks settled', () => add.ack.settled === 1 && remove.ack.settled === 1);
    expect(destination.requests).toEqual([[{ id: 'a', action: 'remove' }]]);
    expect(state.ops('settle')).toEqual([
      { op: 'settle', run: 'r1', items: ['a:skipped'] },
      { op: 'settle', run: 'r2', items: ['a:removed'] },
    ]);
    expect(status.events.find((e) => e.type === 'ITEMS_SKIPPED')).toMatchObject({
      runId: 'r1',
      errorCode: 'SUPERSEDED',
    });
  });

  it('a run marker settles at once; the end marker waits for the run coordinator when claimed', async () => {
    const { state, status, pipeline } = setup();
    const start = delivery({ type: 'RUN_STARTED' });
    const end = delivery({ type: 'RUN_ENDED', rowCount: 0 });
    state.completions = ['claimed'];
    await pipeline.accept([start, end]);
    expect(start.ack.settled).toBe(1);
    await until('the end marker settled', () => end.ack.settled === 1);
    expect(status.types()).toEqual(['RUN_STARTED', 'RUN_COMPLETED']);
  });
});
