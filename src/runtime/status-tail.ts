/**
 * `status tail`: follows the status topic, as text or one JSON object per event, and optionally stops
 * at a condition (`--until`) so a script can wait for a run.
 */

import type { Config } from '../config/config.js';
import { checkKafkaAccess, connectionOf, createKafka } from '../kafka/client.js';
import { createRegistry } from '../kafka/registry.js';
import { formatStatusLine, readStatus, type StatusEventDecoded } from '../status/reader.js';

export const UNTIL = ['run-completed', 'deletions-held'] as const;
export type Until = (typeof UNTIL)[number];

/** Exit codes of `status tail`, also listed in its --help. */
export const TAIL_EXIT = { reached: 0, failed: 1, usage: 2, notReached: 3 } as const;

export interface TailOptions {
  sync?: string;
  run?: string;
  until?: Until;
  /** Seconds; with --until, not reaching it in time exits 3; without, tailing just stops (exit 0). */
  timeout?: number;
  json?: boolean;
  /** Start from the oldest retained event; implied by --until with --run. */
  fromBeginning?: boolean;
}

const UNTIL_TYPE: Record<Until, StatusEventDecoded['type']> = {
  'run-completed': 'RUN_COMPLETED',
  'deletions-held': 'DELETIONS_HELD',
};

/** Does this event (already past the --sync/--run filters) meet --until? */
export function reaches(until: Until, e: StatusEventDecoded): boolean {
  return e.type === UNTIL_TYPE[until];
}

/** One line of output: the full event as JSON (every item id), or the human line. */
export function formatEvent(e: StatusEventDecoded, json: boolean): string {
  return json ? JSON.stringify(e) : formatStatusLine(e);
}

/**
 * Tails until interrupted, --timeout, or the --until event; resolves to the exit code. With --until
 * and --run the topic is read from the beginning, so a run that finished before the command started
 * is still found.
 */
export async function tailStatus(
  config: Config,
  o: TailOptions,
  io: {
    out: (line: string) => void;
    err: (line: string) => void;
    /** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
    interrupted: Promise<unknown>;
  },
): Promise<number> {
  let reached: (() => void) | undefined;
  const reachedP = new Promise<void>((resolve) => {
    reached = resolve;
  });
  let done = false;
  let warnedHeld = false;
  // The timeout counts from the start: joining the topic is part of the wait.
  let timer: NodeJS.Timeout | undefined;
  const seconds = o.timeout;
  const timedOut =
    seconds === undefined
      ? new Promise<never>(() => undefined)
      : new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), seconds * 1000);
        });
  const connection = { ...connectionOf(config.kafka), clientId: `${config.kafka.clientId}-status-tail` };
  await checkKafkaAccess(connection);
  const reader = await readStatus({
    kafka: createKafka(connection),
    registry: createRegistry(config.schemaRegistry),
    topic: config.kafka.statusTopic,
    fromBeginning: (o.fromBeginning ?? false) || (o.until !== undefined && o.run !== undefined),
    ...(o.sync ? { syncId: o.sync } : {}),
    ...(o.run ? { filter: (e: StatusEventDecoded) => e.runId === o.run } : {}),
    onEvent: (e) => {
      if (done) return;
      io.out(formatEvent(e, o.json ?? false));
      if (o.until && reaches(o.until, e)) {
        done = true;
        reached?.();
      } else if (o.until === 'run-completed' && o.run && e.type === 'DELETIONS_HELD' && !warnedHeld) {
        warnedHeld = true;
        io.err(
          `status tail: run ${o.run} holds its deletions; it completes only after release-deletions or discard-deletions`,
        );
      }
    },
    onError: (err, m) => io.err(`status tail: offset ${m.offset} does not decode: ${String(err)}`),
  }).catch((err: unknown) => {
    clearTimeout(timer);
    throw err;
  });
  try {
    const how = await Promise.race([
      reachedP.then(() => 'reached' as const),
      io.interrupted.then(() => 'interrupted' as const),
      timedOut,
    ]);
    done = true;
    if (how === 'reached' || !o.until) return TAIL_EXIT.reached;
    const what = `${o.until}${o.run ? ` of run ${o.run}` : ''}${o.sync ? ` (sync ${o.sync})` : ''}`;
    io.err(
      how === 'timeout'
        ? `status tail: no ${what} within ${o.timeout} s`
        : `status tail: interrupted before ${what}`,
    );
    return TAIL_EXIT.notReached;
  } finally {
    clearTimeout(timer);
    await reader.stop();
  }
}
