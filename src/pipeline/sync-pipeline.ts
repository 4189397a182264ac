/**
 * Where a planned change goes next, for one sync: Redis state (membership, fingerprints, run counts)
 * → the micro-batch buffer → the destination → settle in Redis → settle the Kafka offsets it came from.
 * Run completion is handed to the RunCoordinator.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ChangeBuffer } from '../batching/buffer.js';
import type { SyncConfig } from '../config/config.js';
import type { DestinationChange, SyncDestination } from '../destinations/port.js';
import {
  type Ack,
  type Assignment,
  AssignmentEndedError,
  assignmentOf,
  type Delivery,
  type EventSink,
  sendGate,
} from '../ingest/ack.js';
import type { Logger } from '../logger.js';
import { type AttributeSpec, attributeSpecs, type PlannedAction, plan } from '../planning/planner.js';
import {
  fingerprint,
  type RemovalDecision,
  type Repair,
  type RunRef,
  type SettleOutcome,
  type SyncState,
  type UpsertDecision,
} from '../planning/state.js';
import type { RunStartGate } from '../status/run-start.js';
import type { StatusInput } from '../status/types.js';
import { RunCoordinator, type RunState } from './runs.js';
import type { DeadLetterSink, StatusSink } from './sinks.js';

/** One event behind a change: its run, the ack that settles it, and its message for a dead letter. */
export interface EventRef {
  run: RunRef;
  ack: Ack;
  source: Delivery['source'];
  /** A Debezium snapshot's end: resolves once every partition passed it (Delivery.passed). */
  passed?: Delivery['passed'];
}

interface Work {
  change: DestinationChange;
  /** Events this change settles; several when changes of one item coalesced. */
  refs: EventRef[];
  /** Events of an older change of the item that this one replaced in the buffer (an add then a removal). */
  superseded?: EventRef[];
  /** A mirror deletion derived at the end of this run (no event behind it). */
  derived?: { run: RunRef; done: () => void };
  /** A removal of run seq sent again: an older upsert of the item may have landed after it. */
  repair?: number;
  mode?: 'members-only' | 'always';
}

/** Why a prepared change is settled without a request, as the status topic tells it. */
const SUPERSEDED: [string, string] = [
  'SUPERSEDED',
  'a later run already wrote this item, or a later full run replaced this run',
];
const skipReasons: Partial<Record<UpsertDecision | RemovalDecision, [code: string, message: string]>> = {
  unchanged: ['UNCHANGED', 'attributes unchanged since the last accepted send'],
  not_member: ['NOT_A_MEMBER', 'not in the catalog as far as this sync knows'],
  stale: SUPERSEDED,
};

/** What the pipeline needs of the sync's shared state (SyncState; a fake in unit tests). */
export type PipelineState = RunState &
  Pick<
    SyncState,
    'endRun' | 'prepareRemovals' | 'prepareUpserts' | 'settle' | 'settleDerived' | 'settleRepair' | 'startRun'
  >;

export interface SyncPipelineDeps {
  sync: SyncConfig;
  state: PipelineState;
  destination: SyncDestination;
  status: StatusSink;
  deadLetters: DeadLetterSink;
  logger: Logger;
  /** How often items waiting for a pending removal are retried. @default 250 */
  holdRetryMs?: number;
  /** Pause after a request whose retries ran out. @default 5000 */
  failedPauseMs?: number;
  /**
   * Whether an operator paused the sync (planning/pause.ts): a due request waits before it is sent,
   * checked again every `pausePollMs`. Absent: never paused.
   */
  paused?: () => Promise<boolean>;
  /** @default 500 */
  pausePollMs?: number;
  /**
   * Puts each run's RUN_STARTED on the status topic before any other event of the run, across the
   * group (status/run-start.ts). With it and a `status.flush`, run events keep their order on the
   * topic (see publishRunEvents); without (unit tests), events are just emitted.
   */
  runStarts?: Pick<RunStartGate, 'ensureStarted'>;
}

type Group = {
  kind: 'upsert' | 'remove';
  run: RunRef;
  mode?: 'members-only' | 'always';
  items: { id: string; work: Work }[];
};

export class SyncPipeline implements EventSink {
  readonly runs: RunCoordinator;
  private readonly specs: AttributeSpec[];
  private readonly buffer: ChangeBuffer<Work>;
  private readonly held = new Map<string, Work[]>();
  /** Queues retryHeld is going through: a later change of the item goes behind them, not ahead. */
  private readonly retrying = new Map<string, Work[]>();
  private holdTimer: NodeJS.Timeout | undefined;
  private retryRunning = false;
  private readonly log: Logger;
  private closed = false;

