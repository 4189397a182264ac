/**
 * Runs one materialized case through the real pipeline: produces each segment's events to explicit
 * partitions at the case's pace, waits at each checkpoint until everything produced settled, releases,
 * and compares the simulator's catalog (and the runs still held) with the reference model.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChangeEventRecord } from '../../src/ingest/change-event.js';
import { encodeWire } from '../../src/kafka/wire-format.js';
import { prepareRow } from '../../src/runtime/produce.js';
import {
  type ConcreteCase,
  MAX_DELETE_SHARE,
  partitionEvents,
  partitionOf,
  type Segment,
  schedule,
  TICK_MS,
  versionLabel,
  type WireEvent,
} from './cases.js';
import type { StressFixture, SyncSlot } from './fixture.js';
import {
  type Attrs,
  canonical,
  dishonestSkips,
  type Outcome,
  outcomeKey,
  outcomes,
  type Run,
} from './model.js';

export interface CaseResult {
  ok: boolean;
  /** Why it failed, with the case and a diff; empty when ok. */
  report: string;
  /** Status events that misreport a skip; they fail the case only with `strictStatus`. */
  findings: string[];
  ms: number;
}

function encode(fx: StressFixture, syncId: string, e: WireEvent): { key: string; value: Buffer } {
  const none = { item_key: null, values: null, row_count: null };
  const fields =
    e.type === 'ROW_UPSERTED'
      ? { ...none, item_key: e.row.id, values: prepareRow({ sku: e.row.id, ...e.row.attrs }, 'sku').values }
      : e.type === 'ROW_DELETED'
        ? { ...none, item_key: e.id }
        : e.type === 'RUN_ENDED'
          ? { ...none, row_count: e.count }
          : none;
  const record: ChangeEventRecord = {
    sync_id: syncId,
    run_id: e.run.runId,
    run_seq: e.run.seq,
    run_kind: e.run.kind,
    event_type: e.type,
    ...fields,
    source_ts: Date.now(),
  };
  const key = fields.item_key ?? syncId;
  return { key, value: encodeWire(fx.schemaId, fx.type.toBuffer(record)) };
}

/** Sends the segment tick by tick; each partition's events in order, partitions at their own pace. */
async function produceSegment(fx: StressFixture, slot: SyncSlot, c: ConcreteCase, seg: Segment) {
  const plan = schedule(partitionEvents(c, seg.runs), seg.pace);
  let tick = 0;
  for (let i = 0; i < plan.length; ) {
    const now = plan[i]!.tick;
    if (now > tick) await sleep((now - tick) * TICK_MS);
    tick = now;
    const messages: { partition: number; key: string; value: Buffer }[] = [];
    for (; i < plan.length && plan[i]!.tick === now; i++) {
      const { partition, events } = plan[i]!;
      for (const e of events) messages.push({ partition, ...encode(fx, slot.syncId, e) });
    }
    await fx.producer.send({ topic: fx.config.kafka.cdcTopic, acks: -1, messages });
  }
}

async function poll<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

