import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { serviceTopics } from '../../src/kafka/topics.js';

const names = { cdcTopic: 'c', cdcPartitions: 6, statusTopic: 's', deadLetterTopic: 'd' };
const config = (kafka: Record<string, unknown>) => ({
  kafka,
  batch: { projects: { demo: { projectKey: { env: 'PK' }, restApiKey: { env: 'RK' } } } },
  syncs: [
    {
      id: 'products',
      destination: { type: 'batch', project: 'demo', catalog: 'products' },
      mode: 'full_then_delta',
      operation: 'upsert',
      idColumn: 'sku',
      fields: [{ source: 'name', attribute: 'name', type: 'string' }],
    },
  ],
});

describe('the topics the service creates', () => {
  it("leave replication to the brokers' defaults when the config says nothing", () => {
    const topics = serviceTopics(names);
    expect(topics.map((t) => [t.topic, t.numPartitions, t.replicationFactor])).toEqual([
      ['c', 6, -1],
      ['s', 3, -1],
      ['d', 1, -1],
    ]);
    for (const t of topics) expect(t.configEntries).toBeUndefined();
  });

  it('get the configured replication factor and min.insync.replicas, every one of them', () => {
    const topics = serviceTopics({ ...names, replicationFactor: 3, minInsyncReplicas: 2 });
    for (const t of topics) {
      expect(t.replicationFactor).toBe(3);
      expect(t.configEntries).toEqual([{ name: 'min.insync.replicas', value: '2' }]);
    }
  });

  it('a min ISR above the replication factor is refused: no acks=all write could succeed', () => {
    const env = { PK: 'p', RK: 'r' };
    expect(parseConfig(config({ replicationFactor: 3, minInsyncReplicas: 2 }), env).kafka).toMatchObject({
      replicationFactor: 3,
      minInsyncReplicas: 2,
    });
    expect(() => parseConfig(config({ replicationFactor: 1, minInsyncReplicas: 2 }), env)).toThrow(
      ConfigError,
    );
    expect(() => parseConfig(config({ replicationFactor: 1, minInsyncReplicas: 2 }), env)).toThrow(
      /kafka\.minInsyncReplicas/,
    );
  });
});
