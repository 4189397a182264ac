import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, ITopicConfig } from './client.js';

/**
 * Creates the topics that do not exist yet (auto-creation is off on our brokers: partition counts are a
 * design decision, not a broker default). Existing topics are left as they are.
 */
export async function ensureTopics(admin: Admin, topics: ITopicConfig[]): Promise<string[]> {
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    // Another instance may have created it between list and create, or a broker that has just restarted
    // does not know the new topic yet (waitForLeaders fails on its UNKNOWN_TOPIC_OR_PARTITION): only a
    // topic still missing once the metadata has had time to spread is an error.
    for (let i = 0; ; i++) {
      const now = new Set(await admin.listTopics().catch(() => [] as string[]));
      if (missing.every((t) => now.has(t.topic))) break;
      if (i >= 20) throw err;
      await sleep(500);
    }
  }
  return missing.map((t) => t.topic);
}

/** How a topic this service creates is replicated; absent settings leave the brokers' defaults. */
export interface TopicDurability {
  replicationFactor?: number | undefined;
  minInsyncReplicas?: number | undefined;
}

/**
 * The replication part of a topic's creation request. On a cluster of three, 3 replicas and 2 in sync
 * keep every acks=all write (status, dead letters, the warehouse's CDC events) on two brokers at least
 * and keep writing through the loss of one.
 */
export function topicDurability(
  d: TopicDurability,
): Pick<ITopicConfig, 'replicationFactor' | 'configEntries'> {
  return {
    replicationFactor: d.replicationFactor ?? -1,
    ...(d.minInsyncReplicas === undefined
      ? {}
      : { configEntries: [{ name: 'min.insync.replicas', value: String(d.minInsyncReplicas) }] }),
  };
}

/** The topics one catalog-sync deployment uses, with the partition counts it creates them with. */
export function serviceTopics(
  k: {
    cdcTopic: string;
    cdcPartitions: number;
    statusTopic: string;
    deadLetterTopic: string;
  } & TopicDurability,
): ITopicConfig[] {
  const durability = topicDurability(k);
  return [
    { topic: k.cdcTopic, numPartitions: k.cdcPartitions, ...durability },
    { topic: k.statusTopic, numPartitions: 3, ...durability },
    { topic: k.deadLetterTopic, numPartitions: 1, ...durability },
  ];
}
