/**
 * The model-based test of run-semantics.integration, with a crash: an instance in a child process
 * shares the partitions with an in-process one and is SIGKILLed at a random moment of the case, so its
 * uncommitted events replay on the survivor (after the session timeout, and a lease it held expires).
 * Each case costs a child start and a rebalance or two: few cases by default (STRESS_CRASH_RUNS).
 *
 * Can fail on 5ead4a0 (a case stalls: runs stay open, items flagged `r`): a killed instance's removal
 * flag blocks the replay of an earlier row of the item; crash-regressions has the deterministic form.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../helpers/services.js';
import { caseArb, PARTITIONS } from './cases.js';
import { fixturePool } from './fixture.js';
import { checkRuns, replay } from './property.js';

const RUNS = Number(process.env.STRESS_CRASH_RUNS ?? 3);
const SETTLE_MS = 90_000;
const pool = fixturePool({ syncs: 20, instances: 1 });

describe('run semantics against a reference model, with an instance killed mid-case (integration)', () => {
  afterAll(() => pool.close(), 120_000);

  it(
    'a SIGKILL at a random moment changes nothing in the final catalog',
    async () => {
      let n = 0;
      const { cases, findings } = await checkRuns({
        file: 'test/stress/runs-crash.integration.test.ts',
        arb: caseArb({ crash: true, maxSteps: 5 }),
        numRuns: RUNS,
        slot: () => pool.slot(),
        discard: () => pool.close(),
        settleTimeoutMs: SETTLE_MS,
        // Replayed rows may honestly be UNCHANGED (or NOT_A_MEMBER) the second time.
        strictStatus: false,
        around: async (fx, abstract, run) => {
          const survivor = fx.instances[0]!;
          // The previous child's partitions must have come back first, or its ghost would pass for the new one.
          await eventually(
            'the survivor to own every partition',
            () => (survivor.assignedPartitions.length === PARTITIONS ? true : undefined),
            60_000,
          );
          const { child, stderr } = fx.spawnChild(`k${++n}`);
          const kill = () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          };
          try {
            await eventually(
              'the child to take partitions',
              () =>
                child.exitCode !== null ||
                (survivor.assignedPartitions.length > 0 && survivor.assignedPartitions.length < PARTITIONS)
                  ? true
                  : undefined,
              60_000,
            );
            if (child.exitCode !== null) throw new Error(`the child exited early:\n${stderr.join('')}`);
            let timer: NodeJS.Timeout | undefined;
            let midCase = false;
            const result = await run(() => {
              timer = setTimeout(() => {
                midCase = true;
                kill();
              }, abstract.crashAfterMs ?? 0);
            });
            clearTimeout(timer);
            process.stderr.write(
              `[stress] child k${n} ${midCase ? `killed ${abstract.crashAfterMs} ms into the case` : 'outlived the case'}\n`,
            );
            if (!result.ok) {
              result.report += `\n\nkilled ${abstract.crashAfterMs} ms after production started; child stderr (tail):\n${stderr.join('').slice(-3000)}`;
            }
            return result;
          } finally {
            kill();
          }
        },
      });
      for (const f of findings) process.stderr.write(`[stress] status (replays may explain it): ${f}\n`);
      expect(cases).toBeGreaterThan(0);
    },
    RUNS * 180_000 + replay.shrinkMs + 120_000,
  );
});