  constructor(private readonly deps: SyncPipelineDeps) {
    this.log = deps.logger.child({ sync: deps.sync.id });
    this.specs = attributeSpecs(deps.sync);
    this.buffer = new ChangeBuffer<Work>({
      maxItems: deps.destination.maxItemsPerRequest,
      flushWaitMs: deps.sync.flushWaitMs,
      coalesce,
      send: (batch, { priority }) =>
        this.deliver(
          batch.map((b) => b.payload),
          priority,
        ),
      ...(deps.destination.admit ? { admit: deps.destination.admit.bind(deps.destination) } : {}),
      onError: (err) => this.log.error({ err }, 'delivering a batch failed'),
    });
    this.runs = new RunCoordinator({
      sync: deps.sync,
      state: deps.state,
      status: deps.status,
      logger: this.log,
      label: deps.destination.label,
      removeDerived: (run, ids) => this.removeDerived(run, ids),
    });
  }

  get destination(): SyncDestination {
    return this.deps.destination;
  }

  get queued(): number {
    return this.buffer.queued;
  }

  private fingerprint(values: Record<string, unknown>): string {
    return this.deps.destination.fingerprint?.(values) ?? fingerprint(values);
  }

  /** Plans this sync's events from one fetch of one partition and takes them, in partition order. */
  async accept(deliveries: Delivery[]): Promise<void> {
    await this.acceptPlanned(
      deliveries.map(({ event, ack, source, passed }) => {
        const action = plan(this.deps.sync, this.specs, event);
        return { action, ref: { run: action.run, ack, source, ...(passed ? { passed } : {}) } };
      }),
    );
  }

  private async acceptPlanned(actions: { action: PlannedAction; ref: EventRef }[]): Promise<void> {
    let group: Group | undefined;
    const flushGroup = async () => {
      if (group) await this.prepare(group);
      group = undefined;
    };
    for (const { action, ref } of actions) {
      switch (action.kind) {
        case 'run_started':
          await flushGroup();
          // Published once for the group: by this marker, or earlier by the first event of the run.
          await this.publishRunStarted(action.run.runId);
          await this.deps.state.startRun(action.run);
          ref.ack.settle();
          break;
        case 'run_ended':
          await flushGroup();
          if (action.expected === null) {
            this.endCounted(action.run, ref);
            break;
          }
          this.runs.onCompletion(action.run, await this.deps.state.endRun(action.run, action.expected), [
            ref.ack,
          ]);
          break;
        case 'skip':
          await flushGroup();
          await this.publishRunEvents([
            {
              syncId: this.deps.sync.id,
              runId: action.run.runId,
              type: 'ITEMS_SKIPPED',
              itemIds: [action.id],
              errorCode: action.code,
              message: action.reason,
            },
          ]);
          await this.settleInState(action.run, [{ id: action.id, outcome: 'skipped' }], [ref]);
          break;
        case 'reject':
          await flushGroup();
          await this.reject(action.run, action.id, action.code, action.reason, [ref]);
          break;
        case 'upsert':
        case 'remove': {
          const work: Work = {
            change:
              action.kind === 'upsert'
                ? { id: action.id, action: 'add', values: action.values, fp: this.fingerprint(action.values) }
                : { id: action.id, action: 'remove' },
            refs: [ref],
            ...(action.kind === 'remove' ? { mode: action.mode } : {}),
          };
          const waiting = this.held.get(action.id);
          if (waiting) {
            queueBehind(waiting, work);
            break;
          }
          // Appended, never coalesced: retryHeld may be preparing the queue's last change right now.
          const retrying = this.retrying.get(action.id);
          if (retrying) {
            retrying.push(work);
            break;
          }
          const mode = action.kind === 'remove' ? action.mode : undefined;
          if (
            !group ||
            group.kind !== action.kind ||
            group.run.runId !== action.run.runId ||
            // A Debezium stream run gives each change its own seq (its LSN): state decides per seq.
            group.run.seq !== action.run.seq ||
            group.mode !== mode
          ) {
            await flushGroup();
            group = { kind: action.kind, run: action.run, ...(mode ? { mode } : {}), items: [] };
          }
          group.items.push({ id: action.id, work });
          break;
        }
      }
    }
    await flushGroup();
  }

