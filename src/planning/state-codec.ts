import crypto from 'node:crypto';

/**
 * The value of one entry of a sync's `items` hash, as the Lua scripts write it: `idx|seq|flags|fp`,
 * idx and seq in base 36, fp = `<fpEpoch>.<fingerprint>` or empty. Every entry is a member.
 * Kept short on purpose: it is most of the per-item memory at 2,000,000 items.
 */
export interface ItemEntry {
  /** Bit offset of the item in run bitmaps, assigned once per entry. */
  idx: number;
  /** run_seq of the last run that upserted the item. */
  seq: number;
  /** A removal is pending (sent or about to be). */
  removalPending: boolean;
  /** An upsert landed while a removal was pending: whether the destination holds it is unknown. */
  uncertain: boolean;
  /** Fingerprint epoch and fingerprint of the last accepted attributes, or null. */
  fp: { epoch: number; value: string } | null;
}

export function packItem(e: ItemEntry): string {
  const flags = `${e.removalPending ? 'r' : ''}${e.uncertain ? 'x' : ''}`;
  const fp = e.fp ? `${e.fp.epoch}.${e.fp.value}` : '';
  return `${e.idx.toString(36)}|${e.seq.toString(36)}|${flags}|${fp}`;
}

export function parseItem(value: string): ItemEntry {
  const [idx, seq, flags, ...rest] = value.split('|');
  if (idx === undefined || seq === undefined || flags === undefined || rest.length === 0) {
    throw new Error(`not an item entry: ${value}`);
  }
  // The fingerprint is the rest of the value, whatever it holds.
  const fp = rest.join('|');
  const dot = fp.indexOf('.');
  return {
    idx: Number.parseInt(idx, 36),
    seq: Number.parseInt(seq, 36),
    removalPending: flags.includes('r'),
    uncertain: flags.includes('x'),
    fp: dot < 0 ? null : { epoch: Number(fp.slice(0, dot)), value: fp.slice(dot + 1) },
  };
}

/**
 * Stable short hash of attribute values: keys sorted at every depth, so the same row always gives the
 * same fingerprint. 11 base64url characters = 66 bits: a collision (an update wrongly skipped) is
 * negligible at millions of items. The output is stored in Redis: it must never change for a given input.
 */
export function fingerprint(values: Record<string, unknown>): string {
  const json = stableJson(values);
  // crypto.hash (Node >= 20.12) skips the Hash object; same digest.
  const digest =
    typeof crypto.hash === 'function'
      ? crypto.hash('sha256', json, 'base64url')
      : crypto.createHash('sha256').update(json).digest('base64url');
  return digest.slice(0, 11);
}

/** JSON with keys sorted by code unit at every depth, undefined members left out (as JSON.stringify does). */
function stableJson(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      // A hole stays empty, as it did when this was value.map(stableJson).join(',').
      if (i in value) out += stableJson(value[i]);
    }
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const v = record[key];
    if (v === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${JSON.stringify(key)}:${stableJson(v)}`;
  }
  return `${out}}`;
}
