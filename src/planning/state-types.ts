import { CatalogSyncError } from '../errors.js';
import type { RunCounts } from '../status/types.js';

export type { RunCounts };

export interface RunRef {
  runId: string;
  seq: number;
  kind: 'FULL' | 'DELTA';
}
/** stale: a newer run already upserted the item, or the row predates a mirror derivation: settle as skipped. */
export type UpsertDecision = 'send' | 'unchanged' | 'wait' | 'stale';
/**
 * not_member and stale: settle as skipped. 'wait' is never answered (a removal already pending is sent
 * again: its flag may be a crashed attempt of this very removal); it stays in the type for callers.
 */
export type RemovalDecision = 'send' | 'not_member' | 'wait' | 'stale';
/**
 * claimed: this caller must do the run's post-run work (derive mirror deletions, or just finish) and
 * call finishRun; busy: another caller holds the lease: treat the event as not settled and retry later
 * (a dead owner's lease expires and the retry claims it); done: the run already finished; waiting: the
 * run is complete but an earlier run is not finished yet (runs take effect in order): retry later.
 */
export type Completion = 'none' | 'claimed' | 'busy' | 'done' | 'waiting';
export type RunStateName = 'open' | 'complete' | 'deriving' | 'held' | 'done';

export interface SettleOutcome {
  id: string;
  outcome: 'upserted' | 'removed' | 'rejected' | 'skipped';
  /** Fingerprint of the accepted attributes; required for upserted. */
  fp?: string;
}
export interface RunInfo extends RunCounts {
  runId: string;
  kind: string;
  seq: number;
  state: RunStateName;
  /** The end marker's row_count, null until it arrived. */
  expected: number | null;
  /** Distinct ids of the run settled so far. */
  settled: number;
  released: boolean;
  /** Epoch ms (Redis clock) of each step reached: created, started, ended, completed, claimed, held, ... */
  at: Record<string, number>;
  /** A complete run whose post-run work waits for this earlier run to finish. */
  waitingFor: string | null;
}

export interface SyncStateOptions {
  /** Lease of the instance doing a run's post-run work; renewed by every derivation step. @default 30000 */
  leaseMs?: number;
  /** Items hash entries scanned per derivation step (one Lua call). @default 5000 */
  scanCount?: number;
  /** Ids per chunk yielded by markDeletionCandidates. @default 1000 */
  markChunk?: number;
  /**
   * Candidates the count step keeps so that marking re-checks them instead of scanning every item
   * again; above it (a run that would delete most of the catalog) marking scans. @default 100000
   */
  stashCap?: number;
  /** How long a finished run stays inspectable, seconds. @default 7 days */
  doneTtlSec?: number;
  /**
   * A complete run waits for earlier ended runs to finish, but not for one that settled nothing for
   * this long: it can never complete (a row of it was dead-lettered, or its end count is wrong).
   * @default 120000
   */
  orderStallMs?: number;
}

/** A state script refused: codes are stable, none is retriable (the caller lost its role or misused a run). */
export class SyncStateError extends CatalogSyncError {}

const scriptErrors: Record<number, [string, string]> = {
  [-1]: ['STATE_LEASE_LOST', 'another instance holds the lease of run'],
  [-2]: ['STATE_NOT_DERIVING', 'no post-run work in progress for run'],
  [-3]: ['STATE_UNKNOWN_RUN', 'unknown run'],
};

export function checked<T>(res: T | number, runId: string): T {
  if (typeof res === 'number' && res < 0) {
    const [code, message] = scriptErrors[res] ?? ['STATE_SCRIPT', `state script error ${res} for run`];
    throw new SyncStateError(code, `${message} ${runId}`);
  }
  return res as T;
}

export const upsertDecisions: UpsertDecision[] = ['send', 'unchanged', 'wait', 'stale'];
export const removalDecisions: RemovalDecision[] = ['send', 'not_member', 'wait', 'stale'];
export const completions: Completion[] = ['none', 'claimed', 'busy', 'done', 'waiting'];
export const outcomes = new Set(['upserted', 'removed', 'rejected', 'skipped']);

/** A run's hash as RunInfo; null when the run is unknown (or its finished record expired). */
export function parseRunInfo(runId: string, h: Record<string, string>): RunInfo | null {
  if (!h.state) return null;
  const n = (f: string) => Number(h[f] ?? 0);
  const at: Record<string, number> = {};
  for (const [f, v] of Object.entries(h)) {
    const m = /^(\w+)At$/.exec(f);
    if (m) at[m[1]!] = Number(v);
  }
  return {
    runId,
    kind: h.kind ?? '',
    seq: n('seq'),
    state: h.state as RunStateName,
    expected: h.expected === undefined ? null : n('expected'),
    settled: n('settled'),
    released: h.released === '1',
    upserted: n('upserted'),
    removed: n('removed'),
    rejected: n('rejected'),
    skipped: n('skipped'),
    held: n('held'),
    at,
    waitingFor: h.waitingFor ?? null,
  };
}
