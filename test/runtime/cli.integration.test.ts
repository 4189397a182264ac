import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { StatusPublisher } from '../../src/status/publisher.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { createTopic, eventually } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => {
    out.stdout += d;
  });
  child.stderr.on('data', (d) => {
    out.stderr += d;
  });
  return { child, out };
}

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const { child, out } = start(args, env);
  const [code] = await once(child, 'close');
  return { code: code as number, ...out };
}

function configFile(raw: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cli-it-')), 'catalog-sync.yaml');
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

describe('catalog-sync CLI against the real stack (integration)', { timeout: 180_000 }, () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child?.exitCode === null) child.kill('SIGKILL');
    child = undefined;
    await fx?.close();
    fx = undefined;
  });

  it('status tail --sync --from-beginning prints one line per event of that sync, and exits 0 on SIGTERM', async () => {
    fx = await pipelineFixture([productSync('a', 'products', 'full_then_delta', 'mirror')]);
    await createTopic(fx.config.kafka.statusTopic, 3);
    const publisher = await StatusPublisher.create({
      producer: fx.producer,
      registry: fx.registry,
      topic: fx.config.kafka.statusTopic,
      instanceId: 'writer-1',
    });
    publisher.emit({ syncId: 'a', runId: 'r1', type: 'RUN_STARTED', destination: 'batch:products' });
    publisher.emit({ syncId: 'b', runId: 'r9', type: 'RUN_STARTED', destination: 'batch:other' });
    publisher.emit({
      syncId: 'a',
      runId: 'r1',
      type: 'ITEM_REJECTED',
      destination: 'batch:products',
      itemIds: ['sku-1'],
      errorCode: 'ITEM_INVALID',
      message: 'price: not a float',
    });
    await publisher.flush();

    const tail = start(
      ['status', 'tail', '--sync', 'a', '--from-beginning', '-c', configFile(fx.raw)],
      fx.env,
    );
    child = tail.child;
    // A child process that loads tsx and joins a consumer group: slow on a loaded machine.
    const lines = await eventually(
      'two lines of sync a',
      () => {
        const l = tail.out.stdout.split('\n').filter(Boolean);
        if (child?.exitCode !== null) throw new Error(`status tail exited: ${tail.out.stderr}`);
        return l.length >= 2 ? l : undefined;
      },
      90_000,
    );
    expect(lines[0]).toMatch(/ a RUN_STARTED +run=r1 dest=batch:products \(writer-1\)$/);
    expect(lines[1]).toMatch(
      / a ITEM_REJECTED +run=r1 dest=batch:products error=ITEM_INVALID items=1\[sku-1\] "price: not a float" \(writer-1\)$/,
    );
    expect(tail.out.stdout).not.toContain('r9');

    child.kill('SIGTERM');
    const [code] = await once(child, 'close');
    expect(code).toBe(0);
    expect(tail.out.stdout.split('\n').filter(Boolean)).toHaveLength(2);
    await publisher.close();
  });

  it('inspect shows members, a held run with its counts, held deletions and the rate bucket', async () => {
    fx = await pipelineFixture([productSync('m', 'products', 'full_then_delta', 'mirror')]);
    await fx.startInstance();
    await fx.runDone('m', (await fx.produce('m', 'FULL', products(1, 20))).runId);
    const held = await fx.produce('m', 'FULL', products(1, 5));
    expect((await fx.runDone('m', held.runId)).state).toBe('held');

    const file = configFile(fx.raw);
    const json = await run(['inspect', 'm', '-c', file, '--json'], fx.env);
    expect(json.code, json.stderr).toBe(0);
    const i = JSON.parse(json.stdout);
    expect(i.members).toBe(20);
    expect(i.destination).toBe('batch:products');
    expect(i.runs).toEqual([
      expect.objectContaining({ runId: held.runId, state: 'held', expected: 5, settled: 5, held: 15 }),
    ]);
    expect(i.heldDeletions).toEqual([{ runId: held.runId, count: 15 }]);
    expect(i.rateLimit.account).toMatch(/^batch:[0-9a-f]{24}$/);
    expect(i.rateLimit.requestCapacity).toBe(2);
    expect(i.rateLimit.requests).toBeGreaterThanOrEqual(0);
    expect(i.rateLimit.requests).toBeLessThanOrEqual(2);
    expect(i.rateLimit.pauseMs).toBe(0);

    const text = await run(['inspect', 'm', '-c', file], fx.env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^members +20$/m);
    expect(text.stdout).toMatch(new RegExp(`^held +15 deletion\\(s\\) ${held.runId}=15$`, 'm'));
    expect(text.stdout).not.toContain(fx.env.TEST_BATCH_KEY!);

    const unknown = await run(['inspect', 'nope', '-c', file], fx.env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('no sync "nope"');
  });
});
