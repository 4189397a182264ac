/**
 * Reference model of the run semantics of one Mirror sync (Full then Delta), written from
 * /work/shared/specs/sync-semantics.md alone: nothing here comes from src/planning.
 *
 * Runs take effect in seq order whatever the interleaving of their events. A full run upserts its rows,
 * then removes every item it did not contain, unless the guardrail holds those deletions; a delta run
 * upserts its rows and removes its deleted ids. A release removes the held run's absentees that no
 * run from the held one on upserted.
 *
 * The product decides a hold once the run is complete and every earlier run finished, while later runs
 * of the same segment (runs produced before the next checkpoint) may be partly applied. When the bounds
 * of that decision disagree the model branches, and `outcomes` lists every final state the spec allows.
 */

export interface Attrs {
  name: string;
  price: number;
  in_stock: boolean;
  tags: string[];
}

export interface Row {
  id: string;
  attrs: Attrs;
}

export interface Run {
  runId: string;
  seq: number;
  kind: 'FULL' | 'DELTA';
  /** In production order; one id may appear twice in a delta (the later row wins). */
  rows: Row[];
  /** Delta runs only; disjoint from the rows' ids. */
  deleted: string[];
}

/** A checkpoint waits until everything produced so far settled, then releases held runs by id. */
export type Step = { type: 'run'; run: Run } | { type: 'checkpoint'; release: string[] };

export interface ModelConfig {
  /** guardrail.maxDeleteShare */
  maxDeleteShare: number;
}

export type Decision = 'none' | 'applied' | 'held';

export interface Outcome {
  catalog: Map<string, Attrs>;
  /** Runs whose deletions are held at the end, sorted. */
  held: string[];
  /** Decision of every full run at its completion. */
  decisions: Map<string, Decision>;
}

interface Entry {
  attrs: Attrs;
  /** seq of the last run whose row upserted it. */
  seq: number;
}

interface World {
  catalog: Map<string, Entry>;
  held: Map<string, number>;
  decisions: Map<string, Decision>;
}

export interface HoldBounds {
  /** Deletions the run derives: its absentees, less those later rows may have upserted or deleted. */
  count: { min: number; max: number };
  /** Items in the catalog when it derives (after its own rows). */
  members: { min: number; max: number };
  empty: boolean;
}

export type HoldVerdict = 'none' | 'apply' | 'hold' | 'ambiguous';

export function holdVerdict(b: HoldBounds, cfg: ModelConfig): HoldVerdict {
  if (b.count.max === 0) return 'none';
  // Monotone: more deletions or fewer members only make a hold likelier.
  const holds = (count: number, members: number) =>
    count > 0 && (b.empty || count > cfg.maxDeleteShare * members);
  if (holds(b.count.min, b.members.max)) return 'hold';
  if (!holds(b.count.max, b.members.min)) return 'apply';
  return 'ambiguous';
}

/** Bounds of a full run's derivation, given the catalog after its rows and the later runs of its segment. */
export function holdBounds(catalog: ReadonlyMap<string, unknown>, run: Run, later: Run[]): HoldBounds {
  const inRun = new Set(run.rows.map((r) => r.id));
  const upsertedLater = new Set(later.flatMap((r) => r.rows.map((row) => row.id)));
  const deletedLater = new Set(later.flatMap((r) => r.deleted));
  const absent = [...catalog.keys()].filter((id) => !inRun.has(id));
  const countMin = absent.filter((id) => !upsertedLater.has(id) && !deletedLater.has(id)).length;
  const ids = [...catalog.keys()];
  const membersMin = ids.filter((id) => !deletedLater.has(id)).length;
  const membersMax = new Set([...ids, ...upsertedLater]).size;
  return {
    count: { min: countMin, max: absent.length },
    members: { min: membersMin, max: membersMax },
    empty: run.rows.length === 0,
  };
}

function clone(w: World): World {
  return { catalog: new Map(w.catalog), held: new Map(w.held), decisions: new Map(w.decisions) };
}

function upsert(w: World, run: Run): void {
  for (const row of run.rows) w.catalog.set(row.id, { attrs: row.attrs, seq: run.seq });
}

function release(w: World, runId: string): void {
  const seq = w.held.get(runId);
  if (seq === undefined) return;
  w.held.delete(runId);
  for (const [id, e] of w.catalog) if (e.seq < seq) w.catalog.delete(id);
}

/** The runs after `index` up to the next checkpoint. */
function laterInSegment(steps: Step[], index: number): Run[] {
  const out: Run[] = [];
  for (const s of steps.slice(index + 1)) {
    if (s.type === 'checkpoint') break;
    out.push(s.run);
  }
  return out;
}

