import { cpus } from 'node:os';
import type { EndToEndResult } from './e2e.js';
import { type IngestResult, medianRun } from './ingest.js';
import type { StateResult } from './state.js';

export interface PipelineReport {
  at: string;
  node: string;
  cores: number;
  ingest?: IngestResult;
  e2e?: EndToEndResult;
  state?: Omit<StateResult, 'output'>;
  rss?: { instance: string; phase: string; bytes: number }[];
  goals: { measure: string; figure: number; goal: string; pass: boolean }[];
}

const MB = 1024 * 1024;
const fmt = (n: number | undefined, digits = 0) =>
  n === undefined || Number.isNaN(n)
    ? '-'
    : n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export function buildReport(parts: {
  ingest?: IngestResult;
  e2e?: EndToEndResult;
  state?: StateResult;
}): PipelineReport {
  const { ingest, e2e } = parts;
  const state = parts.state ? (({ output: _, ...s }) => s)(parts.state) : undefined;
  const rss = [
    ...(ingest?.service.map((s, i) => ({ instance: `ingest #${i + 1}`, phase: 'a', bytes: s.peakRss })) ??
      []),
    ...(e2e?.peakRss.map((p) => ({ instance: p.instance, phase: 'b', bytes: p.bytes })) ?? []),
  ];
  const goals: PipelineReport['goals'] = [];
  if (ingest) {
    const bare = ingest.cpuUsPerEvent.bareDecoded;
    const { upsert, skip } = ingest.paths;
    goals.push(
      {
        measure: 'upsert CPU ratio',
        figure: upsert.instanceUsPerEvent / bare,
        goal: '<= 3',
        pass: upsert.instanceUsPerEvent / bare <= 3,
      },
      {
        measure: 'skip CPU ratio',
        figure: skip.instanceUsPerEvent / bare,
        goal: '<= 2',
        pass: skip.instanceUsPerEvent / bare <= 2,
      },
      {
        measure: 'Redis µs/event',
        figure: Math.max(upsert.redisUsPerEvent, skip.redisUsPerEvent),
        goal: '<= 5',
        pass: Math.max(upsert.redisUsPerEvent, skip.redisUsPerEvent) <= 5,
      },
    );
    goals.push({
      measure: 'ingest ratio',
      figure: ingest.ratio.decoded,
      goal: '>= 0.5',
      pass: ingest.ratio.decoded >= 0.5,
    });
  }
  if (e2e) {
    goals.push({
      measure: 'end-to-end items/s',
      figure: e2e.itemsPerSecond,
      goal: '>= 970',
      pass: e2e.itemsPerSecond >= 970,
    });
    goals.push({ measure: '429 answers', figure: e2e.rejected429, goal: '0', pass: e2e.rejected429 === 0 });
  }
  if (state) {
    goals.push({
      measure: 'derivation s',
      figure: state.deriveSeconds,
      goal: '< 15',
      pass: state.deriveSeconds < 15,
    });
    goals.push({
      measure: 'Redis B/item',
      figure: state.bytesPerItem,
      goal: '< 150',
      pass: state.bytesPerItem < 150,
    });
  }
  if (rss.length > 0) {
    const peak = Math.max(...rss.map((r) => r.bytes));
    goals.push({ measure: 'peak RSS MB', figure: peak / MB, goal: '< 300', pass: peak < 300 * MB });
  }
  return {
    at: new Date().toISOString(),
    node: process.version,
    cores: cpus().length,
    ...(ingest ? { ingest } : {}),
    ...(e2e ? { e2e } : {}),
    ...(state ? { state } : {}),
    ...(rss.length > 0 ? { rss } : {}),
    goals,
  };
}

