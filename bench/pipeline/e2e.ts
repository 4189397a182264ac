/**
 * (b) End-to-end items/s into one Batch project: N instance processes in one group, the simulator
 * and the service both at Batch's real limits; the run is produced once every instance holds partitions.
 * With `cpuHog`, a busy-loop process keeps one core busy from before the group forms to the end.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BatchSimStats } from '../../tools/simulator/server.js';
import { type CpuHog, startCpuHog } from '../cpu-hog.js';
import { createTopic, type Endpoints, produceFull, productSync } from './kafka.js';
import { type InstanceChild, startInstance, startSimulator } from './processes.js';
import { deleteRedisKeys, INSTANCE_ENV, instanceConfig, unique } from './setup.js';

const REAL_LIMITS = { requestsPerSecond: 5, itemsPerSecond: 1000 };

export interface EndToEndResult {
  items: number;
  partitions: number;
  instances: number;
  /** Share of a core the CPU hog used from produce to "run completed"; undefined without a hog. */
  hogCpuShare?: number;
  /** Items per second in the window after the warm-up, from the simulator's accepted edits. */
  itemsPerSecond: number;
  /** Over the whole run, first to last accepted edit. */
  itemsPerSecondOverall: number;
  windowMs: number;
  warmupMs: number;
  itemsEdited: number;
  editRequests: number;
  rejected429: number;
  /** Requests whose tokens went stale before they could leave and were taken again (instance logs). */
  staleGrants: number;
  /** Their ages, ms. */
  staleAgesMs: number[];
  /** From the produce call to "run completed". */
  runMs: number;
  peakRss: { instance: string; bytes: number }[];
}

export async function runEndToEnd(o: {
  ep: Endpoints;
  items: number;
  partitions: number;
  instances: number;
  warmupMs: number;
  cpuHog?: boolean;
  log: (line: string) => void;
}): Promise<EndToEndResult> {
  const name = unique('bench-e2e');
  const topic = `${name}.cdc`;
  const syncId = 'bench-e2e';
  await createTopic(o.ep, topic, o.partitions);
  const sim = await startSimulator(REAL_LIMITS);
  const base = instanceConfig({
    ep: o.ep,
    name,
    topic,
    partitions: o.partitions,
    batchUrl: sim.batchUrl,
    sync: productSync(syncId, 'bench_e2e'),
  });
  const instances: InstanceChild[] = [];
  const snapshots: BatchSimStats[] = [];
  let polling = true;
  // Bounded on its own too: a run of 30,000 items at 1,000/s takes well under this.
  const hog: CpuHog | undefined = o.cpuHog ? startCpuHog(30 * 60_000) : undefined;
  try {
    for (let i = 0; i < o.instances; i++) {
      instances.push(startInstance({ ...base, instanceId: `${name}-${i}` }, INSTANCE_ENV));
    }
    await groupFormed(instances, o.partitions);
    o.log(
      `(b) ${o.instances} instances share ${o.partitions} partitions; producing ${o.items} items` +
        (hog ? ' beside a CPU hog' : ''),
    );
    const poller = (async () => {
      while (polling) {
        snapshots.push(await sim.stats());
        await sleep(200);
      }
    })();
    const started = Date.now();
    const hogStartMs = hog?.cpuMs() ?? 0;
    const produced = await produceFull(o.ep, topic, syncId, o.items);
    const completed = await Promise.any(instances.map((i) => i.waitFor('run completed', 30 * 60_000)));
    if (completed.run !== produced.runId) throw new Error(`completed ${String(completed.run)}`);
    const hogCpuShare = hog ? (hog.cpuMs() - hogStartMs) / (Date.now() - started) : undefined;
    polling = false;
    await poller;
    const final = await sim.stats();
    const peakRss = instances.map((i) => ({ instance: i.name, bytes: i.memory().hwm }));
    const staleAgesMs = instances.flatMap((i) =>
      i.logs.filter((l) => l.msg.startsWith('tokens went stale')).map((l) => Number(l.ageMs)),
    );
    return {
      items: o.items,
      partitions: o.partitions,
      instances: o.instances,
      ...rates(final, snapshots, o.warmupMs),
      runMs: completed.time - started,
      staleGrants: staleAgesMs.length,
      staleAgesMs,
      peakRss,
      ...(hogCpuShare === undefined ? {} : { hogCpuShare }),
    };
  } finally {
    polling = false;
    await hog?.stop();
    await Promise.all(instances.map((i) => i.stop()));
    await sim.stop();
    await deleteRedisKeys(o.ep.redisUrl, name);
  }
}

async function groupFormed(instances: InstanceChild[], partitions: number): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const held = instances.map((i) => {
      const last = i.logs.findLast((l) => l.msg === 'partitions assigned');
      return (last?.partitions as number[] | undefined)?.length ?? 0;
    });
    if (held.every((n) => n > 0) && held.reduce((a, b) => a + b, 0) === partitions) return;
    if (Date.now() > deadline) throw new Error(`group not formed: partitions held ${held.join(', ')}`);
    await sleep(100);
  }
}

/**
 * The window opens at the last snapshot taken at most `warmupMs` after the first accepted edit and
 * closes at the run's last edit; each end is the server's own timestamp of a cumulative count, so
 * polling adds no error and the warm-up never exceeds `warmupMs`.
 */
export function rates(final: BatchSimStats, snapshots: BatchSimStats[], warmupMs: number) {
  const first = final.firstEditAtMs ?? 0;
  const last = final.lastEditAtMs ?? 0;
  const warmEnd = first + Math.min(warmupMs, (last - first) / 2);
  const edited = snapshots.filter((s) => s.lastEditAtMs !== undefined);
  const open = edited.findLast((s) => s.lastEditAtMs! <= warmEnd) ?? edited[0] ?? final;
  const opensAt = open.lastEditAtMs ?? first;
  const windowMs = last - opensAt;
  return {
    itemsPerSecond: (1000 * (final.itemsEdited - open.itemsEdited)) / windowMs,
    requestsPerSecond: (1000 * (final.editRequests - open.editRequests)) / windowMs,
    itemsPerSecondOverall: (1000 * final.itemsEdited) / (last - first),
    windowMs,
    warmupMs: opensAt - first,
    itemsEdited: final.itemsEdited,
    editRequests: final.editRequests,
    rejected429: final.rejected429,
  };
}
