/**
 * (a) Ingest rate of one instance with the destination unthrottled, beside a bare kafkajs consumer
 * reading the same pre-filled topic in the same run (one after the other, never together: two cores).
 */
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis, type Redis } from '../../src/redis/connection.js';
import {
  type BareResult,
  bareConsume,
  createTopic,
  type Endpoints,
  produceFull,
  productSync,
} from './kafka.js';
import {
  type InstanceChild,
  processCpuMs,
  type SimulatorChild,
  startInstance,
  startSimulator,
} from './processes.js';
import { deleteRedisKeys, INSTANCE_ENV, instanceConfig, localServicePids, median, unique } from './setup.js';

const UNTHROTTLED = { requestsPerSecond: 1e6, itemsPerSecond: 1e9 };

export interface ServiceRun {
  /** From the instance's partition assignment to its "run completed" (every event settled, run done). */
  ms: number;
  eventsPerSecond: number;
  /** Where the time went: assignment → first accepted edit → last accepted edit → run completed. */
  toFirstEditMs: number;
  editsMs: number;
  afterLastEditMs: number;
  requests: number;
  /** CPU time of the instance process from its assignment to the run's completion, per event. */
  cpuUsPerEvent: number;
  /**
   * CPU ms each local process used over the same span (NaN where its pid is not known): on a shared
   * two-core machine this tells whether the run was short of CPU or waiting.
   */
  cpuMs: { instance: number; simulator: number; redis: number; kafka: number };
  upserted: number;
  peakRss: number;
  /** The instance lost its group membership mid-run and joined again (its batches were replayed). */
  rejoined: boolean;
  /** CPU per event by path: this run (every row new), then a re-export with 1% of the rows changed. */
  paths: { upsert: PathCpu; skip: PathCpu };
}

/**
 * CPU time of one run through one instance, split at its "deriving deletions" log line: the path
 * (consume, decode, plan, Redis state, send, settle) per event, and the Mirror derivation after it.
 */
export interface PathCpu {
  events: number;
  upserted: number;
  skipped: number;
  /** Instance user+sys CPU per event, derivation left out. */
  instanceUsPerEvent: number;
  /** Redis server CPU (INFO cpu, whole server: other clients count too) per event, derivation left out. */
  redisUsPerEvent: number;
  /** The run's Mirror derivation (every member scanned): instance and Redis CPU ms, and wall ms. */
  derive: { instanceMs: number; redisMs: number; ms: number };
  /** Produce call (skip) or assignment (upsert) to "run completed". */
  ms: number;
}

export interface IngestResult {
  items: number;
  events: number;
  partitions: number;
  produceMs: number;
  bare: { decoded: BareResult[]; raw: BareResult[] };
  service: ServiceRun[];
  eventsPerSecond: { service: number; bareDecoded: number; bareRaw: number };
  cpuUsPerEvent: { service: number; bareDecoded: number; bareRaw: number };
  ratio: { decoded: number; raw: number };
  /** Medians over the service runs. */
  paths: { upsert: PathCpu; skip: PathCpu };
  /**
   * The median service run's CPU per event in every local process, and the rate those costs allow
   * if the machine's cores did nothing else and never waited: a ceiling no implementation of the
   * instance alone can lift, since the simulator, Redis and Kafka share the cores.
   */
  machine: {
    cpuUsPerEvent: ServiceRun['cpuMs'];
    cores: number;
    ceilingEventsPerSecond: number;
    ceilingRatio: number;
  };
}

