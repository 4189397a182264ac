/**
 * The membership changelog: a compacted Kafka topic that keeps every sync's membership beyond Redis, as
 * Kafka Streams keeps its state stores. One record per item, keyed `<sync>\0<item>`: present (value
 * `{"s": run seq, "l": lsn}`) or a tombstone (null) once it left. One head record per sync, keyed
 * `<sync>\1`, value `{"l": lsn, "r": highest run seq, "f": mirror floor}`, written before offsets are
 * committed. Every record of one sync goes to one partition (hash of the sync id), so a restore or a
 * check reads one partition. Layout and why: docs/architecture.md, "State loss".
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, ITopicConfig, Kafka, Producer } from '../kafka/client.js';
import { type TopicDurability, topicDurability } from '../kafka/topics.js';

/** A membership change as the state scripts report it. */
export interface MembershipChange {
  id: string;
  present: boolean;
}

export interface HeadValue {
  /** The sync's meta lsn (state change counter in Redis) when the head was written. */
  l: number;
  /** Highest run seq the writer has seen for the sync. */
  r: number;
  /** The mirror floor (meta floor) then. */
  f: number;
}

/** Partitions the service creates the changelog topic with. */
export const CHANGELOG_PARTITIONS = 6;

/**
 * Compacted: the latest record per item stays; tombstones go after a day (a reader mid-restore sees
 * them). Replicated as the service's other topics (kafka.replicationFactor, minInsyncReplicas).
 */
export function changelogTopicConfig(topic: string, durability: TopicDurability = {}): ITopicConfig {
  const replication = topicDurability(durability);
  return {
    topic,
    numPartitions: CHANGELOG_PARTITIONS,
    replicationFactor: replication.replicationFactor ?? -1,
    configEntries: [
      ...(replication.configEntries ?? []),
      { name: 'cleanup.policy', value: 'compact' },
      { name: 'min.cleanable.dirty.ratio', value: '0.1' },
      { name: 'segment.ms', value: String(3_600_000) },
      { name: 'delete.retention.ms', value: String(86_400_000) },
    ],
  };
}

/** The changelog topic of a deployment: configured, or `<groupId>.state-changelog`. */
export function changelogTopicName(k: { groupId: string; changelogTopic?: string | undefined }): string {
  return k.changelogTopic ?? `${k.groupId}.state-changelog`;
}

/** FNV-1a of the sync id: every record of a sync in one partition, whatever the key. */
export function partitionOf(syncId: string, partitions: number): number {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(syncId, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % partitions;
}

export function memberKey(syncId: string, itemId: string): string {
  return `${syncId}\u0000${itemId}`;
}

export function headKey(syncId: string): string {
  return `${syncId}\u0001`;
}

export type ParsedRecord =
  | { kind: 'member'; itemId: string; present: boolean; seq: number; lsn: number }
  | { kind: 'head'; head: HeadValue };

/** A record of `syncId`, or undefined for another sync's (syncs share partitions). */
export function parseRecord(
  syncId: string,
  key: Buffer | null,
  value: Buffer | null,
): ParsedRecord | undefined {
  if (!key) return undefined;
  const k = key.toString('utf8');
  if (k.length <= syncId.length || !k.startsWith(syncId)) return undefined;
  const sep = k.charCodeAt(syncId.length);
  if (sep === 1 && k.length === syncId.length + 1) {
    if (!value) return undefined;
    const h = JSON.parse(value.toString('utf8')) as Partial<HeadValue>;
    return { kind: 'head', head: { l: Number(h.l ?? 0), r: Number(h.r ?? 0), f: Number(h.f ?? 0) } };
  }
  if (sep !== 0) return undefined;
  const itemId = k.slice(syncId.length + 1);
  if (!value) return { kind: 'member', itemId, present: false, seq: 0, lsn: 0 };
  const v = JSON.parse(value.toString('utf8')) as { s?: number; l?: number };
  return { kind: 'member', itemId, present: true, seq: Number(v.s ?? 0), lsn: Number(v.l ?? 0) };
}

/** Writes membership changes and heads; resolves once the brokers acknowledged them (acks=all). */
export class ChangelogWriter {
  constructor(
    private readonly producer: Producer,
    readonly topic: string,
    private readonly partitions: number,
  ) {}

  partition(syncId: string): number {
    return partitionOf(syncId, this.partitions);
  }

  async write(syncId: string, changes: MembershipChange[], seq: number, lsn: number): Promise<void> {
    if (changes.length === 0) return;
    const value = JSON.stringify({ s: seq, l: lsn });
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: changes.map((c) => ({
        key: memberKey(syncId, c.id),
        value: c.present ? value : null,
        partition: this.partition(syncId),
      })),
    });
  }

  async head(syncId: string, head: HeadValue): Promise<void> {
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: [{ key: headKey(syncId), value: JSON.stringify(head), partition: this.partition(syncId) }],
    });
  }
}

