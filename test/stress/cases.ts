/**
 * Generated cases: fast-check builds an abstract case (kinds of runs with sizes and seeds, partition
 * pacing), `materialize` turns it into concrete runs with ids and attributes, deterministically, so a
 * shrunk abstract case prints as the runs it stands for.
 */
import fc from 'fast-check';
import type { Attrs, Row, Run, Step } from './model.js';

export const PARTITIONS = 6;
/** Pacing unit of the producer; a segment spans at most MAX_TICKS of them. */
export const TICK_MS = 30;
export const MAX_TICKS = 50;
export const MAX_DELETE_SHARE = 0.5;

export type AbstractStep =
  /** keep/change are per mille of the items the run keeps; a normal full run deletes little. */
  | { t: 'full'; keep: number; change: number; add: number; seed: number }
  | { t: 'mass'; keep: number; add: number; seed: number }
  | { t: 'empty' }
  | { t: 'delta'; update: number; add: number; del: number; ghost: number; dup: number; seed: number }
  | { t: 'checkpoint'; release: 'none' | 'last' | 'all' };

/** lag: ticks before the partition's first event; perTick: events sent per tick after that. */
export interface Pace {
  lag: number;
  perTick: number;
}

export interface AbstractCase {
  initial: number;
  steps: AbstractStep[];
  markerPartition: number;
  salt: number;
  /** One pacing per segment, cycled. */
  paces: Pace[][];
  /** Crash tests: the instance in a child process is SIGKILLed this long after production starts. */
  crashAfterMs?: number;
}

export interface Segment {
  runs: Run[];
  /** Released at the checkpoint that ends the segment (none after the last one). */
  release: string[];
  pace: Pace[];
}

export interface ConcreteCase {
  steps: Step[];
  segments: Segment[];
  markerPartition: number;
  salt: number;
}