  /**
   * A run ended without a count (a Debezium snapshot's last record): once every partition has passed
   * it, the run's count is the distinct ids that settled, and it ends like any other run. In the
   * background, so the partition goes on; its ack settles with the run's post-run work.
   */
  private endCounted(run: RunRef, ref: EventRef): void {
    const attempt = async (): Promise<void> => {
      try {
        await ref.passed?.();
        const settled = (await this.deps.state.runInfo(run.runId))?.settled ?? 0;
        this.log.info({ run: run.runId, settled }, 'snapshot passed on every partition; ending its run');
        this.runs.onCompletion(run, await this.deps.state.endRun(run, settled), [ref.ack]);
      } catch (err) {
        if (err instanceof AssignmentEndedError || this.closed) return;
        this.log.warn({ err, run: run.runId }, 'ending the snapshot run failed; retrying');
        setTimeout(() => void attempt(), this.deps.failedPauseMs ?? 5000).unref();
      }
    };
    void attempt();
  }

  /** Abandons unsent work of a revoked partition: its offsets stay uncommitted, the next owner replays them. */
  abandon(assignment: Assignment): number {
    const mine = (w: Work) => {
      const refs = allRefs(w);
      return refs.length > 0 && refs.every((r) => assignmentOf(r.ack) === assignment);
    };
    let n = this.buffer.drop(mine).length;
    for (const [id, works] of this.held) {
      const keep = works.filter((w) => !mine(w));
      n += works.length - keep.length;
      if (keep.length === 0) this.held.delete(id);
      else this.held.set(id, keep);
    }
    return n;
  }

  /**
   * Sends everything buffered now and waits for it (shutdown). A paused sync sends nothing: its
   * buffered changes stay unsettled, so their offsets are not committed and the group replays them.
   */
  async drain(): Promise<void> {
    if (await this.isPaused().catch(() => false)) return;
    this.buffer.flushNow();
    await this.buffer.idle();
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.buffer.close();
    await this.runs.close();
    await this.deps.destination.close();
  }

  private async prepare(group: Group): Promise<void> {
    const { state } = this.deps;
    // Per decision and run: a change that replaced an older one settles that one's events in their run.
    // `seen` keeps ids unique in O(1): a group is a whole fetch, and on a re-export most of it skips.
    const skipped = new Map<
      string,
      { decision: string; run: RunRef; ids: string[]; seen: Set<string>; refs: EventRef[] }
    >();
    const skip = (decision: UpsertDecision | RemovalDecision, id: string, work: Work) => {
      for (const ref of allRefs(work)) {
        const key = `${decision}\0${ref.run.runId}\0${ref.run.seq}`;
        let entry = skipped.get(key);
        if (!entry) {
          entry = { decision, run: ref.run, ids: [], seen: new Set(), refs: [] };
          skipped.set(key, entry);
        }
        if (!entry.seen.has(id)) {
          entry.seen.add(id);
          entry.ids.push(id);
        }
        entry.refs.push(ref);
      }
    };
    if (group.kind === 'upsert') {
      const decisions = await state.prepareUpserts(
        group.run,
        group.items.map((i) => ({ id: i.id, fp: i.work.change.fp ?? '' })),
      );
      group.items.forEach(({ id, work }, i) => {
        const d = answerFor(decisions, i, id);
        // A local change still queued or in flight makes the stored fingerprint out of date.
        if (d.decision === 'send' || (d.decision === 'unchanged' && this.buffer.has(id))) {
          work.change.previousFp = d.storedFp;
          this.buffer.add(id, work);
        } else if (d.decision === 'wait') this.hold(id, work);
        else skip(d.decision, id, work);
      });
    } else {
      const decisions = await state.prepareRemovals(
        group.run,
        group.items.map((i) => i.id),
        group.mode ?? 'members-only',
      );
      group.items.forEach(({ id, work }, i) => {
        const d = answerFor(decisions, i, id);
        if (d.decision === 'send') this.buffer.add(id, work);
        else if (d.decision === 'wait') this.hold(id, work);
        else skip(d.decision, id, work);
      });
    }
    await this.publishRunEvents(
      [...skipped.values()].map(({ decision, run, ids }) => {
        const superseded = run.runId !== group.run.runId;
        const [code, message] = superseded
          ? SUPERSEDED
          : (skipReasons[decision as UpsertDecision] ?? [decision.toUpperCase(), decision]);
        return {
          syncId: this.deps.sync.id,
          runId: run.runId,
          type: 'ITEMS_SKIPPED' as const,
          itemIds: ids,
          errorCode: code,
          message,
        };
      }),
    );
    for (const { run, ids, refs } of skipped.values()) {
      await this.settleInState(
        run,
        ids.map((id) => ({ id, outcome: 'skipped' as const })),
        refs,
      );
    }
  }

