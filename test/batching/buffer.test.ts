import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { ChangeBuffer } from '../../src/batching/buffer.js';

type P = { v: number; kind?: 'derived' };

function recorder(opts: { maxItems?: number; flushWaitMs?: number; hold?: Promise<void> } = {}) {
  const sent: { id: string; payload: P }[][] = [];
  const buffer = new ChangeBuffer<P>({
    maxItems: opts.maxItems ?? 3,
    flushWaitMs: opts.flushWaitMs ?? 20,
    coalesce: (a, b) => (a.kind || b.kind ? undefined : b),
    send: async (batch) => {
      sent.push(batch);
      await opts.hold;
    },
  });
  return { buffer, sent };
}

describe('ChangeBuffer', () => {
  it('flushes at maxItems without waiting and the rest after the flush wait', async () => {
    const { buffer, sent } = recorder({ maxItems: 3, flushWaitMs: 50 });
    for (let i = 0; i < 4; i++) buffer.add(`id${i}`, { v: i });
    expect(sent).toHaveLength(1);
    expect(sent[0]!.map((e) => e.id)).toEqual(['id0', 'id1', 'id2']);
    await buffer.idle();
    expect(sent).toHaveLength(2);
    expect(sent[1]!.map((e) => e.id)).toEqual(['id3']);
  });

  it('coalesces queued changes of one id: the later wins', async () => {
    const { buffer, sent } = recorder();
    buffer.add('a', { v: 1 });
    buffer.add('a', { v: 2 });
    buffer.add('b', { v: 3 });
    await buffer.idle();
    expect(sent.flat()).toEqual([
      { id: 'a', payload: { v: 2 } },
      { id: 'b', payload: { v: 3 } },
    ]);
  });

  it("holds an id's next change until its in-flight request settled", async () => {
    let release!: () => void;
    const hold = new Promise<void>((r) => {
      release = r;
    });
    const { buffer, sent } = recorder({ maxItems: 1, hold });
    buffer.add('a', { v: 1 });
    buffer.add('a', { v: 2 });
    buffer.add('b', { v: 3 });
    await sleep(60);
    const sentIds = sent.flat().map((e) => `${e.id}:${e.payload.v}`);
    expect(sentIds).toContain('a:1');
    expect(sentIds).not.toContain('a:2');
    release();
    await buffer.idle();
    const all = sent.flat().map((e) => `${e.id}:${e.payload.v}`);
    expect(all.indexOf('a:2')).toBeGreaterThan(all.indexOf('a:1'));
    expect(all).toHaveLength(3);
  });

  it('queues a change that cannot coalesce behind the queued one, in order', async () => {
    const { buffer, sent } = recorder({ maxItems: 10 });
    buffer.add('a', { v: 1 });
    buffer.add('a', { v: 2, kind: 'derived' });
    await buffer.idle();
    expect(sent.map((b) => b.map((e) => e.payload.v))).toEqual([[1], [2]]);
  });

  it('drops unsent changes on request and reports them', async () => {
    const { buffer, sent } = recorder({ maxItems: 10, flushWaitMs: 1000 });
    buffer.add('a', { v: 1 });
    buffer.add('b', { v: 2 });
    const dropped = buffer.drop((p) => p.v === 1);
    expect(dropped).toEqual([{ v: 1 }]);
    buffer.flushNow();
    await buffer.idle();
    expect(sent.flat().map((e) => e.id)).toEqual(['b']);
  });
});

describe('ChangeBuffer.requeue', () => {
  it('puts a failed change back ahead of nothing newer, and lets a newer queued change win', async () => {
    const sent: string[] = [];
    let failOnce = true;
    const buffer: ChangeBuffer<P> = new ChangeBuffer<P>({
      maxItems: 10,
      flushWaitMs: 5,
      coalesce: (_a, b) => b,
      send: async (batch) => {
        for (const { id, payload } of batch) {
          sent.push(`${id}:${payload.v}`);
          if (failOnce && id === 'a') {
            failOnce = false;
            buffer.add('a', { v: 2 });
            buffer.requeue('a', payload);
          }
        }
      },
    });
    buffer.add('a', { v: 1 });
    buffer.add('b', { v: 9 });
    await buffer.idle();
    expect(sent).toEqual(['a:1', 'b:9', 'a:2']);
  });
});

