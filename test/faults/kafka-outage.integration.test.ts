/**
 * §1 of issue 14: the only broker of a (private) one-broker cluster goes away mid-run and comes back.
 * The instance, a child process, must stay up, answer /readyz 503 with a reason while it cannot reach
 * Kafka, and finish the run with the exact catalog once the broker is back.
 * CI: a 15 s outage; `npm run test:faults`: the 30 s.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  ALL_FAULTS,
  type ChildInstance,
  catalogOf,
  childReady,
  expectedCatalog,
  startChild,
} from '../helpers/faults.js';
import { type KafkaCluster, startKafkaCluster } from '../helpers/kafka-cluster.js';
import { caughtUp, pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const OUTAGE_MS = ALL_FAULTS ? 30_000 : 15_000;

describe('Kafka fault: the single broker is down for a while mid-run (integration)', {
  timeout: 900_000,
}, () => {
  let cluster: KafkaCluster | undefined;
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let instance: ChildInstance | undefined;
  beforeAll(async () => {
    cluster = await startKafkaCluster(1);
    process.stderr.write(`[faults] one-broker cluster started in ${cluster.startedInMs} ms\n`);
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  afterEach(async () => {
    if (instance && !instance.exited) instance.child.kill('SIGKILL');
    await fx?.close();
    fx = undefined;
    instance = undefined;
  });

  it(`the broker stopped for ${OUTAGE_MS / 1000} s: the instance stays up, is not ready meanwhile, resumes, exact catalog`, async () => {
    const began = Date.now();
    fx = await pipelineFixture([productSync('outage', 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 3,
      kafka: { brokers: cluster!.brokers },
    });
    instance = await startChild(fx, 'child');
    await childReady(instance);

    const full = products(1, 4000);
    await fx.produce('outage', 'FULL', full);
    await eventually('the run to be under way', () => (fx!.items('products').size >= 800 ? true : undefined));

    const node = cluster!.node(1);
    await node.kill();
    const downAt = Date.now();
    // Probe readiness through the outage: every answer, with its time.
    const probes: { at: number; ready: boolean; reasons: string[] }[] = [];
    while (Date.now() - downAt < OUTAGE_MS) {
      const r = await instance.readiness();
      expect(instance.exited, instance.stderr()).toBe(false);
      if (r) probes.push({ at: Date.now(), ready: r.status === 200, reasons: r.body.reasons });
      await new Promise((done) => setTimeout(done, 500));
    }
    await node.start();
    const upAt = Date.now();
    await childReady(instance, 120_000);
    const readyAgainAt = Date.now();

    const notReady = probes.filter((p) => !p.ready);
    expect(notReady.length, JSON.stringify(probes.slice(-5))).toBeGreaterThan(0);
    const seen = JSON.stringify(
      probes.map((p) => ({ t: p.at - downAt, ready: p.ready, reasons: p.reasons })),
    );
    expect(
      notReady.some((p) => p.reasons.some((r) => /kafka brokers unreachable/i.test(r))),
      seen,
    ).toBe(true);
    // Not ready for most of the outage: from the first failed probe to the end of it.
    const firstNotReady = notReady[0]!.at - downAt;
    expect(
      probes.filter((p) => p.at > downAt + firstNotReady + 2000 && p.ready),
      seen,
    ).toEqual([]);

    // The rest of the run, and a delta written once the broker is back: exact content, in order.
    const delta = products(1, 300, { tags: ['after-outage'] });
    await fx.produce('outage', 'DELTA', delta, ['sku-4000', 'sku-3999']);
    const expected = expectedCatalog([...full.slice(300, 3998), ...delta]);
    await eventually(
      'the exact catalog',
      () => {
        expect(instance!.exited, instance!.stderr()).toBe(false);
        return Object.keys(catalogOf(fx!, 'products')).length === 3998 &&
          catalogOf(fx!, 'products')['sku-1']?.tags?.toString() === 'after-outage'
          ? true
          : undefined;
      },
      120_000,
    );
    await caughtUp(fx, 120_000);
    expect(catalogOf(fx, 'products')).toEqual(expected);
    expect(instance.exited).toBe(false);
    process.stderr.write(
      `[faults] broker outage ${OUTAGE_MS / 1000} s: first 503 after ${firstNotReady} ms, ` +
        `${notReady.length}/${probes.length} probes not ready (reasons: ${[...new Set(notReady.flatMap((p) => p.reasons))].join('; ')}), ` +
        `ready again ${readyAgainAt - upAt} ms after the broker answered; scenario ${Date.now() - began} ms\n`,
    );
  });
});