function step(w: World, steps: Step[], i: number, cfg: ModelConfig): World[] {
  const s = steps[i]!;
  if (s.type === 'checkpoint') {
    for (const id of s.release) release(w, id);
    return [w];
  }
  const { run } = s;
  upsert(w, run);
  if (run.kind === 'DELTA') {
    for (const id of run.deleted) w.catalog.delete(id);
    return [w];
  }
  const verdict = holdVerdict(holdBounds(w.catalog, run, laterInSegment(steps, i)), cfg);
  const inRun = new Set(run.rows.map((r) => r.id));
  const apply = (x: World) => {
    x.decisions.set(run.runId, verdict === 'none' ? 'none' : 'applied');
    for (const id of [...x.catalog.keys()]) if (!inRun.has(id)) x.catalog.delete(id);
    return x;
  };
  const hold = (x: World) => {
    x.decisions.set(run.runId, 'held');
    x.held.set(run.runId, run.seq);
    return x;
  };
  if (verdict === 'hold') return [hold(w)];
  if (verdict === 'ambiguous') return [apply(clone(w)), hold(w)];
  return [apply(w)];
}

/** Every final state the spec allows for these steps, from an empty catalog; duplicates removed. */
export function outcomes(steps: Step[], cfg: ModelConfig): Outcome[] {
  let worlds: World[] = [{ catalog: new Map(), held: new Map(), decisions: new Map() }];
  for (let i = 0; i < steps.length; i++) worlds = worlds.flatMap((w) => step(w, steps, i, cfg));
  const seen = new Map<string, Outcome>();
  for (const w of worlds) {
    const o: Outcome = {
      catalog: new Map([...w.catalog].map(([id, e]) => [id, e.attrs])),
      held: [...w.held.keys()].sort(),
      decisions: w.decisions,
    };
    seen.set(outcomeKey(o), o);
  }
  return [...seen.values()];
}

export function outcomeKey(o: Pick<Outcome, 'catalog' | 'held'>): string {
  const items = [...o.catalog].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ items: items.map(([id, a]) => [id, canonical(a)]), held: o.held });
}

/** Attributes as comparable text: key order and float noise do not matter. */
export function canonical(a: unknown): string {
  if (a === null || typeof a !== 'object') return JSON.stringify(a);
  if (Array.isArray(a)) return `[${a.map(canonical).join(',')}]`;
  const keys = Object.keys(a).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical((a as Record<string, unknown>)[k])}`).join(',')}}`;
}

/**
 * Skips a run may not honestly report on the status topic, per run id: `UNCHANGED` for a row when no
 * row of that run for the id carries the attributes of the id's last row in an earlier run (or there was
 * none); `NOT_A_MEMBER` for a deletion of an id surely in the catalog (upserted since the last full run,
 * or by it, and not deleted since). Conservative on purpose: an unchanged item may also be missing from
 * the destination (removed in between), which this does not flag. Only without replays: a replayed row
 * of an accepted upsert is honestly unchanged, a replayed deletion honestly not a member.
 * `superseded` (run id → ids the status topic reports `SUPERSEDED` in that run): such an upsert was
 * replaced by a later change of the item before it was sent (the buffer, or the queue of changes
 * waiting for a removal to settle), so it makes the id no surer a member.
 */
export function dishonestSkips(
  steps: Step[],
  superseded: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): {
  unchanged: Map<string, Set<string>>;
  notMember: Map<string, Set<string>>;
} {
  const last = new Map<string, string>();
  let surely = new Set<string>();
  const unchanged = new Map<string, Set<string>>();
  const notMember = new Map<string, Set<string>>();
  const runs = steps.flatMap((s) => (s.type === 'run' ? [s.run] : [])).sort((a, b) => a.seq - b.seq);
  for (const run of runs) {
    const byId = new Map<string, string[]>();
    for (const row of run.rows) byId.set(row.id, [...(byId.get(row.id) ?? []), canonical(row.attrs)]);
    const changed = new Set<string>();
    for (const [id, values] of byId) {
      const before = last.get(id);
      if (before === undefined || !values.includes(before)) changed.add(id);
      last.set(id, values[values.length - 1]!);
    }
    unchanged.set(run.runId, changed);
    notMember.set(run.runId, new Set(run.deleted.filter((id) => surely.has(id))));
    if (run.kind === 'FULL') surely = new Set();
    const replaced = superseded.get(run.runId);
    for (const id of byId.keys()) if (!replaced?.has(id)) surely.add(id);
    for (const id of run.deleted) surely.delete(id);
  }
  return { unchanged, notMember };
}