export interface ChangelogScan {
  /** Latest present records per item (only when `collect`): item id → run seq of its join. */
  members: Map<string, number> | undefined;
  /** Records of the sync read (heads and members, tombstones included). */
  records: number;
  /** Highest lsn in a record of the sync read; highest run seq and floor (heads and joins). */
  maxLsn: number;
  maxRun: number;
  floor: number;
  /** The partition's end offset the scan read up to (exclusive). */
  end: string;
}

/**
 * Reads one sync's partition of the changelog from `from` to the end offset it has when the scan
 * starts. A consumer in a group of its own per scan (kafkajs has no manual assignment), committing
 * nothing; the other partitions are paused.
 */
export async function scanChangelog(opts: {
  kafka: Kafka;
  topic: string;
  syncId: string;
  partitions: number;
  from: string;
  collect: boolean;
  groupPrefix: string;
  timeoutMs?: number;
}): Promise<ChangelogScan> {
  const partition = partitionOf(opts.syncId, opts.partitions);
  const admin = opts.kafka.admin();
  await admin.connect();
  let low: bigint;
  let end: bigint;
  try {
    const offsets = await endOffsets(admin, opts.topic);
    const p = offsets.find((o) => o.partition === partition);
    low = BigInt(p?.low ?? '0');
    end = BigInt(p?.high ?? '0');
  } finally {
    await admin.disconnect();
  }
  const scan: ChangelogScan = {
    members: opts.collect ? new Map() : undefined,
    records: 0,
    maxLsn: 0,
    maxRun: 0,
    floor: 0,
    end: end.toString(),
  };
  let from = BigInt(opts.from || '0');
  if (from < low) from = low;
  if (from >= end) return scan;

  const consumer = opts.kafka.consumer({
    groupId: `${opts.groupPrefix}.${randomUUID()}`,
    maxWaitTimeInMs: 100,
    maxBytes: 64 * 1024 * 1024,
    maxBytesPerPartition: 32 * 1024 * 1024,
  });
  let done!: () => void;
  let fail!: (err: unknown) => void;
  const finished = new Promise<void>((resolve, reject) => {
    done = resolve;
    fail = reject;
  });
  const apply = (key: Buffer | null, value: Buffer | null) => {
    const r = parseRecord(opts.syncId, key, value);
    if (!r) return;
    scan.records++;
    if (r.kind === 'head') {
      scan.maxLsn = Math.max(scan.maxLsn, r.head.l);
      scan.maxRun = Math.max(scan.maxRun, r.head.r);
      scan.floor = Math.max(scan.floor, r.head.f);
      return;
    }
    scan.maxLsn = Math.max(scan.maxLsn, r.lsn);
    scan.maxRun = Math.max(scan.maxRun, r.seq);
    if (scan.members) {
      if (r.present) scan.members.set(r.itemId, r.seq);
      else scan.members.delete(r.itemId);
    }
  };
  await consumer.connect();
  const timer = setTimeout(
    () => fail(new Error(`reading ${opts.topic}[${partition}] up to ${end} timed out`)),
    opts.timeoutMs ?? 300_000,
  );
  try {
    await consumer.subscribe({ topics: [opts.topic], fromBeginning: true });
    const others = Array.from({ length: opts.partitions }, (_, i) => i).filter((i) => i !== partition);
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (batch.partition !== partition) return;
        for (const m of batch.messages) {
          const off = BigInt(m.offset);
          if (off < from) continue;
          if (off >= end) break;
          apply(m.key, m.value);
        }
        // Compaction may leave gaps, never the last record of a partition (the active segment).
        if (BigInt(batch.lastOffset()) >= end - 1n) done();
      },
    });
    if (others.length > 0) consumer.pause([{ topic: opts.topic, partitions: others }]);
    consumer.seek({ topic: opts.topic, partition, offset: from.toString() });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect().catch(() => undefined);
  }
  return scan;
}

/** A topic's offsets; a partition just created may not have its leader everywhere yet: retried briefly. */
async function endOffsets(admin: Admin, topic: string) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin.fetchTopicOffsets(topic);
    } catch (err) {
      if (attempt >= 20) throw err;
      await sleep(250);
    }
  }
}
