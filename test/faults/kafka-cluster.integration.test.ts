/**
 * §1 of issue 14: brokers of a private 3-broker KRaft cluster fail under a running sync. The service
 * creates its topics with 3 replicas and min.insync.replicas=2 and writes them with acks=all, so one
 * broker down loses nothing: every scenario ends with the exact catalog (content compared), every run
 * completed and its status events on the status topic.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKafka } from '../../src/kafka/client.js';
import { changelogTopicName } from '../../src/planning/changelog.js';
import type { Row } from '../../src/runtime/produce.js';
import { ALL_FAULTS, catalogOf, expectedCatalog } from '../helpers/faults.js';
import { type KafkaCluster, startKafkaCluster } from '../helpers/kafka-cluster.js';
import {
  caughtUp,
  collectDeadLetters,
  collectStatus,
  pipelineFixture,
  productSync,
  products,
} from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

type Fixture = Awaited<ReturnType<typeof pipelineFixture>>;

/** Names the step a failure came from (kafkajs's errors name only the broker). */
async function step<T>(what: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`, { cause: err });
  }
}

function topicsOf(fx: Fixture): string[] {
  const k = fx.config.kafka;
  return [k.cdcTopic, k.statusTopic, k.deadLetterTopic, changelogTopicName(k)];
}

describe('Kafka faults on a 3-broker cluster (integration)', { timeout: 600_000 }, () => {
  let cluster: KafkaCluster | undefined;
  let fx: Fixture | undefined;
  beforeAll(async () => {
    cluster = await startKafkaCluster(3);
    process.stderr.write(`[faults] 3-broker cluster started in ${cluster.startedInMs} ms\n`);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 120_000);
  afterEach(async () => {
    const topics = fx ? topicsOf(fx) : [];
    await fx?.close();
    fx = undefined;
    // The next scenario starts on a whole cluster, every replica caught up.
    for (const n of cluster?.nodes ?? []) if (!n.running) await n.start();
    if (topics.length > 0) await cluster?.inSync(['__consumer_offsets', ...topics], 300_000);
  }, 600_000);

  async function fixture(syncId: string): Promise<Fixture> {
    const f = await pipelineFixture([productSync(syncId, 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 3,
      kafka: { brokers: cluster!.brokers, replicationFactor: 3, minInsyncReplicas: 2 },
    });
    fx = f;
    return f;
  }

  it('the service creates its topics with 3 replicas and min.insync.replicas=2', async () => {
    const f = await fixture('topics');
    await f.startInstance('a');
    const admin = createKafka(f.connection).admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: topicsOf(f) });
      for (const t of meta.topics) for (const p of t.partitions) expect(p.replicas).toHaveLength(3);
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: topicsOf(f).map((name) => ({ type: 2, name, configNames: ['min.insync.replicas'] })),
      });
      for (const r of resources) expect(r.configEntries[0]?.configValue).toBe('2');
    } finally {
      await admin.disconnect();
    }
  });

  it('SIGKILL of the broker leading the dead-letter topic mid-run, a poison record in flight: exact catalog, status and dead letter kept', async () => {
    const began = Date.now();
    const f = await fixture('lead');
    await f.startInstance('a');
    await f.startInstance('b');
    const dlq = await collectDeadLetters(f);
    const status = await collectStatus(f);
    try {
      const k = f.config.kafka;
      const victim = (await cluster!.leaders(k.deadLetterTopic)).get(0)!;
      const leads = await Promise.all([k.cdcTopic, k.statusTopic].map((t) => cluster!.leaders(t)));
      const led = leads.map((m) => [...m].filter(([, l]) => l === victim).map(([p]) => p));
      const n = ALL_FAULTS ? 8000 : 3000;
      const full = products(1, n);
      const first = await f.produce('lead', 'FULL', full);
      await eventually('the run to be under way', () =>
        f.items('products').size >= n / 5 ? true : undefined,
      );
      // A record only the dead-letter topic takes, then the broker leading that topic dies at once.
      await f.producer.send({
        topic: k.cdcTopic,
        messages: [{ key: 'poison', value: Buffer.from('not avro at all') }],
      });
      await cluster!.node(victim).kill();
      const killedAt = Date.now();
      // A second run written while the broker is down: updates and deletions, in order after the first.
      const delta = products(1, 500, { tags: ['second'] });
      const gone = [`sku-${n}`, `sku-${n - 1}`, `sku-${n - 2}`];
      const second = await step('writing the second run', f.produce('lead', 'DELTA', delta, gone));

      expect((await step('first run done', f.runDone('lead', first.runId, 240_000))).state).toBe('done');
      expect((await step('second run done', f.runDone('lead', second.runId, 240_000))).state).toBe('done');
      await step('group caught up', caughtUp(f, 240_000));
      const doneAt = Date.now();
      expect(catalogOf(f, 'products')).toEqual(expectedCatalog([...delta, ...full.slice(500, n - 3)]));

      const letters = await eventually('the poison record in the dead-letter topic', () =>
        dlq.records.some((r) => r.headers['x-dlq-source-topic'] === k.cdcTopic) ? dlq.records : undefined,
      );
      expect(letters.every((r) => r.value?.toString() === 'not avro at all')).toBe(true);
      expect(letters[0]!.headers['x-dlq-code']).toBe('WRONG_MAGIC_BYTE');
      await eventually(
        'both runs completed, the dead letter and every item accepted, on the status topic',
        () => {
          const completed = new Set(
            status.events.filter((e) => e.type === 'RUN_COMPLETED').map((e) => e.runId),
          );
          const accepted = new Set(
            status.events.filter((e) => e.type === 'REQUEST_ACCEPTED').flatMap((e) => e.itemIds),
          );
          return completed.has(first.runId) &&
            completed.has(second.runId) &&
            status.events.some((e) => e.type === 'DEAD_LETTER') &&
            full.every((r) => accepted.has(String(r.sku)))
            ? true
            : undefined;
        },
        120_000,
      );
      process.stderr.write(
        `[faults] leader SIGKILL: broker ${victim} (dead-letter leader; cdc partitions ${led[0]!.join(',') || '-'}, ` +
          `status partitions ${led[1]!.join(',') || '-'}) killed mid-run; ${n} + 500 items, ` +
          `${letters.length} dead letter(s); settled ${doneAt - killedAt} ms after the kill; scenario ${Date.now() - began} ms\n`,
      );
    } finally {
      await dlq.stop();
      await status.stop();
    }
  });

  // Under npm run test:faults only (minutes); npm test rolls a cluster under plain sends instead
  // (test/kafka/producer-failover.integration.test.ts). Before the kafkajs producer patch, 2 of 46 delta
  // runs here lost ~175 acknowledged events each on the writer's side.
  it.runIf(ALL_FAULTS)(
    'a rolling restart of all three brokers during runs: exact catalog, every run completed',
    async () => {
      const began = Date.now();
      const f = await fixture('roll');
      await f.startInstance('a');
      await f.startInstance('b');
      const n = ALL_FAULTS ? 4000 : 2000;
      const full = products(1, n);
      const runs: string[] = [(await f.produce('roll', 'FULL', full)).runId];
      let rolled = false;
      let last: Row[] = [];
      // Delta runs, one after another, until the last broker is back: each rewrites the first 500 items.
      const writer = (async () => {
        for (let v = 1; !rolled; v++) {
          const rows = products(1, 500, { tags: [`v${v}`] });
          runs.push((await f.produce('roll', 'DELTA', rows)).runId);
          last = rows;
          await sleep(2000);
        }
      })();
      const restarts: number[] = [];
      try {
        for (const node of cluster!.nodes) {
          const t0 = Date.now();
          await node.stop();
          await node.start();
          await cluster!.inSync(topicsOf(f));
          restarts.push(Date.now() - t0);
        }
      } finally {
        rolled = true;
        await writer;
      }
      for (const runId of runs) expect((await f.runDone('roll', runId, 240_000)).state).toBe('done');
      await caughtUp(f, 240_000);
      expect(catalogOf(f, 'products')).toEqual(expectedCatalog([...last, ...full.slice(500)]));
      process.stderr.write(
        `[faults] rolling restart: ${runs.length} runs during it, brokers back in sync after ` +
          `${restarts.map((ms) => `${ms} ms`).join(', ')}; scenario ${Date.now() - began} ms\n`,
      );
    },
  );
});
