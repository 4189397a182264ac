/**
 * What happens when a run is complete (its distinct settled ids reached the end marker's count): for a
 * full Mirror run, derive the deletions (members the run did not contain), hold them behind the guardrail
 * or send them, then finish the run and report its counts. The instance holding the lease does it; the
 * events that completed the run stay unsettled until it is done, so a crash replays them.
 */

import type { SyncConfig } from '../config/config.js';
import type { Ack } from '../ingest/ack.js';
import type { Logger } from '../logger.js';
import type { Completion, RunCounts, RunRef, SyncState } from '../planning/state.js';
import type { StatusSink } from './sinks.js';

/** What run coordination needs of the sync's shared state (SyncState; a fake in unit tests). */
export type RunState = Pick<
  SyncState,
  | 'claim'
  | 'countDeletionCandidates'
  | 'finishRun'
  | 'holdDeletions'
  | 'isReleased'
  | 'markDeletionCandidates'
  | 'memberCount'
  | 'renewLease'
  | 'runInfo'
>;

export interface RunCoordinatorDeps {
  sync: SyncConfig;
  state: RunState;
  status: StatusSink;
  logger: Logger;
  label: string;
  /** Sends removals through the sync's buffer; resolves when every one is settled. */
  removeDerived: (run: RunRef, ids: string[]) => Promise<void>;
  /** Retry of a completion another instance holds. @default 2000 */
  busyRetryMs?: number;
  /** Retry of a complete run waiting for an earlier run to finish. @default 500 */
  waitRetryMs?: number;
  leaseRenewMs?: number;
}

export type DerivationResult =
  | { kind: 'none' }
  | { kind: 'held'; count: number; members: number }
  | { kind: 'sent'; count: number };

export class RunCoordinator {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly active = new Map<string, Promise<unknown>>();
  private closed = false;

  constructor(private readonly deps: RunCoordinatorDeps) {}

  /** Acts on a completion answer; `acks` settle once the run's post-run work no longer needs them. */
  onCompletion(run: RunRef, completion: Completion, acks: readonly Ack[]): void {
    if (completion === 'none' || completion === 'done') {
      settle(acks);
      return;
    }
    if (completion === 'busy' || completion === 'waiting') {
      const ms = completion === 'busy' ? (this.deps.busyRetryMs ?? 2000) : (this.deps.waitRetryMs ?? 500);
      this.later(() => this.retryClaim(run, acks), ms);
      return;
    }
    const work = this.active.get(run.runId) ?? this.complete(run);
    this.active.set(run.runId, work);
    work.then(
      () => {
        if (this.active.get(run.runId) === work) this.active.delete(run.runId);
        settle(acks);
      },
      (err: unknown) => {
        this.deps.logger.error({ err, run: run.runId }, 'post-run work failed; retrying');
        if (this.active.get(run.runId) === work) this.active.delete(run.runId);
        this.later(() => this.retryClaim(run, acks), this.deps.busyRetryMs ?? 2000);
      },
    );
  }

  /** Post-run work of a claimed run; also what `release-deletions` runs after a release. */
  async complete(run: RunRef, opts: { ignoreGuardrail?: boolean } = {}): Promise<DerivationResult> {
    const { state, sync, status } = this.deps;
    const renew = setInterval(
      () => void state.renewLease(run).catch(() => undefined),
      this.deps.leaseRenewMs ?? 5000,
    );
    try {
      const result =
        sync.operation === 'mirror' && run.kind === 'FULL'
          ? await this.derive(run, opts)
          : ({ kind: 'none' } as const);
      // A held run stays in progress: RUN_COMPLETED comes once its deletions are released or discarded.
      if (result.kind === 'held') return result;
      const counts = await state.finishRun(run);
      status.emit({
        syncId: sync.id,
        runId: run.runId,
        type: 'RUN_COMPLETED',
        destination: this.deps.label,
        counts,
      });
      this.deps.logger.info({ run: run.runId, ...counts }, 'run completed');
      return result;
    } finally {
      clearInterval(renew);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  private async derive(run: RunRef, opts: { ignoreGuardrail?: boolean }): Promise<DerivationResult> {
    const { state, sync, status } = this.deps;
    this.deps.logger.info({ run: run.runId }, 'deriving deletions');
    const count = await state.countDeletionCandidates(run);
    const released = await state.isReleased(run.runId);
    if (count > 0 && !opts.ignoreGuardrail && !released) {
      const [members, info] = await Promise.all([state.memberCount(), state.runInfo(run.runId)]);
      const emptyRun = (info?.expected ?? 0) === 0;
      if (emptyRun || count > sync.guardrail.maxDeleteShare * members) {
        await state.holdDeletions(run, count);
        status.emit({
          syncId: sync.id,
          runId: run.runId,
          type: 'DELETIONS_HELD',
          destination: this.deps.label,
          message: `${count} of ${members} items would be removed${emptyRun ? ' by an empty run' : ''}, above the guardrail (${sync.guardrail.maxDeleteShare}); the run stays in progress until: release-deletions ${sync.id} ${run.runId}`,
          counts: {
            ...(info ? countsOf(info) : { upserted: 0, removed: 0, rejected: 0, skipped: 0 }),
            held: count,
          },
        });
        this.deps.logger.warn({ run: run.runId, count, members }, 'mirror deletions held by the guardrail');
        return { kind: 'held', count, members };
      }
    }
    if (count > 0 || released) {
      status.emit({
        syncId: sync.id,
        runId: run.runId,
        type: released ? 'DELETIONS_RELEASED' : 'DELETIONS_DERIVED',
        destination: this.deps.label,
        message: `${count} items absent from the run`,
      });
    }
    // Marking also raises the mirror floor and finds entries created since the count: run it even at 0.
    let sent = 0;
    for await (const ids of state.markDeletionCandidates(run)) {
      sent += ids.length;
      await this.deps.removeDerived(run, ids);
    }
    return sent === 0 ? { kind: 'none' } : { kind: 'sent', count: sent };
  }

  private async retryClaim(run: RunRef, acks: readonly Ack[]): Promise<void> {
    try {
      this.onCompletion(run, await this.deps.state.claim(run), acks);
    } catch (err) {
      this.deps.logger.warn({ err, run: run.runId }, 'completion check failed; retrying');
      this.later(() => this.retryClaim(run, acks), this.deps.busyRetryMs ?? 2000);
    }
  }

  private later(fn: () => Promise<void>, ms: number): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      void fn();
    }, ms);
    this.timers.add(t);
  }
}

function countsOf(c: RunCounts): RunCounts {
  return { upserted: c.upserted, removed: c.removed, rejected: c.rejected, skipped: c.skipped, held: c.held };
}

function settle(acks: readonly Ack[]): void {
  for (const a of acks) a.settle();
}