export async function runIngest(o: {
  ep: Endpoints;
  items: number;
  partitions: number;
  repeat: number;
  bareRepeat: number;
  cpuProfDir?: string;
  /** Directory the instances run from (a patched copy of the tree, to measure a change). */
  instanceCwd?: string;
  log: (line: string) => void;
}): Promise<IngestResult> {
  const name = unique('bench-ingest');
  const topic = `${name}.cdc`;
  const syncId = 'bench-ingest';
  await createTopic(o.ep, topic, o.partitions);
  const produced = await produceFull(o.ep, topic, syncId, o.items);
  o.log(`(a) ${topic}: ${produced.messages} events produced in ${(produced.ms / 1000).toFixed(1)} s`);

  const bare: IngestResult['bare'] = { decoded: [], raw: [] };
  for (let i = 0; i < o.bareRepeat; i++) {
    for (const decode of [false, true]) {
      const r = await bareConsume(o.ep, topic, `${name}-bare-${i}-${decode}`, produced.messages, decode);
      (decode ? bare.decoded : bare.raw).push(r);
      o.log(
        `(a) bare eachBatch ${decode ? 'decoding' : 'raw'}: ${r.eventsPerSecond.toFixed(0)} events/s, ` +
          `CPU ${r.cpuUsPerEvent.toFixed(1)} µs/event`,
      );
    }
  }

  const service: ServiceRun[] = [];
  for (let i = 0; i < o.repeat; i++) {
    const prefix = `${name}-svc${i}`;
    // Each run reads a topic of its own: on the shared one, a later run would also read every earlier
    // run's re-export (its upsert path would then count them, and its own re-export change nothing).
    const runTopic = i === 0 ? topic : `${prefix}.cdc`;
    if (i > 0) await createTopic(o.ep, runTopic, o.partitions);
    const runProduced = i === 0 ? produced : await produceFull(o.ep, runTopic, syncId, o.items);
    // A simulator per run: its first and last edit times are this run's.
    const sim = await startSimulator(UNTHROTTLED);
    const instance = startInstance(
      instanceConfig({
        ep: o.ep,
        name: prefix,
        topic: runTopic,
        partitions: o.partitions,
        batchUrl: sim.batchUrl,
        limits: UNTHROTTLED,
        sync: productSync(syncId, 'bench_ingest'),
      }),
      INSTANCE_ENV,
      {
        ...(o.cpuProfDir ? { cpuProfDir: o.cpuProfDir } : {}),
        ...(o.instanceCwd ? { cwd: o.instanceCwd } : {}),
      },
    );
    try {
      service.push(
        await measureService(instance, sim, runProduced, o.items, o.ep.redisUrl, () =>
          produceFull(o.ep, runTopic, syncId, o.items, SKIP_CHANGED_EVERY),
        ),
      );
      const s = service.at(-1)!;
      o.log(
        `(a) service: ${s.eventsPerSecond.toFixed(0)} events/s (to first edit ${s.toFirstEditMs} ms, ` +
          `edits ${s.editsMs} ms in ${s.requests} requests, after last edit ${s.afterLastEditMs} ms; ` +
          `CPU ${s.cpuUsPerEvent.toFixed(0)} µs/event${s.rejoined ? '; re-joined the group mid-run' : ''}; ` +
          `paths: ${JSON.stringify(s.paths)}; ` +
          `CPU ms over ${s.ms} ms: ${Object.entries(s.cpuMs)
            .map(([k, v]) => `${k} ${v.toFixed(0)}`)
            .join(', ')})`,
      );
    } finally {
      await instance.stop();
      await sim.stop();
      await deleteRedisKeys(o.ep.redisUrl, prefix);
    }
  }

  const eventsPerSecond = {
    service: median(service.map((s) => s.eventsPerSecond)),
    bareDecoded: median(bare.decoded.map((b) => b.eventsPerSecond)),
    bareRaw: median(bare.raw.map((b) => b.eventsPerSecond)),
  };
  const cpuUsPerEvent = {
    service: median(service.map((s) => s.cpuUsPerEvent)),
    bareDecoded: median(bare.decoded.map((b) => b.cpuUsPerEvent)),
    bareRaw: median(bare.raw.map((b) => b.cpuUsPerEvent)),
  };
  const path = (k: 'upsert' | 'skip'): PathCpu => {
    const of = (f: (p: PathCpu) => number) => median(service.map((r) => f(r.paths[k])));
    return {
      events: of((p) => p.events),
      upserted: of((p) => p.upserted),
      skipped: of((p) => p.skipped),
      instanceUsPerEvent: of((p) => p.instanceUsPerEvent),
      redisUsPerEvent: of((p) => p.redisUsPerEvent),
      derive: {
        instanceMs: of((p) => p.derive.instanceMs),
        redisMs: of((p) => p.derive.redisMs),
        ms: of((p) => p.derive.ms),
      },
      ms: of((p) => p.ms),
    };
  };
  const mid = medianRun(service);
  const perEvent = Object.fromEntries(
    Object.entries(mid.cpuMs).map(([k, ms]) => [k, (1000 * ms) / produced.messages]),
  ) as ServiceRun['cpuMs'];
  const totalUs = Object.values(perEvent).reduce((sum, us) => sum + (Number.isFinite(us) ? us : 0), 0);
  const cores = cpus().length;
  const ceiling = (cores * 1e6) / totalUs;
  return {
    machine: {
      cpuUsPerEvent: perEvent,
      cores,
      ceilingEventsPerSecond: ceiling,
      ceilingRatio: ceiling / eventsPerSecond.bareDecoded,
    },
    items: o.items,
    events: produced.messages,
    partitions: o.partitions,
    produceMs: produced.ms,
    bare,
    service,
    eventsPerSecond,
    cpuUsPerEvent,
    paths: { upsert: path('upsert'), skip: path('skip') },
    ratio: {
      decoded: eventsPerSecond.service / eventsPerSecond.bareDecoded,
      raw: eventsPerSecond.service / eventsPerSecond.bareRaw,
    },
  };
}

