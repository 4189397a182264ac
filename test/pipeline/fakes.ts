import type { SyncConfig } from '../../src/config/config.js';
import type { DestinationChange, DestinationOutcome, SyncDestination } from '../../src/destinations/port.js';
import type { Ack, Delivery } from '../../src/ingest/ack.js';
import type { ChangeEvent } from '../../src/ingest/change-event.js';
import { createLogger } from '../../src/logger.js';
import type { PipelineState } from '../../src/pipeline/sync-pipeline.js';
import type {
  Completion,
  RemovalDecision,
  Repair,
  RunCounts,
  RunInfo,
  RunRef,
  SettleOutcome,
  UpsertDecision,
} from '../../src/planning/state.js';
import type { StatusInput } from '../../src/status/types.js';

export const silent = createLogger({ level: 'silent' });

export function mirrorSync(more: Partial<SyncConfig> = {}): SyncConfig {
  return {
    id: 's',
    destination: { type: 'batch', project: 'p', catalog: 'c' },
    mode: 'full_then_delta',
    operation: 'mirror',
    idColumn: 'sku',
    fields: [{ source: 'name', attribute: 'name', type: 'string' }],
    customAttributes: [],
    guardrail: { maxDeleteShare: 0.5 },
    flushWaitMs: 5,
    ...more,
  } as SyncConfig;
}

export class FakeAck implements Ack {
  settled = 0;
  settle(): void {
    this.settled++;
  }
}

export function delivery(e: Partial<ChangeEvent> & Pick<ChangeEvent, 'type'>): Delivery & { ack: FakeAck } {
  const event: ChangeEvent = {
    syncId: 's',
    runId: 'r1',
    runSeq: 1,
    runKind: 'DELTA',
    itemKey: null,
    values: null,
    rowCount: null,
    sourceTs: 0,
    ...e,
  };
  const ack = new FakeAck();
  return { event, ack, source: { message: { offset: '0' } as never, topic: 't', partition: 0 } };
}

export class FakeStatus {
  readonly events: StatusInput[] = [];
  emit(e: StatusInput): void {
    this.events.push(e);
  }
  types(runId?: string): string[] {
    return this.events.filter((e) => runId === undefined || e.runId === runId).map((e) => e.type);
  }
}

const zero: RunCounts = { upserted: 0, removed: 0, rejected: 0, skipped: 0, held: 0 };

/**
 * The sync's shared state as the pipeline and run coordinator see it, scripted per test: decisions by
 * id, completions in order, and a record of every call.
 */
export class FakeState implements PipelineState {
  readonly calls: { op: string; run?: string; items?: unknown }[] = [];
  upsertDecisions = new Map<string, UpsertDecision>();
  removalDecisions = new Map<string, RemovalDecision>();
  completions: Completion[] = [];
  again: Repair[] = [];
  candidates = 0;
  marked: string[][] = [];
  members = 10;
  released = false;
  info: Partial<RunInfo> = {};

  private next(): Completion {
    return this.completions.shift() ?? 'none';
  }
  private record(op: string, run?: RunRef, items?: unknown) {
    this.calls.push({ op, ...(run ? { run: run.runId } : {}), ...(items === undefined ? {} : { items }) });
  }
  ops(op: string) {
    return this.calls.filter((c) => c.op === op);
  }

  async startRun(run: RunRef) {
    this.record('startRun', run);
  }
  async endRun(run: RunRef, expected: number) {
    this.record('endRun', run, expected);
    return this.next();
  }
  async claim(run: RunRef) {
    this.record('claim', run);
    return this.next();
  }
  async prepareUpserts(run: RunRef, items: { id: string; fp: string }[]) {
    this.record(
      'prepareUpserts',
      run,
      items.map((i) => i.id),
    );
    return items.map((i) => ({
      id: i.id,
      decision: this.upsertDecisions.get(i.id) ?? 'send',
      storedFp: null,
    }));
  }
  async prepareRemovals(run: RunRef, ids: string[]) {
    this.record('prepareRemovals', run, ids);
    return ids.map((id) => ({ id, decision: this.removalDecisions.get(id) ?? 'send' }));
  }
  async settle(run: RunRef, settled: SettleOutcome[]) {
    this.record(
      'settle',
      run,
      settled.map((o) => `${o.id}:${o.outcome}`),
    );
    const again = this.again;
    this.again = [];
    return { newlySettled: settled.length, completion: this.next(), again };
  }
  async settleDerived(run: RunRef, settled: { id: string; outcome: 'removed' | 'rejected' }[]) {
    this.record(
      'settleDerived',
      run,
      settled.map((o) => `${o.id}:${o.outcome}`),
    );
    return [];
  }
  async settleRepair(settled: { id: string; seq: number; outcome: 'removed' | 'rejected' }[]) {
    this.record(
      'settleRepair',
      undefined,
      settled.map((o) => `${o.id}@${o.seq}:${o.outcome}`),
    );
    return [];
  }
  async renewLease() {
    return true;
  }
  async countDeletionCandidates(run: RunRef) {
    this.record('count', run);
    return this.candidates;
  }
  async *markDeletionCandidates(run: RunRef) {
    this.record('mark', run);
    for (const chunk of this.marked) yield chunk;
  }
  async holdDeletions(run: RunRef, count: number) {
    this.record('hold', run, count);
  }
  async isReleased() {
    return this.released;
  }
  async memberCount() {
    return this.members;
  }
  async runInfo(runId: string): Promise<RunInfo | null> {
    return {
      runId,
      kind: 'FULL',
      seq: 1,
      state: 'deriving',
      expected: 1,
      settled: 1,
      released: this.released,
      at: {},
      waitingFor: null,
      ...zero,
      ...this.info,
    };
  }
  async finishRun(run: RunRef) {
    this.record('finish', run);
    return { ...zero, ...this.info };
  }
}

/** Accepts every change, recording each request. */
export class FakeDestination implements SyncDestination {
  readonly label = 'batch:c';
  readonly maxItemsPerRequest = 200;
  readonly requests: DestinationChange[][] = [];
  async ensure() {}
  async send(changes: DestinationChange[]): Promise<DestinationOutcome[]> {
    this.requests.push(changes.map((c) => ({ ...c })));
    return changes.map((c) => ({ id: c.id, status: 'accepted' as const, indexingToken: 'tok' }));
  }
  async close() {}
}

export const until = async (what: string, check: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};
