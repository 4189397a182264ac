import { afterAll, describe, expect, it } from 'vitest';
import { createKafka, groupGeneration } from '../../src/kafka/client.js';
import { createTopic, endpoints, eventually, unique } from '../helpers/services.js';

const stops: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
});

/** Joins the group with a client of its own; answers the member id and generation of each join. */
async function member(groupId: string, topic: string) {
  const kafka = createKafka({ brokers: endpoints().kafkaBrokers, clientId: unique('gen') });
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  const joins: { memberId: string; generation: number | undefined }[] = [];
  consumer.on(consumer.events.GROUP_JOIN, (e) => {
    joins.push({
      memberId: e.payload.memberId,
      generation: groupGeneration(kafka, groupId, e.payload.memberId),
    });
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ eachBatch: async () => undefined });
  stops.push(() => consumer.disconnect());
  return joins;
}

describe('groupGeneration (kafkajs does not put it in GROUP_JOIN)', () => {
  it('knows the generation of every join, and it grows when a member joins', async () => {
    const topic = unique('gen-topic');
    const groupId = unique('gen-group');
    await createTopic(topic, 2);
    const first = await member(groupId, topic);
    await eventually('the first join', () => first[0]);
    expect(first[0]!.generation).toBeTypeOf('number');
    const second = await member(groupId, topic);
    const joined = await eventually('the second member’s join', () => second[0]);
    await eventually('the first member’s re-join', () => (first.length >= 2 ? true : undefined));
    expect(joined.generation).toBeGreaterThan(first[0]!.generation!);
    expect(first.at(-1)!.generation).toBe(joined.generation);
  }, 60_000);
});