export function formatReport(r: PipelineReport): string {
  const rows: [string, string, string, string][] = [];
  const add = (measure: string, figure: string, goal?: string, info = '') => {
    const g = goal === undefined ? undefined : r.goals.find((x) => x.measure === goal);
    rows.push([measure, figure, g ? g.goal.replace('>=', '≥') : info, g ? (g.pass ? 'PASS' : 'MISS') : '']);
  };
  const how: string[] = [];
  const { ingest: a, e2e: b, state: c } = r;
  if (a) {
    const runs = (n: number) => (n > 1 ? `, median of ${n}` : '');
    const { upsert: u, skip: k } = a.paths;
    const bare = a.cpuUsPerEvent.bareDecoded;
    add(
      `(a) CPU/event, upsert path (new items): instance / bare`,
      `${fmt(u.instanceUsPerEvent, 1)} / ${fmt(bare, 1)} µs = ${fmt(u.instanceUsPerEvent / bare, 2)}×`,
      'upsert CPU ratio',
    );
    add(
      `(a) CPU/event, skip path (re-export, 1% changed): instance / bare`,
      `${fmt(k.instanceUsPerEvent, 1)} / ${fmt(bare, 1)} µs = ${fmt(k.instanceUsPerEvent / bare, 2)}×`,
      'skip CPU ratio',
    );
    add(
      `(a) Redis CPU/event (INFO cpu), upsert / skip path`,
      `${fmt(u.redisUsPerEvent, 1)} / ${fmt(k.redisUsPerEvent, 1)} µs`,
      'Redis µs/event',
    );
    add(
      `(a) Mirror derivation of ${fmt(a.items)} members: instance + Redis CPU, wall`,
      `${fmt(u.derive.instanceMs)} + ${fmt(u.derive.redisMs)} ms, ${fmt(u.derive.ms)} ms`,
      undefined,
      `re-export: ${fmt(k.derive.instanceMs)} + ${fmt(k.derive.redisMs)} ms, ${fmt(k.derive.ms)} ms`,
    );
    add(
      `(a) re-export of ${fmt(a.items)} rows, 1% changed: produce → run completed`,
      `${fmt(k.ms / 1000, 1)} s`,
      undefined,
      `${fmt(k.upserted)} sent, ${fmt(k.skipped)} skipped (unthrottled)`,
    );
    add(`(a) service, 1 instance, destination unthrottled`, `${fmt(a.eventsPerSecond.service)} events/s`);
    add(`(a) bare eachBatch + registry decode`, `${fmt(a.eventsPerSecond.bareDecoded)} events/s`);
    add(`(a) ratio service / bare decoding`, fmt(a.ratio.decoded, 2), 'ingest ratio');
    add(
      `(a) bare eachBatch, no decode (info)`,
      `${fmt(a.eventsPerSecond.bareRaw)} events/s`,
      undefined,
      `ratio ${fmt(a.ratio.raw, 2)}`,
    );
    add(
      `(a) CPU per event: service / bare decoding`,
      `${fmt(a.cpuUsPerEvent.service)} / ${fmt(a.cpuUsPerEvent.bareDecoded, 1)} µs`,
      undefined,
      `CPU bound ${fmt(a.cpuUsPerEvent.bareDecoded / a.cpuUsPerEvent.service, 2)}`,
    );
    const m = a.machine.cpuUsPerEvent;
    add(
      `(a) CPU per event in every process (median run)`,
      `${fmt(m.instance)} + ${fmt(m.simulator, 1)} + ${fmt(m.redis, 1)} + ${fmt(m.kafka, 1)} µs`,
      undefined,
      'instance + simulator + Redis + Kafka',
    );
    add(
      `(a) ceiling on this machine: ${a.machine.cores} cores / all CPU per event`,
      `${fmt(a.machine.ceilingEventsPerSecond)} events/s`,
      undefined,
      `ratio ceiling ${fmt(a.machine.ceilingRatio, 2)}`,
    );
    const rejoined = a.service.filter((s) => s.rejoined).length;
    const mid = medianRun(a.service);
    how.push(
      `(a) ${fmt(a.events)} events (one FULL run of ${fmt(a.items)} rows, ${a.partitions} partitions, produceRun). ` +
        `Service: one child process (cli.ts start), simulator and service limits 1e6 req/s, 1e9 items/s, ` +
        `Mirror sync, default flushWaitMs; timed from its "partitions assigned" to its "run completed" log ` +
        `(every event settled, offsets resolved, run done in Redis)${runs(a.service.length)}. Bare: kafkajs ` +
        `eachBatch, partitionsConsumedConcurrently 12, own group, timed from GROUP_JOIN to the last message` +
        `${runs(a.bare.decoded.length)}; run before the service, never at the same time. Median service run: ` +
        `${fmt(mid.toFirstEditMs)} ms from assignment to the first accepted edit, ${fmt(mid.editsMs)} ms of ` +
        `edits (${fmt(mid.requests)} requests), ${fmt(mid.afterLastEditMs)} ms to "run completed". CPU per ` +
        `event: utime+stime of the instance (/proc) and of the bare consumer (process.cpuUsage) over the ` +
        `same spans; "CPU bound" is the ratio the CPU cost alone allows on one core.` +
        (rejoined > 0 ? ` ${rejoined} service run(s) lost group membership mid-run and re-joined.` : ''),
    );
  }
  if (b) {
    add(
      `(b) end-to-end, ${b.instances} instances, 5 req/s 1000 items/s`,
      `${fmt(b.itemsPerSecond, 1)} items/s`,
      'end-to-end items/s',
    );
    add(`(b) 429 answers (simulator)`, fmt(b.rejected429), '429 answers');
    add(
      `(b) accepted requests, mean items/request`,
      `${fmt(b.editRequests)}, ${fmt(b.itemsEdited / Math.max(1, b.editRequests), 1)}`,
      undefined,
      `${fmt((100 * b.itemsPerSecond) / 1000, 1)} % of 1,000 items/s`,
    );
    add(
      `(b) stale grants, taken again (instance logs)`,
      fmt(b.staleGrants),
      undefined,
      b.staleGrants > 0 ? `ages ${[...b.staleAgesMs].sort((x, y) => x - y).join(', ')} ms` : '',
    );
    const hog =
      b.hogCpuShare === undefined
        ? 'no CPU hog'
        : `a CPU hog beside them (${fmt(100 * b.hogCpuShare)} % of a core over the run)`;
    how.push(
      `(b) ${fmt(b.items)} items, ${b.partitions} partitions, ${b.instances} child processes in one group, ` +
        `default limits, ${hog}; run produced once every instance held partitions. Rate from the simulator's accepted edits ` +
        `after a ${fmt(b.warmupMs / 1000, 1)} s warm-up over ${fmt(b.windowMs / 1000, 1)} s ` +
        `(${fmt(b.itemsEdited)} items in ${fmt(b.editRequests)} requests; whole run ` +
        `${fmt(b.itemsPerSecondOverall, 1)} items/s; produce to "run completed" ${fmt(b.runMs / 1000, 1)} s).`,
    );
  }
  if (c) {
    add(
      `(c) mirror derivation, ${fmt(c.items)} items, ${fmt(c.absent)} absent`,
      `${fmt(c.deriveSeconds, 2)} s`,
      'derivation s',
    );
    add(`(c) Redis bytes per item`, `${fmt(c.bytesPerItem, 1)} B`, 'Redis B/item');
    how.push(
      `(c) bench/state-memory.ts: state written straight into Redis in the real layout, derivation through ` +
        `SyncState (count ${fmt(c.countSeconds, 2)} s + mark ${fmt(c.markSeconds, 2)} s; ${fmt(c.scriptCalls)} ` +
        `script calls, median ${fmt(c.scriptMedianMs, 1)} ms, max ${fmt(c.scriptMaxMs, 1)} ms); ` +
        `bytes by MEMORY USAGE of the sync's keys.`,
    );
  }
  if (r.rss) {
    const peak = Math.max(...r.rss.map((x) => x.bytes));
    add(`(d) peak RSS per instance (VmHWM)`, `${fmt(peak / MB, 1)} MB`, 'peak RSS MB');
    how.push(
      `(d) VmHWM from /proc/<pid>/status of each instance process, sampled every 100 ms: ` +
        r.rss
          .map((x) => `${x.phase}:${x.instance.replace(/^bench-e2e-\w+-/, '#')} ${fmt(x.bytes / MB, 1)}`)
          .join(', ') +
        ' MB.',
    );
  }
  const header: [string, string, string, string] = ['measure', 'figure', 'goal', 'result'];
  const widths = [0, 1, 2, 3].map((i) => Math.max(...[header, ...rows].map((row) => row[i]!.length)));
  const line = (row: string[]) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [
    `catalog-sync pipeline benchmark, ${r.at}, node ${r.node}, ${r.cores} cores`,
    line(header),
    line(widths.map((w) => '-'.repeat(w))),
    ...rows.map(line),
    '',
    ...how,
  ].join('\n');
}
