/** The demo's closing report: one block per sync, the project's figures, the checks, what to run next. */

import type { SyncConfig } from '../../src/config/config.js';
import type { BatchSimStats } from '../simulator/server.js';
import { type RunRecord, type StatusTracker, sustainedRate } from './tracker.js';

export interface Check {
  ok: boolean;
  line: string;
}

const n = (v: number) => v.toLocaleString('en-US');
const pad = (v: string | number, w: number) => (typeof v === 'number' ? n(v) : v).padStart(w);

function runLine(r: RunRecord, kind: string): string {
  const c = r.counts ?? { upserted: 0, removed: 0, rejected: 0, skipped: 0, held: 0 };
  const took =
    r.startedAt !== undefined && r.completedAt !== undefined
      ? `${((r.completedAt - r.startedAt) / 1000).toFixed(1)} s`
      : '?';
  return `  ${`${r.runId} (${kind})`.padEnd(28)}${pad(c.upserted, 9)}${pad(c.removed, 9)}${pad(c.rejected, 9)}${pad(c.skipped, 9)}${pad(c.held, 6)}${pad(took, 9)}`;
}

function destinationLabel(sync: SyncConfig): string {
  const d = sync.destination as { type: string; catalog?: string };
  return d.catalog === undefined ? d.type : `${d.type}:${d.catalog}`;
}

export function syncSummary(
  sync: SyncConfig,
  runs: { record: RunRecord; kind: string }[],
  tracker: StatusTracker,
  limit: number,
): string[] {
  const f = tracker.figures(sync.id);
  const total = { upserted: 0, removed: 0, rejected: 0, skipped: 0, held: 0 };
  for (const { record } of runs) {
    for (const k of Object.keys(total) as (keyof typeof total)[]) total[k] += record.counts?.[k] ?? 0;
  }
  const rate = sustainedRate(f.perSecond);
  const lines = [
    `${sync.id}  (${sync.mode} / ${sync.operation} → ${destinationLabel(sync)})`,
    `  ${'run'.padEnd(28)}${pad('upserted', 9)}${pad('removed', 9)}${pad('rejected', 9)}${pad('skipped', 9)}${pad('held', 6)}${pad('took', 9)}`,
    ...runs.map(({ record, kind }) => runLine(record, kind)),
    `  ${'total'.padEnd(28)}${pad(total.upserted, 9)}${pad(total.removed, 9)}${pad(total.rejected, 9)}${pad(total.skipped, 9)}${pad(total.held, 6)}`,
    `  items/s: ${rate === undefined ? 'n/a (too short to measure a steady rate)' : n(Math.round(rate))} while sending steadily; ${n(f.acceptedItems)} items in ${n(f.acceptedTokens.size)} accepted requests (limit ${n(limit)} items/s per project, shared by every sync and instance)`,
    `  indexing tokens APPLIED: ${n(f.appliedTokens.size)} of ${n(f.acceptedTokens.size)}`,
    `  retries: ${f.retries}, dead letters: ${f.deadLetters}`,
  ];
  for (const r of runs) if (r.record.heldMessage) lines.push(`  held: ${r.record.heldMessage}`);
  const shown = [...new Map(f.rejections.map((r) => [r.id, r])).values()].slice(0, 3);
  for (const r of shown) lines.push(`  rejected: ${r.id}: ${r.reason}`);
  return lines;
}

export function projectSummary(project: string, stats: BatchSimStats, limit: number): string {
  const steady = sustainedRate(new Map(stats.itemsPerSecond.map((s) => [s.second, s.items])));
  return (
    `project ${project} (simulator): ${n(stats.itemsEdited)} items in ${n(stats.editRequests)} requests, ` +
    `${steady === undefined ? 'no steady stretch' : `${n(Math.round(steady))} items/s while sending steadily`} ` +
    `(limit ${n(limit)}), busiest second ${n(stats.itemsPerSecondPeak)} items (bucket burst included), ` +
    `${n(stats.rejected429)} × 429`
  );
}

/** The catalog holds exactly the expected ids; the line names a few differences when it does not. */
export function catalogCheck(name: string, actual: Iterable<string>, expected: Set<string>): Check {
  const have = new Set(actual);
  const extra = [...have].filter((id) => !expected.has(id));
  const lacking = [...expected].filter((id) => !have.has(id));
  const ok = extra.length === 0 && lacking.length === 0;
  let line = `check: ${name} catalog has ${n(have.size)} items, expected ${n(expected.size)}`;
  if (!ok) {
    line += ` FAILED (unexpected: ${extra.slice(0, 5).join(',') || 'none'}; missing: ${lacking.slice(0, 5).join(',') || 'none'})`;
  }
  return { ok, line };
}

export function nextSteps(opts: {
  /** Variables the config's secret references need (demo values, not secrets). */
  env: string;
  configFile: string;
  commands: string[];
  metricsUrls: string[];
  kept: boolean;
  logDir?: string | undefined;
}): string[] {
  // Without --keep the config file, topics and keys are gone once the demo exits.
  const cli = `${opts.kept ? `${opts.env} ` : ''}npx tsx src/runtime/cli.ts`;
  const cfg = `--config ${opts.kept ? opts.configFile : '<config file>'}`;
  const lines = [
    opts.kept
      ? 'next (the demo keeps running until Ctrl-C; its topics and Redis keys stay afterwards):'
      : 'next: `npm run demo -- --keep` leaves everything running after the summary, to try:',
  ];
  if (opts.commands.includes('status')) {
    lines.push(`  status events:  ${cli} status tail --from-beginning ${cfg}`);
  }
  if (opts.commands.includes('inspect')) lines.push(`  sync state:     ${cli} inspect products ${cfg}`);
  lines.push(`  operator:       ${cli} --help   (release-deletions, resync, validate-config, ...)`);
  if (opts.kept) for (const url of opts.metricsUrls) lines.push(`  metrics:        ${url}`);
  else
    lines.push(
      '  metrics:        http://127.0.0.1:<HTTP_PORT>/metrics of each instance (also /healthz, /readyz)',
    );
  if (opts.logDir) lines.push(`  instance logs:  ${opts.logDir}`);
  return lines;
}
