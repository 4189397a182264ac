/**
 * The fast-check loop shared by the stress tests: runs generated cases on a fixture pool, shrinks a
 * failure within a time budget, and throws one readable report (case, diff, replay command).
 */
import fc from 'fast-check';
import { type AbstractCase, materialize } from './cases.js';
import { type CaseResult, runCase } from './driver.js';
import type { StressFixture, SyncSlot } from './fixture.js';

export interface PropertyOptions {
  file: string;
  arb: fc.Arbitrary<AbstractCase>;
  numRuns: number;
  slot: () => Promise<{ fx: StressFixture; slot: SyncSlot }>;
  /** After a failing case: a stalled partition or a stuck lease must not fail the shrinking's next tries. */
  discard: () => Promise<void>;
  settleTimeoutMs: number;
  strictStatus: boolean;
  /** Around each case: e.g. start an instance to kill, and the kill itself. */
  around?: (
    fx: StressFixture,
    abstract: AbstractCase,
    run: (onStart?: () => void) => Promise<CaseResult>,
  ) => Promise<CaseResult>;
  /** Cases run first, before the generated ones (regressions). */
  examples?: AbstractCase[];
  log?: (line: string) => void;
}

const env = process.env;
export const replay = {
  seed: env.STRESS_SEED === undefined ? undefined : Number(env.STRESS_SEED),
  path: env.STRESS_PATH,
  /** Shrinking stops trying new candidates after this long: every case costs seconds. */
  shrinkMs: Number(env.STRESS_SHRINK_MS ?? 180_000),
  /**
   * A checkpoint before every full run, so that no full run completes while earlier runs stream in:
   * looks for other defects on code that still has #11's.
   */
  isolateFull: env.STRESS_ISOLATE_FULL === '1',
  /** STRESS_EXAMPLES=0 leaves out the fixed regression cases, to explore with other seeds. */
  examples: env.STRESS_EXAMPLES !== '0',
};

export async function checkRuns(
  opts: PropertyOptions,
): Promise<{ cases: number; ms: number; findings: string[] }> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  let firstFailure: number | undefined;
  let last: { abstract: AbstractCase; result: CaseResult } | undefined;
  let cases = 0;
  let ms = 0;
  const findings: string[] = [];
  const details = await fc.check(
    fc.asyncProperty(opts.arb, async (abstract) => {
      if (firstFailure !== undefined && Date.now() - firstFailure > replay.shrinkMs) return true;
      const c = materialize(abstract, { isolateFull: replay.isolateFull });
      const { fx, slot } = await opts.slot();
      const run = (onStart?: () => void) =>
        runCase(fx, slot, c, {
          settleTimeoutMs: opts.settleTimeoutMs,
          strictStatus: opts.strictStatus,
          ...(onStart ? { onStart } : {}),
        });
      const result = opts.around ? await opts.around(fx, abstract, run) : await run();
      cases++;
      ms += result.ms;
      findings.push(...result.findings.map((n) => `${slot.syncId}: ${n}`));
      log(
        `[stress] case ${cases}${firstFailure === undefined ? '' : ' (shrinking)'}: ${c.steps.length} steps, ${c.segments.length} segment(s), ${result.ms} ms, ${result.ok ? 'ok' : 'FAILED'}`,
      );
      if (!result.ok) {
        firstFailure ??= Date.now();
        last = { abstract, result };
        await opts.discard();
      }
      return result.ok;
    }),
    {
      numRuns: opts.numRuns,
      examples: (replay.examples ? (opts.examples ?? []) : []).map((e) => [e] as [AbstractCase]),
      ...(replay.seed === undefined ? {} : { seed: replay.seed }),
      ...(replay.path === undefined ? {} : { path: replay.path }),
    },
  );
  if (details.failed) {
    const lines = [
      `model-based stress test failed after ${details.numRuns} case(s), ${details.numShrinks} shrink(s)`,
      '',
      last?.result.report ?? String(details.errorInstance),
      '',
      `abstract case: ${JSON.stringify(last?.abstract ?? details.counterexample)}`,
      `replay: ${replay.isolateFull ? 'STRESS_ISOLATE_FULL=1 ' : ''}${replay.examples ? '' : 'STRESS_EXAMPLES=0 '}STRESS_SEED=${details.seed} STRESS_PATH="${details.counterexamplePath}" npx vitest run ${opts.file}`,
    ];
    throw new Error(lines.join('\n'));
  }
  return { cases, ms, findings };
}
