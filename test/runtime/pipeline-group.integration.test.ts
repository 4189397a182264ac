import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const ids = (m: Map<string, unknown>) => [...m.keys()].sort();
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => `sku-${a + i}`).sort();

describe('CDC pipeline: a consumer group of several instances (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  const children: ChildProcess[] = [];
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
    await fx?.close();
    fx = undefined;
  });

  it('a Mirror run spread over 6 partitions and 2 instances ends with the exact catalog', async () => {
    fx = await pipelineFixture([productSync('grp', 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 6,
    });
    const a = await fx.startInstance('a');
    const b = await fx.startInstance('b');
    await eventually('both instances to share the 6 partitions', () =>
      a.assignedPartitions.length > 0 &&
      b.assignedPartitions.length > 0 &&
      a.assignedPartitions.length + b.assignedPartitions.length === 6
        ? true
        : undefined,
    );
    await fx.runDone('grp', (await fx.produce('grp', 'FULL', products(1, 1000))).runId);
    const second = await fx.runDone('grp', (await fx.produce('grp', 'FULL', products(51, 1000))).runId);
    expect(second.removed).toBe(50);
    expect(second.upserted + second.skipped).toBe(950);
    expect(ids(fx.items('products'))).toEqual(range(51, 1000));
  });

  it('SIGKILL of an instance mid-run: the rest of the group finishes with the exact catalog, nothing lost', async () => {
    fx = await pipelineFixture([productSync('kill', 'products', 'full_then_delta', 'mirror')], {
      cdcPartitions: 6,
    });
    const file = join(tmpdir(), `${fx.name}.json`);
    writeFileSync(file, JSON.stringify({ ...fx.raw, instanceId: `${fx.name}-child` }));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'src/runtime/cli.ts', 'start', '--config', file],
      {
        env: { ...fx.env, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    );
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => {
      stderr += String(d);
    });
    const survivor = await fx.startInstance('survivor');
    await eventually('the child and the survivor to share the partitions', () =>
      survivor.assignedPartitions.length > 0 && survivor.assignedPartitions.length < 6 ? true : undefined,
    );

    const full = await fx.produce('kill', 'FULL', products(1, 3000));
    await eventually('the run to be well under way', () =>
      fx!.items('products').size >= 800 ? true : undefined,
    );
    child.kill('SIGKILL');
    await eventually('the child to die', () =>
      child.exitCode !== null || child.signalCode ? true : undefined,
    );

    const info = await fx.runDone('kill', full.runId, 120_000);
    expect(info.state, stderr).toBe('done');
    expect(ids(fx.items('products'))).toEqual(range(1, 3000));
    expect(survivor.assignedPartitions).toHaveLength(6);

    const next = await fx.runDone(
      'kill',
      (await fx.produce('kill', 'FULL', products(1, 2900))).runId,
      120_000,
    );
    expect(next.removed).toBe(100);
    expect(ids(fx.items('products'))).toEqual(range(1, 2900));
  });
});
