import { randomUUID } from 'node:crypto';
import { defineScript, type Redis, runScript } from '../redis/connection.js';
import type { Keys } from '../redis/keys.js';
import type { StateGuardPort } from './state-guard.js';

import {
  type Completion,
  checked,
  completions,
  outcomes,
  parseRunInfo,
  type RemovalDecision,
  type RunCounts,
  type RunInfo,
  type RunRef,
  removalDecisions,
  type SettleOutcome,
  SyncStateError,
  type SyncStateOptions,
  type UpsertDecision,
  upsertDecisions,
} from './state-types.js';

export { fingerprint } from './state-codec.js';
export type {
  Completion,
  RemovalDecision,
  RunCounts,
  RunInfo,
  RunRef,
  RunStateName,
  SettleOutcome,
  SyncStateOptions,
  UpsertDecision,
} from './state-types.js';
export { SyncStateError } from './state-types.js';

const here = new URL('.', import.meta.url);
/** Items per script call: bounds how long one call blocks Redis. */
const perCall = 500;

/**
 * The state of one sync in Redis, shared by every instance: membership, fingerprints, runs and their
 * completion, mirror derivation with its lease and guardrail hold. Layout and rules: the Lua headers
 * beside this file; every key carries the sync's hash tag.
 */
export class SyncState {
  private readonly token = randomUUID();
  private readonly leaseMs: number;
  private readonly scanCount: number;
  private readonly markChunk: number;
  private readonly stashCap: number;
  private readonly doneTtlSec: number;
  private readonly orderStallMs: number;
  private readonly base: string;
  private readonly s: Record<
    'upserts' | 'removals' | 'settle' | 'derive' | 'finish' | 'hold' | 'release' | 'discard' | 'renew',
    string
  >;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    readonly syncId: string,
    opts: SyncStateOptions = {},
    /** Loss detection and the membership changelog (state-guard.ts); absent: unguarded. */
    private readonly guard?: StateGuardPort,
  ) {
    this.leaseMs = opts.leaseMs ?? 30_000;
    this.scanCount = opts.scanCount ?? 5000;
    this.markChunk = opts.markChunk ?? 1000;
    this.stashCap = opts.stashCap ?? 100_000;
    this.doneTtlSec = opts.doneTtlSec ?? 7 * 24 * 3600;
    this.orderStallMs = opts.orderStallMs ?? 120_000;
    // The scripts build other runs' keys from this base, so keys.sync must be a plain suffix join.
    this.base = keys.sync(syncId, '');
    if (keys.sync(syncId, 'x') !== `${this.base}x`) throw new Error('keys.sync must append the part');
    this.s = {
      upserts: defineScript(redis, here, 'statePrepareUpserts-3.lua'),
      removals: defineScript(redis, here, 'statePrepareRemovals-2.lua'),
      settle: defineScript(redis, here, 'stateSettle-7.lua'),
      derive: defineScript(redis, here, 'stateDeriveChunk-6.lua'),
      finish: defineScript(redis, here, 'stateFinish-6.lua'),
      hold: defineScript(redis, here, 'stateHold-3.lua'),
      release: defineScript(redis, here, 'stateRelease-1.lua'),
      discard: defineScript(redis, here, 'stateDiscard-5.lua'),
      renew: defineScript(redis, here, 'stateRenewLease-1.lua'),
    };
  }

  async startRun(run: RunRef): Promise<void> {
    await this.settleOp(run, 'start', '', []);
  }

  /** Per item, in order: whether to send it, and the fingerprint last accepted (null if none or reset). */
  async prepareUpserts(
    run: RunRef,
    items: { id: string; fp: string }[],
  ): Promise<{ id: string; decision: UpsertDecision; storedFp: string | null }[]> {
    const keys = [this.k('items'), this.k('meta'), this.k('runs')];
    const out: { id: string; decision: UpsertDecision; storedFp: string | null }[] = [];
    for (let i = 0; i < items.length; i += perCall) {
      const part = items.slice(i, i + perCall);
      const args = [
        seqArg(run),
        this.base,
        ...(await this.guarded()),
        ...part.flatMap((it) => [it.id, it.fp]),
      ];
      const res = this.refused(
        await runScript<(number | string)[] | number>(this.redis, this.s.upserts, keys, args),
      );
      part.forEach((it, j) => {
        const fp = res[2 * j + 1] as string;
        out.push({ id: it.id, decision: decode(upsertDecisions, res[2 * j]), storedFp: fp || null });
      });
      // Joins reach the changelog before any create is sent (membership stays a superset).
      const lsn = Number(res[2 * part.length]);
      const joined = res.slice(2 * part.length + 1).map((id) => ({ id: String(id), present: true }));
      await this.logged(joined, run.seq, lsn);
    }
    return out;
  }

  /** members-only for mirror deletions; always for Delete Only (ids never seen may be in the destination). */
  async prepareRemovals(
    run: RunRef,
    ids: string[],
    mode: 'members-only' | 'always',
  ): Promise<{ id: string; decision: RemovalDecision }[]> {
    const keys = [this.k('items'), this.k('meta')];
    const out: { id: string; decision: RemovalDecision }[] = [];
    for (let i = 0; i < ids.length; i += perCall) {
      const part = ids.slice(i, i + perCall);
      const args = [seqArg(run), mode, ...(await this.guarded()), ...part];
      const res = this.refused(await runScript<number[] | number>(this.redis, this.s.removals, keys, args));
      for (const [j, id] of part.entries()) out.push({ id, decision: decode(removalDecisions, res[j]) });
      this.guard?.observe(Number(res[part.length]), run.seq);
    }
    return out;
  }

  /**
   * Settles rows of the run; replays count nothing twice. `again`: removals to send again, because an
   * upsert that a removal superseded may have landed after it (send them, then settleRepair).
   */
  async settle(run: RunRef, settled: SettleOutcome[]): Promise<Settled> {
    for (const o of settled) {
      if (!outcomes.has(o.outcome)) throw new TypeError(`unknown outcome ${o.outcome} for ${o.id}`);
      if (o.outcome === 'upserted' && !o.fp) throw new TypeError(`upserted ${o.id} needs its fingerprint`);
    }
    return this.settleOp(
      run,
      'settle',
      '',
      settled.map((o) => [o.id, o.outcome, o.fp ?? '']),
    );
  }

  /** Settles deletions derived at the run's completion (ids not in the run); answers removals to repeat. */
  async settleDerived(run: RunRef, settled: RemovalOutcome[]): Promise<Repair[]> {
    return (await this.settleOp(run, 'derived', '', removalTriples(settled))).again;
  }

  /** Settles repeated removals (see `again`); they belong to no run and count in none. */
  async settleRepair(settled: (RemovalOutcome & Repair)[]): Promise<Repair[]> {
    const none: RunRef = { runId: '', seq: 0, kind: 'DELTA' };
    const triples = removalTriples(settled, (o) => String(o.seq));
    return (await this.settleOp(none, 'repair', '', triples)).again;
  }

  /** Stores the end marker's distinct id count and checks completion. */
  async endRun(run: RunRef, expected: number): Promise<Completion> {
    if (!Number.isSafeInteger(expected) || expected < 0) throw new TypeError(`bad row_count ${expected}`);
    return (await this.settleOp(run, 'end', String(expected), [])).completion;
  }

  /** Completion check alone, e.g. after an operator released held deletions, or a run waited. */
  async claim(run: RunRef): Promise<Completion> {
    return (await this.settleOp(run, 'claim', '', [])).completion;
  }

  async renewLease(run: RunRef): Promise<boolean> {
    const res = await runScript<number>(
      this.redis,
      this.s.renew,
      [this.rk(run.runId).lease],
      [this.token, this.leaseMs],
    );
    return res === 1;
  }

  /**
   * Number of mirror deletions the claimed run would derive (for the guardrail); marks nothing, but
   * keeps the candidates (up to stashCap) so that markDeletionCandidates need not scan every item again.
   */
  async countDeletionCandidates(run: RunRef): Promise<number> {
    // No deletion is derived from a state the changelog does not vouch for.
    await this.guard?.verify();
    let total = 0;
    let cursor = '0';
    do {
      const [next, n] = await this.deriveStep(run, cursor, 'count');
      total += Number(n);
      cursor = next ?? '0';
    } while (cursor !== '0');
    return total;
  }

  /** Flags the claimed run's mirror deletions as pending and yields their ids; settle them with settleDerived. */
  async *markDeletionCandidates(run: RunRef): AsyncIterable<string[]> {
    let chunk: string[] = [];
    let cursor = '0';
    do {
      const [next, ...ids] = await this.deriveStep(run, cursor, 'mark');
      cursor = next ?? '0';
      chunk.push(...ids);
      if (chunk.length >= this.markChunk || (cursor === '0' && chunk.length > 0)) {
        yield chunk;
        chunk = [];
      }
    } while (cursor !== '0');
  }

  async holdDeletions(run: RunRef, count: number): Promise<void> {
    const rk = this.rk(run.runId);
    const res = await runScript<number>(
      this.redis,
      this.s.hold,
      [rk.run, rk.lease, rk.cand],
      [this.token, count],
    );
    checked(res, run.runId);
  }

  /** Operator command: true when the run's deletions were held and are now released. */
  async releaseDeletions(runId: string): Promise<boolean> {
    return (await runScript<number>(this.redis, this.s.release, [this.rk(runId).run], [])) === 1;
  }

  /** Operator command: finishes a held run without its deletions; its counts, or null when not held. */
  async discardDeletions(runId: string): Promise<RunCounts | null> {
    const rk = this.rk(runId);
    const res = await runScript<number[] | number>(
      this.redis,
      this.s.discard,
      [rk.run, rk.seen, rk.ids, this.k('runs'), rk.cand],
      [runId, this.doneTtlSec],
    );
    return typeof res === 'number' ? null : countsOf(res);
  }

  async isReleased(runId: string): Promise<boolean> {
    return (await this.redis.hget(this.rk(runId).run, 'released')) === '1';
  }

  async finishRun(run: RunRef): Promise<RunCounts> {
    const rk = this.rk(run.runId);
    const keys = [rk.run, rk.seen, rk.ids, rk.lease, this.k('runs'), rk.cand];
    const res = await runScript<number[] | number>(this.redis, this.s.finish, keys, [
      run.runId,
      this.token,
      this.doneTtlSec,
    ]);
    return countsOf(checked(res, run.runId) as number[]);
  }

  async runInfo(runId: string): Promise<RunInfo | null> {
    return parseRunInfo(runId, await this.redis.hgetall(this.rk(runId).run));
  }

  /** Runs not finished yet (open, complete, deriving or held), oldest first. */
  async runsInProgress(): Promise<RunInfo[]> {
    const ids = await this.redis.zrange(this.k('runs'), '0', '-1');
    const infos = await Promise.all(ids.map((id) => this.runInfo(id)));
    return infos.filter((i): i is RunInfo => i !== null);
  }

  /**
   * Items the destination may hold. A close superset: entries join before their create is sent and
   * leave once their removal is accepted, so rejected creates and pending removals still count.
   */
  async memberCount(): Promise<number> {
    return this.redis.hlen(this.k('items'));
  }

  /** Invalidates every fingerprint of the sync in O(1): the next run re-sends every item. */
  async resetFingerprints(): Promise<void> {
    await this.redis.hincrby(this.k('meta'), 'fpEpoch', 1);
  }

  private async settleOp(
    run: RunRef,
    op: 'start' | 'settle' | 'derived' | 'repair' | 'end' | 'claim',
    expected: string,
    triples: string[][],
  ): Promise<Settled> {
    // repair belongs to no run: its run keys are placeholders the script does not touch.
    const rk = this.rk(op === 'repair' ? '' : run.runId);
    const keys = [this.k('items'), this.k('meta'), this.k('runs'), rk.run, rk.seen, rk.ids, rk.lease];
    const head = [
      run.runId,
      seqArg(run),
      run.kind,
      op,
      expected,
      this.leaseMs,
      this.token,
      this.base,
      this.orderStallMs,
    ];
    let newlySettled = 0;
    let completion: Completion = 'none';
    const again: Repair[] = [];
    let i = 0;
    do {
      const part = triples.slice(i, i + perCall).flat();
      const res = this.refused(
        await runScript<(number | string)[] | number>(this.redis, this.s.settle, keys, [
          ...head,
          ...(await this.guarded()),
          ...part,
        ]),
      );
      const [n, c, lsn, nAgain, ...rest] = res;
      newlySettled += n as number;
      const pairs = rest.slice(0, Number(nAgain));
      for (let j = 0; j < pairs.length; j += 2)
        again.push({ id: String(pairs[j]), seq: Number(pairs[j + 1]) });
      const changed = rest.slice(Number(nAgain));
      const changes = [];
      for (let j = 0; j < changed.length; j += 2)
        changes.push({ id: String(changed[j]), present: changed[j + 1] === '+' });
      // Leaves and joins are logged before the events behind them settle: a crash replays them.
      await this.logged(changes, run.seq, Number(lsn));
      // A later part of the same call must not turn our own claim into 'busy'.
      if (completion !== 'claimed') completion = decode(completions, Number(c) + 1);
      i += perCall;
    } while (i < triples.length);
    return { newlySettled, completion, again };
  }

  private async deriveStep(run: RunRef, cursor: string, mode: 'count' | 'mark'): Promise<string[]> {
    const rk = this.rk(run.runId);
    const keys = [this.k('items'), this.k('meta'), rk.run, rk.seen, rk.lease, rk.cand];
    const args = [
      seqArg(run),
      cursor,
      this.scanCount,
      mode,
      this.token,
      this.leaseMs,
      this.stashCap,
      ...(await this.guarded()),
    ];
    const res = await runScript<(string | number)[] | number>(this.redis, this.s.derive, keys, args);
    return (checked(this.refused(res), run.runId) as (string | number)[]).map(String);
  }

  /** Epoch and lowest lsn the scripts must find, or '' and 0 (unguarded). */
  private async guarded(): Promise<[string, number]> {
    if (!this.guard) return ['', 0];
    const t = await this.guard.token();
    return [t.epoch, t.minLsn];
  }

  /** A script's answer, unless it refused because the state is not whole (-9): STATE_LOST then. */
  private refused<T>(res: T | number): T {
    if (res !== -9) return res as T;
    if (!this.guard) throw new SyncStateError('STATE_LOST', `state of sync ${this.syncId} refused`);
    throw this.guard.lost('a state script found the epoch missing or changed, or its lsn gone back');
  }

  private async logged(changes: { id: string; present: boolean }[], seq: number, lsn: number): Promise<void> {
    if (!this.guard) return;
    this.guard.observe(lsn, seq);
    await this.guard.record(changes, seq, lsn);
  }

  private k(part: string): string {
    return this.keys.sync(this.syncId, part);
  }

  private rk(runId: string) {
    // The kind leads so that no run id (it may contain ':') makes one run's key another's.
    return {
      run: this.k(`run:${runId}`),
      seen: this.k(`seen:${runId}`),
      ids: this.k(`ids:${runId}`),
      lease: this.k(`lease:${runId}`),
      cand: this.k(`cand:${runId}`),
    };
  }
}