  /**
   * Publishes events of runs in the order a reader of the status topic relies on, whichever instances
   * write them: after the run's RUN_STARTED (published first, once for the group, by whoever needs it
   * first: RunStartGate), and acknowledged before the items they report settle in Redis, hence before
   * the run can complete and its RUN_COMPLETED be written. Status events of one sync share a
   * partition, so topic order is this write order.
   */
  private async publishRunEvents(events: StatusInput[]): Promise<void> {
    if (events.length === 0) return;
    const ordered = this.deps.runStarts && this.deps.status.flush;
    if (ordered) {
      for (const runId of new Set(events.map((e) => e.runId))) if (runId) await this.publishRunStarted(runId);
    }
    for (const e of events) this.deps.status.emit(e);
    await this.deps.status.flush?.();
  }

  private async publishRunStarted(runId: string): Promise<void> {
    const emit = () =>
      this.deps.status.emit({
        syncId: this.deps.sync.id,
        runId,
        type: 'RUN_STARTED',
        destination: this.deps.destination.label,
      });
    const { runStarts } = this.deps;
    const flush = this.deps.status.flush?.bind(this.deps.status);
    if (!runStarts || !flush) {
      emit();
      return;
    }
    await runStarts.ensureStarted(runId, async () => {
      emit();
      await flush();
    });
  }

  private isPaused(): Promise<boolean> {
    return this.deps.paused?.() ?? Promise.resolve(false);
  }

  /** Waits while the sync is paused; false when the pipeline closed meanwhile (send nothing then). */
  private async waitWhilePaused(items: number): Promise<boolean> {
    let logged = false;
    while (await this.isPaused()) {
      if (this.closed) return false;
      if (!logged) this.log.info({ items }, 'sync paused by an operator: a request waits');
      logged = true;
      await sleep(this.deps.pausePollMs ?? 500);
    }
    return !this.closed || !logged;
  }

  private hold(id: string, work: Work): void {
    const q = this.held.get(id);
    if (q) queueBehind(q, work);
    else this.held.set(id, [work]);
    this.armRetry();
  }

  /** One retryHeld at a time: two could prepare one item's changes side by side, out of order. */
  private armRetry(): void {
    this.holdTimer ??= setTimeout(() => {
      this.holdTimer = undefined;
      if (this.closed) return;
      if (this.retryRunning) {
        this.armRetry();
        return;
      }
      this.retryRunning = true;
      void this.retryHeld()
        .catch((err) => this.log.error({ err }, 'retrying held items failed'))
        .finally(() => {
          this.retryRunning = false;
        });
    }, this.deps.holdRetryMs ?? 250);
  }

  /**
   * Items that waited for a pending removal go through prepare again, in their original order. Until an
   * item's queue is through, a change of it that arrives meanwhile joins the queue's end (accept checks
   * `retrying`): prepared straight away, a removal could find no entry yet and be skipped while the
   * upsert queued before it is still to be sent.
   */
  private async retryHeld(): Promise<void> {
    const entries = [...this.held.entries()];
    this.held.clear();
    for (const [id, works] of entries) this.retrying.set(id, works);
    try {
      for (const [id, works] of entries) {
        // `works` may grow while this runs (see accept).
        for (let i = 0; i < works.length; i++) {
          const work = works[i];
          if (!work) continue;
          const waiting = this.held.get(id);
          if (waiting) {
            queueBehind(waiting, work);
            continue;
          }
          const run = work.refs[0]?.run;
          if (!run) continue;
          const kind = work.change.action === 'add' ? 'upsert' : 'remove';
          await this.prepare({ kind, run, ...(work.mode ? { mode: work.mode } : {}), items: [{ id, work }] });
        }
        if (this.retrying.get(id) === works) this.retrying.delete(id);
      }
    } finally {
      for (const [id, works] of entries) if (this.retrying.get(id) === works) this.retrying.delete(id);
    }
  }

  private async removeDerived(run: RunRef, ids: string[]): Promise<void> {
    await new Promise<void>((resolve) => {
      let left = ids.length;
      if (left === 0) resolve();
      const done = () => {
        if (--left === 0) resolve();
      };
      for (const id of ids)
        this.buffer.add(id, { change: { id, action: 'remove' }, refs: [], derived: { run, done } });
    });
  }

