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
    // Another instance may have created it between list and create: only a still-missing topic is an error.
    const now = new Set(await admin.listTopics());
    if (missing.some((t) => !now.has(t.topic))) throw err;
  }
  return missing.map((t) => t.topic);
}

/** The topics one catalog-sync deployment uses, with the partition counts it creates them with. */
export function serviceTopics(k: {
  cdcTopic: string;
  cdcPartitions: number;
  statusTopic: string;
  deadLetterTopic: string;
}): ITopicConfig[] {
  return [
    { topic: k.cdcTopic, numPartitions: k.cdcPartitions, replicationFactor: -1 },
    { topic: k.statusTopic, numPartitions: 3, replicationFactor: -1 },
    { topic: k.deadLetterTopic, numPartitions: 1, replicationFactor: -1 },
  ];
}