const seedArb = fc.integer({ min: 0, max: 0x7fffffff });
const stepArb: fc.Arbitrary<AbstractStep> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      t: fc.constant('full' as const),
      keep: fc.integer({ min: 850, max: 1000 }),
      change: fc.integer({ min: 0, max: 300 }),
      add: fc.integer({ min: 0, max: 30 }),
      seed: seedArb,
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      t: fc.constant('delta' as const),
      update: fc.integer({ min: 0, max: 25 }),
      add: fc.integer({ min: 0, max: 25 }),
      del: fc.integer({ min: 0, max: 15 }),
      ghost: fc.integer({ min: 0, max: 2 }),
      dup: fc.integer({ min: 0, max: 2 }),
      seed: seedArb,
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('mass' as const),
      keep: fc.integer({ min: 0, max: 150 }),
      add: fc.integer({ min: 0, max: 5 }),
      seed: seedArb,
    }),
  },
  { weight: 1, arbitrary: fc.constant({ t: 'empty' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({
      t: fc.constant('checkpoint' as const),
      release: fc.constantFrom('none' as const, 'last' as const, 'all' as const),
    }),
  },
);

const paceArb: fc.Arbitrary<Pace> = fc.record({
  // Mostly on time; some partitions lag behind the rest (the slow-partition shape).
  lag: fc.oneof(
    { weight: 3, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: fc.integer({ min: 1, max: 40 }) },
  ),
  perTick: fc.integer({ min: 1, max: 60 }),
});

export function caseArb(
  opts: { maxSteps?: number; maxInitial?: number; crash?: boolean } = {},
): fc.Arbitrary<AbstractCase> {
  const base = fc.record({
    initial: fc.integer({ min: 0, max: opts.maxInitial ?? 120 }),
    steps: fc.array(stepArb, { minLength: 1, maxLength: opts.maxSteps ?? 7 }),
    markerPartition: fc.integer({ min: 0, max: PARTITIONS - 1 }),
    salt: fc.integer({ min: 0, max: 999 }),
    paces: fc.array(fc.array(paceArb, { minLength: PARTITIONS, maxLength: PARTITIONS }), {
      minLength: 1,
      maxLength: 3,
    }),
  });
  if (!opts.crash) return base;
  return fc
    .tuple(base, fc.noBias(fc.integer({ min: 0, max: 3000 })))
    .map(([c, crashAfterMs]) => ({ ...c, crashAfterMs }));
}

/** Attributes of item n at version v: every row carries all of them. */
export function attrsOf(n: number, v: number): Attrs {
  return { name: `Item ${n} v${v}`, price: n + v / 10 + 0.25, in_stock: (n + v) % 3 !== 0, tags: [`v${v}`] };
}

/** `i12@3` for item 12 at version 3, read back from a name (or `?` for foreign attributes). */
export function versionLabel(id: string, attrs: Record<string, unknown> | undefined): string {
  const m = /^Item \d+ v(\d+)$/.exec(String(attrs?.name ?? ''));
  return `${id}@${m ? m[1] : '?'}`;
}

export function partitionOf(id: string, salt: number): number {
  let h = 0x811c9dc5 ^ salt;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % PARTITIONS;
}

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffled<T>(xs: T[], r: () => number): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/**
 * Concrete runs of an abstract case. Ids are picked from a serial view of the catalog (held deletions
 * counted as applied or not by the same rule): good enough to aim normal and mass deletions.
 */
export function materialize(c: AbstractCase, opts: { isolateFull?: boolean } = {}): ConcreteCase {
  const version = new Map<string, number>();
  let present: string[] = [];
  let nextItem = 1;
  let seq = 0;
  const fullRuns: string[] = [];
  const steps: Step[] = [];

  const row = (id: string, bump: boolean): Row => {
    const v = (version.get(id) ?? -1) + (bump || !version.has(id) ? 1 : 0);
    version.set(id, v);
    return { id, attrs: attrsOf(Number(id.slice(1)), v) };
  };
  const fresh = (n: number) => Array.from({ length: n }, () => `i${nextItem++}`);
  const pushRun = (kind: Run['kind'], rows: Row[], deleted: string[] = []) => {
    seq++;
    const run: Run = { runId: `${kind.toLowerCase()}-${seq}`, seq, kind, rows, deleted };
    steps.push({ type: 'run', run });
    if (kind === 'FULL') fullRuns.push(run.runId);
    const ids = new Set(rows.map((r) => r.id));
    if (kind === 'DELTA') {
      const gone = new Set(deleted);
      present = [...new Set([...present, ...ids])].filter((id) => !gone.has(id));
      return;
    }
    const absent = present.filter((id) => !ids.has(id)).length;
    const members = new Set([...present, ...ids]).size;
    const held = absent > 0 && (rows.length === 0 || absent > MAX_DELETE_SHARE * members);
    present = held ? [...new Set([...present, ...ids])] : [...ids];
  };
  const fullOf = (keepPermille: number, change: number, add: number, seed: number) => {
    const r = rng(seed);
    const kept = shuffled(present, r).slice(0, Math.round((present.length * keepPermille) / 1000));
    const rows = [
      ...kept.map((id) => row(id, r() * 1000 < change)),
      ...fresh(add).map((id) => row(id, false)),
    ];
    pushRun('FULL', shuffled(rows, r));
  };

  pushRun(
    'FULL',
    fresh(c.initial).map((id) => row(id, false)),
  );
  for (const s of c.steps) {
    if (opts.isolateFull && (s.t === 'full' || s.t === 'mass' || s.t === 'empty')) {
      steps.push({ type: 'checkpoint', release: [] });
    }
    switch (s.t) {
      case 'full':
        fullOf(s.keep, s.change, s.add, s.seed);
        break;
      case 'mass':
        fullOf(s.keep, 0, s.add, s.seed);
        break;
      case 'empty':
        pushRun('FULL', []);
        break;
      case 'delta': {
        const r = rng(s.seed);
        const pool = shuffled(present, r);
        const updated = pool.slice(0, s.update);
        const deleted = pool.slice(s.update, s.update + s.del);
        const ghosts = fresh(s.ghost);
        const rows = shuffled(
          [...updated.map((id) => row(id, true)), ...fresh(s.add).map((id) => row(id, false))],
          r,
        );
        // A second change of an id within one delta comes after its first, as CDC would have it.
        for (const id of updated.slice(0, s.dup)) rows.push(row(id, true));
        pushRun('DELTA', rows, [...deleted, ...ghosts]);
        break;
      }
      case 'checkpoint': {
        const release = s.release === 'none' ? [] : s.release === 'last' ? fullRuns.slice(-1) : [...fullRuns];
        steps.push({ type: 'checkpoint', release });
        break;
      }
    }
  }

  const segments: Segment[] = [];
  let runs: Run[] = [];
  for (const s of steps) {
    if (s.type === 'run') {
      runs.push(s.run);
      continue;
    }
    if (runs.length > 0 || s.release.length > 0) {
      segments.push({ runs, release: s.release, pace: c.paces[segments.length % c.paces.length]! });
    }
    runs = [];
  }
  if (runs.length > 0) segments.push({ runs, release: [], pace: c.paces[segments.length % c.paces.length]! });
  return { steps, segments, markerPartition: c.markerPartition, salt: c.salt };
}

export type WireEvent =
  | { type: 'RUN_STARTED'; run: Run }
  | { type: 'RUN_ENDED'; run: Run; count: number }
  | { type: 'ROW_UPSERTED'; run: Run; row: Row }
  | { type: 'ROW_DELETED'; run: Run; id: string };

/** Per partition, the segment's events in run order: markers on one partition, an item's events on its own. */
export function partitionEvents(c: ConcreteCase, runs: Run[]): WireEvent[][] {
  const parts: WireEvent[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const run of runs) {
    parts[c.markerPartition]!.push({ type: 'RUN_STARTED', run });
    for (const row of run.rows) parts[partitionOf(row.id, c.salt)]!.push({ type: 'ROW_UPSERTED', run, row });
    for (const id of run.deleted) parts[partitionOf(id, c.salt)]!.push({ type: 'ROW_DELETED', run, id });
    const count = new Set([...run.rows.map((r) => r.id), ...run.deleted]).size;
    parts[c.markerPartition]!.push({ type: 'RUN_ENDED', run, count });
  }
  return parts;
}

/** The tick each event of each partition is sent at; a partition's events keep their order. */
export function schedule(
  parts: WireEvent[][],
  pace: Pace[],
): { tick: number; partition: number; events: WireEvent[] }[] {
  const out: { tick: number; partition: number; events: WireEvent[] }[] = [];
  parts.forEach((events, p) => {
    const { lag, perTick } = pace[p]!;
    const start = Math.min(lag, MAX_TICKS - 1);
    const rate = Math.max(perTick, Math.ceil(events.length / (MAX_TICKS - start)));
    for (let i = 0; i < events.length; i += rate) {
      out.push({ tick: start + i / rate, partition: p, events: events.slice(i, i + rate) });
    }
  });
  return out.sort((a, b) => a.tick - b.tick || a.partition - b.partition);
}