async function measureService(
  instance: InstanceChild,
  sim: SimulatorChild,
  run: { runId: string; messages: number },
  items: number,
  redisUrl: string,
  reexport: () => Promise<{ runId: string; messages: number }>,
): Promise<ServiceRun> {
  const events = run.messages;
  const pids = { instance: instance.pid, simulator: sim.pid, ...(await localServicePids(redisUrl)) };
  const cpuNow = () =>
    Object.fromEntries(
      Object.entries(pids).map(([k, pid]) => [k, pid === undefined ? Number.NaN : processCpuMs(pid)]),
    ) as ServiceRun['cpuMs'];
  const redis = createRedis(redisUrl);
  try {
    const sample = async () => ({
      at: Date.now(),
      instance: instance.cpuMs(),
      redis: await redisCpuMs(redis),
    });
    const assigned = await instance.waitFor('partitions assigned');
    const cpuAtAssignment = cpuNow();
    const upsertFrom = await sample();
    const upsertPath = await measurePath(instance, run.runId, upsertFrom, sample);
    const completed = upsertPath.completed;
    const cpuAtEnd = cpuNow();
    const cpuMsBy = Object.fromEntries(
      Object.entries(cpuAtEnd).map(([k, v]) => [k, v - cpuAtAssignment[k as keyof ServiceRun['cpuMs']]]),
    ) as ServiceRun['cpuMs'];
    const cpuMs = cpuMsBy.instance;
    // A run that rejected or skipped items measured something else: fail rather than print a figure.
    if (completed.run !== run.runId || completed.upserted !== items) {
      throw new Error(`expected run ${run.runId} with ${items} upserted, got ${JSON.stringify(completed)}`);
    }
    const ms = completed.time - assigned.time;
    const stats = await sim.stats();
    const first = stats.firstEditAtMs ?? assigned.time;
    const last = stats.lastEditAtMs ?? completed.time;

    // The skip path: the same export again with 1 row in SKIP_CHANGED_EVERY changed, same instance.
    const skipFrom = await sample();
    const again = await reexport();
    const skipPath = await measurePath(instance, again.runId, skipFrom, sample);
    const changed = Math.floor(items / SKIP_CHANGED_EVERY);
    if (skipPath.completed.upserted !== changed) {
      throw new Error(`re-export: expected ${changed} upserted, got ${JSON.stringify(skipPath.completed)}`);
    }
    return {
      ms,
      eventsPerSecond: (1000 * events) / ms,
      toFirstEditMs: first - assigned.time,
      editsMs: last - first,
      afterLastEditMs: completed.time - last,
      requests: stats.editRequests,
      cpuUsPerEvent: (1000 * cpuMs) / events,
      cpuMs: cpuMsBy,
      upserted: Number(completed.upserted),
      peakRss: instance.memory().hwm,
      rejoined: instance.logs.filter((l) => l.msg === 'partitions assigned').length > 1,
      paths: { upsert: upsertPath.figures(events), skip: skipPath.figures(again.messages) },
    };
  } finally {
    redis.disconnect();
  }
}

/** 1 row in this many differs in the re-export of the skip path (1%). */
const SKIP_CHANGED_EVERY = 100;

type CpuSample = { at: number; instance: number; redis: number };

/** Samples CPU at the run's "deriving deletions" and "run completed" log lines. */
async function measurePath(
  instance: InstanceChild,
  runId: string,
  from: CpuSample,
  sample: () => Promise<CpuSample>,
) {
  const deriving = await waitForRun(instance, 'deriving deletions', runId);
  const atDerive = await sample();
  const completed = await waitForRun(instance, 'run completed', runId);
  const atEnd = await sample();
  void deriving;
  return {
    completed,
    figures: (events: number): PathCpu => ({
      events,
      upserted: Number(completed.upserted),
      skipped: Number(completed.skipped),
      instanceUsPerEvent: (1000 * (atDerive.instance - from.instance)) / events,
      redisUsPerEvent: (1000 * (atDerive.redis - from.redis)) / events,
      derive: {
        instanceMs: atEnd.instance - atDerive.instance,
        redisMs: atEnd.redis - atDerive.redis,
        ms: atEnd.at - atDerive.at,
      },
      ms: completed.time - from.at,
    }),
  };
}

/** The instance's first log line `msg` about run `runId` (polled: the lines of several runs interleave). */
async function waitForRun(instance: InstanceChild, msg: string, runId: string, timeoutMs = 30 * 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = instance.logs.find((l) => l.msg === msg && l.run === runId);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`${instance.name}: no "${msg}" for run ${runId}`);
    await sleep(5);
  }
}

/** User plus system CPU of the Redis server so far, ms (INFO cpu: every client's work counts). */
async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
  return 1000 * (field('used_cpu_user') + field('used_cpu_sys'));
}

/** The service run with the median rate: the one the report's breakdowns describe. */
export function medianRun(service: ServiceRun[]): ServiceRun {
  return [...service].sort((x, y) => x.eventsPerSecond - y.eventsPerSecond)[service.length >> 1]!;
}