/** Every run produced so far done or held, and the group committed every event of the topic. */
async function settle(fx: StressFixture, slot: SyncSlot, runs: Run[], timeoutMs: number) {
  const state = fx.instances[0]!.state(slot.syncId);
  const owners = () => fx.instances.map((i) => `[${i.assignedPartitions.join(',')}]`).join(' ');
  let open = '';
  try {
    await poll('every run to be done or held', timeoutMs, async () => {
      const infos = await Promise.all(runs.map((r) => state.runInfo(r.runId)));
      const waiting = infos.filter((i) => !i || (i.state !== 'done' && i.state !== 'held'));
      open = waiting
        .map((i) => (i ? `${i.runId} ${i.state} ${i.settled}/${i.expected ?? '?'}` : 'unknown'))
        .join(', ');
      return waiting.length === 0 ? true : undefined;
    });
  } catch (err) {
    throw new Error(
      `${(err as Error).message} (${open}; in-process instances own ${owners()}; ${await flagged(fx, slot)})`,
    );
  }
  const topic = fx.config.kafka.cdcTopic;
  const high = await fx.admin.fetchTopicOffsets(topic);
  let lagging = '';
  try {
    await poll('the group to commit every event', timeoutMs, async () => {
      const [committed] = await fx.admin.fetchOffsets({ groupId: fx.config.kafka.groupId, topics: [topic] });
      const at = new Map(committed!.partitions.map((p) => [p.partition, p.offset]));
      const behind = high.filter((h) => h.high !== '0' && at.get(h.partition) !== h.high);
      lagging = behind.map((h) => `p${h.partition} committed ${at.get(h.partition)} of ${h.high}`).join(', ');
      return behind.length === 0 ? true : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message} (${lagging}; in-process instances own ${owners()})`);
  }
}

/** Membership entries carrying flags (r: removal pending, x: upsert during one), for a stalled case. */
async function flagged(fx: StressFixture, slot: SyncSlot): Promise<string> {
  const svc = fx.instances[0]!;
  const entries = await svc.redis.hgetall(svc.keys.sync(slot.syncId, 'items'));
  const odd = Object.entries(entries).flatMap(([id, v]) => {
    const [, seq, flags] = v.split('|');
    return flags ? [`${id} seq ${Number.parseInt(seq ?? '', 36)} flags ${flags}`] : [];
  });
  return odd.length ? `entries flagged: ${odd.join(', ')}` : 'no flagged entry';
}

async function runStates(fx: StressFixture, slot: SyncSlot, runs: Run[]) {
  const state = fx.instances[0]!.state(slot.syncId);
  return Promise.all(
    runs.map(async (r) => [r.runId, (await state.runInfo(r.runId))?.state ?? 'unknown'] as const),
  );
}

export interface RunCaseOptions {
  settleTimeoutMs: number;
  /** Misreported skips fail the case (not where replays make them honest: crash tests). */
  strictStatus: boolean;
  /** Called once production of the case started (crash tests arm their kill here). */
  onStart?: () => void;
}

export async function runCase(
  fx: StressFixture,
  slot: SyncSlot,
  c: ConcreteCase,
  opts: RunCaseOptions,
): Promise<CaseResult> {
  const started = Date.now();
  const allowed = outcomes(c.steps, { maxDeleteShare: MAX_DELETE_SHARE });
  const produced: Run[] = [];
  let failure: string | undefined;
  opts.onStart?.();
  try {
    for (const seg of c.segments) {
      await produceSegment(fx, slot, c, seg);
      produced.push(...seg.runs);
      await settle(fx, slot, produced, opts.settleTimeoutMs);
      for (const runId of seg.release) await fx.instances[0]!.releaseDeletions(slot.syncId, runId);
    }
  } catch (err) {
    failure = `the pipeline did not settle: ${(err as Error).message}`;
  }
  const states = await runStates(fx, slot, produced);
  const actual = {
    catalog: new Map([...fx.items(slot)].map(([id, a]) => [id, a as unknown as Attrs])),
    held: states
      .filter(([, s]) => s === 'held')
      .map(([id]) => id)
      .sort(),
  };
  const key = outcomeKey(actual);
  const matched = allowed.some((o) => outcomeKey(o) === key);
  await fx.statusCaughtUp().catch(() => undefined);
  const findings = statusFindings(fx, slot, c);
  const ms = Date.now() - started;
  const statusFails = opts.strictStatus && findings.length > 0;
  if (!failure && matched && !statusFails) return { ok: true, report: '', findings, ms };
  const closest = closestOutcome(allowed, actual);
  const report = [
    failure ??
      (matched
        ? 'the status topic misreports skips (the catalog is right)'
        : 'the final catalog (or the set of held runs) is not one the spec allows'),
    '',
    describeCase(c, slot, closest),
    '',
    `run states: ${states.map(([id, s]) => `${id}=${s}`).join(' ')}`,
    `${allowed.length} allowed outcome(s); diff against the closest (expected → actual):`,
    ...diff(closest, actual).map((l) => `  ${l}`),
    ...(findings.length ? ['', 'status topic:', ...findings.map((n) => `  ${n}`)] : []),
  ].join('\n');
  return { ok: false, report, findings, ms };
}

/** Status events that misreport a skip (see dishonestSkips). */
function statusFindings(fx: StressFixture, slot: SyncSlot, c: ConcreteCase): string[] {
  const superseded = new Map<string, Set<string>>();
  for (const e of fx.status) {
    if (e.syncId !== slot.syncId || e.type !== 'ITEMS_SKIPPED' || e.errorCode !== 'SUPERSEDED' || !e.runId)
      continue;
    const ids = superseded.get(e.runId) ?? new Set<string>();
    for (const id of e.itemIds) ids.add(id);
    superseded.set(e.runId, ids);
  }
  const dishonest = dishonestSkips(c.steps, superseded);
  const findings: string[] = [];
  for (const e of fx.status) {
    if (e.syncId !== slot.syncId || e.type !== 'ITEMS_SKIPPED' || !e.runId) continue;
    const [which, why] =
      e.errorCode === 'UNCHANGED'
        ? [dishonest.unchanged, 'their attributes changed']
        : e.errorCode === 'NOT_A_MEMBER'
          ? [dishonest.notMember, 'they were in the catalog']
          : [undefined, ''];
    const wrong = e.itemIds.filter((id) => which?.get(e.runId!)?.has(id));
    if (wrong.length) findings.push(`${e.runId}: ${ranges(wrong)} skipped as ${e.errorCode}, but ${why}`);
  }
  return findings;
}

function closestOutcome(allowed: Outcome[], actual: Pick<Outcome, 'catalog' | 'held'>): Outcome {
  return allowed.reduce((best, o) => (diff(o, actual).length < diff(best, actual).length ? o : best));
}

function diff(
  expected: Pick<Outcome, 'catalog' | 'held'>,
  actual: Pick<Outcome, 'catalog' | 'held'>,
): string[] {
  const out: string[] = [];
  const missing: string[] = [];
  const extra: string[] = [];
  for (const [id, a] of expected.catalog) {
    const got = actual.catalog.get(id);
    if (!got) missing.push(versionLabel(id, a as never));
    else if (canonical(got) !== canonical(a))
      out.push(
        `${id}: ${versionLabel(id, a as never)} → ${versionLabel(id, got as never)} ${canonical(got)}`,
      );
  }
  for (const [id, a] of actual.catalog)
    if (!expected.catalog.has(id)) extra.push(versionLabel(id, a as never));
  if (missing.length) out.unshift(`missing (${missing.length}): ${missing.sort(byItem).join(' ')}`);
  if (extra.length) out.unshift(`extra (${extra.length}): ${extra.sort(byItem).join(' ')}`);
  if (expected.held.join() !== actual.held.join())
    out.push(`held runs: [${expected.held.join(', ')}] → [${actual.held.join(', ')}]`);
  return out;
}

const itemNo = (label: string) => Number(/^i(\d+)/.exec(label)?.[1] ?? 0);
const byItem = (a: string, b: string) => itemNo(a) - itemNo(b);

/** `i1..i40 i43` for a list of ids. */
export function ranges(ids: string[]): string {
  const ns = [...new Set(ids)].map(itemNo).sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < ns.length; ) {
    let j = i;
    while (j + 1 < ns.length && ns[j + 1] === ns[j]! + 1) j++;
    parts.push(j === i ? `i${ns[i]}` : `i${ns[i]}..i${ns[j]}`);
    i = j + 1;
  }
  return parts.join(' ');
}

function describeRun(run: Run, c: ConcreteCase, decision: string | undefined, known: Set<string>): string {
  const ghosts = run.deleted.filter((id) => !known.has(id));
  const versions = run.rows.map((r) => versionLabel(r.id, r.attrs as never));
  const changed = versions.filter((v) => !v.endsWith('@0'));
  const fresh = run.rows.filter((r) => r.attrs.name.endsWith(' v0')).map((r) => r.id);
  const parts = [
    `${run.runId.padEnd(9)} seq ${run.seq} ${run.kind.padEnd(5)} ${run.rows.length} rows`,
    run.rows.length === 0 ? '(empty)' : '',
    fresh.length ? `new/v0: ${ranges(fresh)}` : '',
    changed.length ? `changed: ${changed.join(' ')}` : '',
    run.deleted.length ? `deleted: ${ranges(run.deleted)}` : '',
    ghosts.length ? `(never created: ${ranges(ghosts)})` : '',
    decision ? `→ model: deletions ${decision}` : '',
  ];
  const partitionsUsed = new Set(
    [...run.rows.map((r) => r.id), ...run.deleted].map((id) => partitionOf(id, c.salt)),
  );
  return `${parts.filter(Boolean).join('  ')}  [partitions ${[...partitionsUsed].sort().join(',')}]`;
}

/** The case as readable text: segments, runs (ids as ranges, versions), pacing, releases. */
export function describeCase(c: ConcreteCase, slot: SyncSlot | undefined, o: Outcome | undefined): string {
  const lines = [
    `Mirror sync${slot ? ` ${slot.syncId} (catalog ${slot.catalog} of ${slot.projectKey})` : ''}, guardrail share ${MAX_DELETE_SHARE}; markers on partition ${c.markerPartition}, items hashed with salt ${c.salt}`,
  ];
  const known = new Set<string>();
  c.segments.forEach((seg, i) => {
    lines.push(`segment ${i + 1}: produced together, then settled`);
    for (const run of seg.runs) {
      lines.push(`  ${describeRun(run, c, o?.decisions.get(run.runId), known)}`);
      for (const r of run.rows) known.add(r.id);
    }
    lines.push(
      `  pacing (lag ticks/events per tick of ${TICK_MS} ms): ${seg.pace.map((p, n) => `p${n} ${p.lag}/${p.perTick}`).join(', ')}`,
    );
    if (seg.release.length) lines.push(`  checkpoint: release ${seg.release.join(', ')}`);
  });
  return lines.join('\n');
}