  /**
   * Sends one batch and settles it. If Redis or the status path fails midway, the whole batch goes back
   * to the buffer: re-sending is harmless (adds and removes are idempotent, settles count ids once),
   * while dropping it would leave its offsets unsettled for good.
   */
  private async deliver(batch: Work[], priority = false): Promise<void> {
    try {
      // Closed while paused: nothing is sent or settled; the offsets stay uncommitted and are replayed.
      if (!(await this.waitWhilePaused(batch.length))) return;
      await this.deliverOnce(batch, priority);
    } catch (err) {
      this.log.error({ err, items: batch.length }, 'delivering a batch failed; requeued');
      for (const work of batch) this.buffer.requeue(work.change.id, work);
      this.buffer.pauseFor(this.deps.failedPauseMs ?? 5000);
    }
  }

  private async deliverOnce(batch: Work[], priority: boolean): Promise<void> {
    const outcomes = await this.deps.destination.send(
      batch.map((w) => w.change),
      sendGate(batch.map((w) => ({ id: w.change.id, acks: allRefs(w).map((r) => r.ack) }))),
      ...(priority ? [{ priority }] : []),
    );
    const byRun = new Map<string, { run: RunRef; outcomes: SettleOutcome[]; refs: EventRef[] }>();
    const settleRef = (ref: EventRef, outcome: SettleOutcome) => {
      const key = `${ref.run.runId}\0${ref.run.seq}`;
      const r = byRun.get(key) ?? { run: ref.run, outcomes: [], refs: [] };
      r.outcomes.push(outcome);
      r.refs.push(ref);
      byRun.set(key, r);
    };
    const derived = new Map<
      string,
      { run: RunRef; outcomes: { id: string; outcome: 'removed' | 'rejected' }[]; done: (() => void)[] }
    >();
    const repaired: { id: string; seq: number; outcome: 'removed' | 'rejected' }[] = [];
    const rejected: { work: Work; code: string; reason: string }[] = [];
    const skipped: { id: string; code: string; reason: string }[] = [];
    const superseded = new Map<string, { run: RunRef; ids: string[] }>();
    let failed = 0;
    batch.forEach((work, i) => {
      // A destination that answers fewer outcomes than changes leaves the rest undelivered.
      const o = outcomes[i] ?? {
        id: work.change.id,
        status: 'failed',
        code: 'NO_OUTCOME',
        reason: 'no outcome',
      };
      // Its partition's next owner replays it; nothing here settles it.
      if (o.status === 'abandoned') return;
      if (o.status === 'failed') {
        failed++;
        this.buffer.requeue(work.change.id, work);
        return;
      }
      if (o.status === 'rejected') rejected.push({ work, code: o.code, reason: o.reason });
      if (o.status === 'skipped') skipped.push({ id: work.change.id, code: o.code, reason: o.reason });
      const removal = o.status === 'accepted' ? ('removed' as const) : ('rejected' as const);
      if (work.repair !== undefined) {
        repaired.push({ id: work.change.id, seq: work.repair, outcome: removal });
        return;
      }
      if (work.derived) {
        const d = derived.get(work.derived.run.runId) ?? { run: work.derived.run, outcomes: [], done: [] };
        d.outcomes.push({ id: work.change.id, outcome: removal });
        d.done.push(work.derived.done);
        derived.set(work.derived.run.runId, d);
        return;
      }
      // Settled first, so that a run holding both keeps the outcome of its later change (dedupe).
      for (const ref of work.superseded ?? []) {
        settleRef(ref, { id: work.change.id, outcome: 'skipped' });
        const s = superseded.get(ref.run.runId) ?? { run: ref.run, ids: [] };
        s.ids.push(work.change.id);
        superseded.set(ref.run.runId, s);
      }
      const outcome: SettleOutcome =
        o.status === 'rejected' || o.status === 'skipped'
          ? { id: work.change.id, outcome: o.status }
          : work.change.action === 'remove'
            ? { id: work.change.id, outcome: 'removed' }
            : { id: work.change.id, outcome: 'upserted', fp: o.fp ?? work.change.fp ?? '' };
      for (const ref of work.refs) settleRef(ref, outcome);
    });
    if (failed > 0) {
      this.log.warn(
        { failed, destination: this.deps.destination.label },
        'changes not delivered after retries; requeued',
      );
      this.buffer.pauseFor(this.deps.failedPauseMs ?? 5000);
    }
    for (const r of rejected) await this.deadLetter(allRefs(r.work), r.work.change.id, r.code, r.reason);
    for (const s of skipped) {
      this.deps.status.emit({
        syncId: this.deps.sync.id,
        type: 'ITEMS_SKIPPED',
        destination: this.deps.destination.label,
        itemIds: [s.id],
        errorCode: s.code,
        message: s.reason,
      });
    }
    await this.publishRunEvents(
      [...superseded.values()].map((s) => ({
        syncId: this.deps.sync.id,
        runId: s.run.runId,
        type: 'ITEMS_SKIPPED' as const,
        destination: this.deps.destination.label,
        itemIds: s.ids,
        errorCode: SUPERSEDED[0],
        message: `${SUPERSEDED[1]} (a later change of the item replaced it before it was sent)`,
      })),
    );
    if (repaired.length > 0) this.repair(await this.deps.state.settleRepair(repaired));
    for (const d of derived.values()) {
      this.repair(await this.deps.state.settleDerived(d.run, d.outcomes));
      for (const done of d.done) done();
    }
    for (const r of byRun.values()) await this.settleInState(r.run, dedupe(r.outcomes), r.refs);
  }

