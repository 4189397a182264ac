import { createHash } from 'node:crypto';

const VERSION = 'y1';
/** Characters of base64url per attribute: 36 bits, a wrongly skipped update is negligible per change. */
const WIDTH = 6;

const hash = (text: string, width: number) =>
  createHash('sha256').update(text).digest('base64url').slice(0, width);

/**
 * Per-attribute fingerprints packed in one string: a version, a hash of the attribute list (a new mapping
 * re-sends everything once), then one short hash per attribute in the configured order. Equal strings
 * mean nothing changed; otherwise `changed` names the attributes whose hash moved.
 */
export class AttributeFingerprint {
  private readonly head: string;

  constructor(private readonly names: readonly string[]) {
    this.head = VERSION + hash(names.join('\0'), 4);
  }

  of(values: Record<string, unknown>): string {
    return this.head + this.names.map((n) => hash(encode(values[n]), WIDTH)).join('');
  }

  /** Attributes present in `values` whose hash differs from `previous`; all of them without a usable one. */
  changed(values: Record<string, unknown>, previous: string | null | undefined): Set<string> {
    const present = this.names.filter((n) => values[n] !== undefined);
    const expected = this.head.length + WIDTH * this.names.length;
    if (!previous || previous.length !== expected || !previous.startsWith(this.head)) return new Set(present);
    const at = (i: number) =>
      previous.slice(this.head.length + i * WIDTH, this.head.length + (i + 1) * WIDTH);
    return new Set(present.filter((n) => hash(encode(values[n]), WIDTH) !== at(this.names.indexOf(n))));
  }
}

function encode(value: unknown): string {
  if (value === undefined) return '\0absent';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  return JSON.stringify(value) ?? 'null';
}