export interface Settled {
  newlySettled: number;
  completion: Completion;
  /** Removals to send again: an older upsert of the item may have landed after the removal of run `seq`. */
  again: Repair[];
}

export interface Repair {
  id: string;
  seq: number;
}

export interface RemovalOutcome {
  id: string;
  outcome: 'removed' | 'rejected';
}

/** A script's decision code (1-based) as its name; an unknown code is a script/code mismatch. */
function decode<T>(names: readonly T[], code: unknown): T {
  const name = names[Number(code) - 1];
  if (name === undefined) throw new SyncStateError('STATE_SCRIPT', `unknown decision code ${String(code)}`);
  return name;
}

function countsOf(c: number[]): RunCounts {
  const [upserted = 0, removed = 0, rejected = 0, skipped = 0, held = 0] = c;
  return { upserted, removed, rejected, skipped, held };
}

/** Settle triples of removals; the third member is empty, or the removal's seq for a repair. */
function removalTriples<T extends RemovalOutcome>(
  settled: T[],
  third: (o: T) => string = () => '',
): string[][] {
  for (const o of settled) {
    if (o.outcome !== 'removed' && o.outcome !== 'rejected') throw new TypeError(`bad outcome ${o.outcome}`);
  }
  return settled.map((o) => [o.id, o.outcome, third(o)]);
}

function seqArg(run: RunRef): string {
  if (!Number.isSafeInteger(run.seq) || run.seq < 0) throw new TypeError(`bad run_seq ${run.seq}`);
  return String(run.seq);
}