  /** Sends removals again whose older upsert may have landed after them; they settle with settleRepair. */
  private repair(again: Repair[]): void {
    if (again.length === 0) return;
    this.log.info({ items: again.length }, 'an older upsert raced a removal; removing again');
    for (const { id, seq } of again) {
      this.buffer.add(id, { change: { id, action: 'remove' }, refs: [], repair: seq });
    }
  }

  private async reject(
    run: RunRef,
    id: string,
    code: string,
    reason: string,
    refs: EventRef[],
  ): Promise<void> {
    await this.deadLetter(refs, id, code, reason);
    await this.publishRunEvents([
      {
        syncId: this.deps.sync.id,
        runId: run.runId,
        type: 'ITEM_REJECTED',
        destination: this.deps.destination.label,
        itemIds: [id],
        errorCode: code,
        message: reason,
      },
    ]);
    await this.settleInState(run, [{ id, outcome: 'rejected' }], refs);
  }

  private async deadLetter(refs: EventRef[], itemId: string, code: string, reason: string): Promise<void> {
    for (const { message, topic, partition } of refs.map((r) => r.source)) {
      await this.deps.deadLetters.send({
        message,
        topic,
        partition,
        code,
        reason,
        syncId: this.deps.sync.id,
        itemId,
      });
    }
  }

  private async settleInState(run: RunRef, outcomes: SettleOutcome[], refs: EventRef[]): Promise<void> {
    const { completion, again } = await this.deps.state.settle(run, outcomes);
    this.repair(again);
    this.runs.onCompletion(
      run,
      completion,
      refs.map((r) => r.ack),
    );
  }
}

/**
 * Queues a change behind an item's changes that wait for a pending removal. A removal replaces a
 * waiting upsert (the later change wins, as in the buffer): the removal is what clears the flag the
 * upsert waits on, so queueing it behind would wait for ever when that flag is a dead instance's.
 */
function queueBehind(queue: Work[], work: Work): void {
  const last = queue.at(-1);
  const merged =
    last && last.change.action === 'add' && work.change.action === 'remove'
      ? coalesce(last, work)
      : undefined;
  if (merged) queue[queue.length - 1] = merged;
  else queue.push(work);
}

/** Two queued changes of one item become the later one; the earlier one's events settle with it. */
function coalesce(older: Work, newer: Work): Work | undefined {
  if (older.derived || newer.derived || older.repair !== undefined || newer.repair !== undefined)
    return undefined;
  const same = older.change.action === newer.change.action;
  const superseded = [...(older.superseded ?? []), ...(same ? [] : older.refs), ...(newer.superseded ?? [])];
  return {
    ...newer,
    refs: same ? [...older.refs, ...newer.refs] : newer.refs,
    ...(superseded.length > 0 ? { superseded } : {}),
  };
}

/** The state's answer for the i-th item of a group (answers come in order, one per item). */
function answerFor<T extends { id: string }>(answers: T[], i: number, id: string): T {
  const a = answers[i];
  if (a?.id !== id) throw new Error(`state answered ${a?.id ?? 'nothing'} for item ${i} (${id})`);
  return a;
}

function allRefs(w: Work): EventRef[] {
  return w.superseded ? [...w.superseded, ...w.refs] : w.refs;
}

/** One outcome per id per run: coalesced changes of one item settle it once. */
function dedupe(outcomes: SettleOutcome[]): SettleOutcome[] {
  return [...new Map(outcomes.map((o) => [o.id, o])).values()];
}
