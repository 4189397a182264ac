import { describe, expect, it } from 'vitest';
import { RunCoordinator } from '../../src/pipeline/runs.js';
import type { RunRef } from '../../src/planning/state.js';
import { FakeAck, FakeState, FakeStatus, mirrorSync, silent, until } from './fakes.js';

const full: RunRef = { runId: 'r1', seq: 1, kind: 'FULL' };

function coordinator(state: FakeState, sync = mirrorSync()) {
  const status = new FakeStatus();
  const removed: string[][] = [];
  const runs = new RunCoordinator({
    sync,
    state,
    status,
    logger: silent,
    label: 'batch:c',
    removeDerived: async (_run, ids) => {
      removed.push(ids);
    },
    busyRetryMs: 10,
    waitRetryMs: 10,
  });
  return { runs, status, removed };
}

describe('RunCoordinator: post-run work', () => {
  it('a full Mirror run under the guardrail: derived, sent, finished, RUN_COMPLETED', async () => {
    const state = new FakeState();
    state.candidates = 2;
    state.marked = [['a', 'b']];
    const { runs, status, removed } = coordinator(state);
    expect(await runs.complete(full)).toEqual({ kind: 'sent', count: 2 });
    expect(removed).toEqual([['a', 'b']]);
    expect(state.calls.map((c) => c.op)).toEqual(['count', 'mark', 'finish']);
    expect(status.types()).toEqual(['DELETIONS_DERIVED', 'RUN_COMPLETED']);
  });

  it('marks even when the count found nothing: entries created since the count are derived too', async () => {
    const state = new FakeState();
    state.marked = [['late']];
    const { runs, status, removed } = coordinator(state);
    expect(await runs.complete(full)).toEqual({ kind: 'sent', count: 1 });
    expect(removed).toEqual([['late']]);
    expect(status.types()).toEqual(['RUN_COMPLETED']);
  });

  it('over the guardrail: held, nothing marked or sent, and the run is not completed', async () => {
    const state = new FakeState();
    state.candidates = 6;
    state.info = { upserted: 4, skipped: 1 };
    const { runs, status, removed } = coordinator(state);
    expect(await runs.complete(full)).toEqual({ kind: 'held', count: 6, members: 10 });
    expect(state.calls.map((c) => c.op)).toEqual(['count', 'hold']);
    expect(removed).toEqual([]);
    expect(status.types()).toEqual(['DELETIONS_HELD']);
    expect(status.events[0]!.counts).toEqual({ upserted: 4, removed: 0, rejected: 0, skipped: 1, held: 6 });
  });

  it('an empty run that would delete anything is held, whatever the share', async () => {
    const state = new FakeState();
    state.candidates = 1;
    state.info = { expected: 0 };
    const { runs } = coordinator(state, mirrorSync({ guardrail: { maxDeleteShare: 1 } }));
    expect((await runs.complete(full)).kind).toBe('held');
  });

  it('released: the guardrail is bypassed and DELETIONS_RELEASED reported', async () => {
    const state = new FakeState();
    state.candidates = 6;
    state.released = true;
    state.marked = [['a']];
    const { runs, status } = coordinator(state);
    expect((await runs.complete(full)).kind).toBe('sent');
    expect(status.types()).toEqual(['DELETIONS_RELEASED', 'RUN_COMPLETED']);
  });

  it('a delta run, or an upsert sync, derives nothing and just finishes', async () => {
    const state = new FakeState();
    const { runs, status } = coordinator(state, mirrorSync({ operation: 'upsert' }));
    expect(await runs.complete(full)).toEqual({ kind: 'none' });
    expect(await runs.complete({ ...full, kind: 'DELTA' })).toEqual({ kind: 'none' });
    expect(state.calls.map((c) => c.op)).toEqual(['finish', 'finish']);
    expect(status.types()).toEqual(['RUN_COMPLETED', 'RUN_COMPLETED']);
  });

  it('acks settle at once for none and done, after the post-run work when claimed', async () => {
    const state = new FakeState();
    const { runs } = coordinator(state, mirrorSync({ operation: 'upsert' }));
    const [a, b] = [new FakeAck(), new FakeAck()];
    runs.onCompletion(full, 'none', [a]);
    expect(a.settled).toBe(1);
    runs.onCompletion(full, 'claimed', [b]);
    expect(b.settled).toBe(0);
    await until('the claimed run finished', () => b.settled === 1);
    expect(state.ops('finish')).toHaveLength(1);
  });

  it('waiting (an earlier run not finished) and busy retry the claim until it is theirs', async () => {
    const state = new FakeState();
    state.completions = ['waiting', 'waiting', 'busy', 'claimed'];
    const { runs, status } = coordinator(state, mirrorSync({ operation: 'upsert' }));
    const ack = new FakeAck();
    runs.onCompletion(full, 'waiting', [ack]);
    expect(ack.settled).toBe(0);
    await until('the run claimed and finished', () => ack.settled === 1);
    expect(state.ops('claim')).toHaveLength(4);
    expect(status.types()).toEqual(['RUN_COMPLETED']);
    await runs.close();
  });
});