/**
 * A buffer whose part-full batches ask a fake budget first. `answer` is what the budget says (0: room
 * nobody else wants); each request is held until `finish()` releases the oldest one still held.
 */
function admitted(answer: () => number | Promise<number>, opts: { maxItems?: number } = {}) {
  const sent: { ids: string[]; priority: boolean }[] = [];
  const asked: number[] = [];
  const held: (() => void)[] = [];
  const buffer = new ChangeBuffer<P>({
    maxItems: opts.maxItems ?? 3,
    flushWaitMs: 5,
    coalesce: (_a, b) => b,
    send: async (batch, { priority }) => {
      sent.push({ ids: batch.map((e) => e.id), priority });
      await new Promise<void>((resolve) => held.push(resolve));
    },
    admit: async (items) => {
      asked.push(items);
      return answer();
    },
  });
  const finish = () => held.shift()?.();
  return { buffer, sent, asked, finish };
}

describe('ChangeBuffer with a shared request budget (admit)', () => {
  it('sends a part-full batch after the flush wait when the budget has room nobody wants', async () => {
    const { buffer, sent, asked, finish } = admitted(() => 0);
    buffer.add('a', { v: 1 });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({ ids: ['a'], priority: false });
    expect(asked).toEqual([1]);
    finish();
    await buffer.idle();
  });

  it('keeps a part-full batch filling while its own requests and others wait for the budget', async () => {
    const { buffer, sent, asked, finish } = admitted(() => 20);
    for (const id of ['a', 'b', 'c']) buffer.add(id, { v: 1 });
    expect(sent).toEqual([{ ids: ['a', 'b', 'c'], priority: false }]);
    expect(asked).toEqual([]);
    buffer.add('d', { v: 1 });
    // Asked, told to wait, asked again: the part-full batch stays.
    await vi.waitFor(() => expect(asked.length).toBeGreaterThanOrEqual(2));
    expect(sent).toHaveLength(1);
    buffer.add('e', { v: 1 });
    buffer.add('f', { v: 1 });
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual({ ids: ['d', 'e', 'f'], priority: false });
    finish();
    finish();
    await buffer.idle();
  });

  it('sends a part-full batch with priority when nothing of the buffer is in flight', async () => {
    const { buffer, sent, finish } = admitted(() => 20);
    buffer.add('a', { v: 1 });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    expect(sent[0]).toEqual({ ids: ['a'], priority: true });
    finish();
    await buffer.idle();
  });

  it('sends the held part-full batch once its in-flight request settled', async () => {
    const { buffer, sent, finish } = admitted(() => 60_000);
    for (const id of ['a', 'b', 'c', 'd']) buffer.add(id, { v: 1 });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    finish();
    // The budget still says "wait a minute", but nothing of the buffer is on the way any more.
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]).toEqual({ ids: ['d'], priority: true });
    finish();
    await buffer.idle();
  });

  it("keeps an id's order: its next change waits for the request in flight, whatever admit says", async () => {
    const { buffer, sent, finish } = admitted(() => 0);
    buffer.add('a', { v: 1 });
    await vi.waitFor(() => expect(sent).toHaveLength(1));
    buffer.add('a', { v: 2 });
    buffer.add('b', { v: 1 });
    await vi.waitFor(() => expect(sent).toHaveLength(2));
    expect(sent[1]!.ids).toEqual(['b']);
    finish();
    await vi.waitFor(() => expect(sent).toHaveLength(3));
    expect(sent[2]!.ids).toEqual(['a']);
    finish();
    finish();
    await buffer.idle();
  });

  it('sends as without a budget when admit fails, and flushNow never asks', async () => {
    const failing = admitted(() => Promise.reject(new Error('redis down')));
    failing.buffer.add('a', { v: 1 });
    await vi.waitFor(() => expect(failing.sent).toEqual([{ ids: ['a'], priority: false }]));
    failing.finish();
    await failing.buffer.idle();

    const { buffer, sent, asked, finish } = admitted(() => 60_000, { maxItems: 10 });
    buffer.add('a', { v: 1 });
    buffer.flushNow();
    expect(sent).toEqual([{ ids: ['a'], priority: false }]);
    expect(asked).toEqual([]);
    finish();
    await buffer.idle();
  });
});
