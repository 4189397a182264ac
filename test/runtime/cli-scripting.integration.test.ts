/**
 * The CLI as a script sees it (issue #15): status tail --json --until, inspect --json without
 * destination secrets, the listening line of `start`, no kafkajs partitioner warning.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { StatusEventDecoded } from '../../src/status/types.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

/** Every child started, killed after each test if still running. */
const children: ChildProcess[] = [];

function start(args: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
  children.push(child);
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => {
    out.stdout += d;
  });
  child.stderr.on('data', (d) => {
    out.stderr += d;
  });
  const exited = once(child, 'close').then(([code]) => code as number);
  return { child, out, exited };
}

async function run(args: string[], env: NodeJS.ProcessEnv) {
  const { out, exited } = start(args, env);
  const code = await exited;
  return { code, ...out };
}

function configFile(raw: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'cli-script-')), 'catalog-sync.yaml');
  writeFileSync(file, JSON.stringify(raw));
  return file;
}

/** The fixture's environment without the Batch secrets its config names. */
function withoutBatchSecrets(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { TEST_BATCH_PROJECT: _p, TEST_BATCH_KEY: _k, ...rest } = env;
  return rest;
}

/** The promise's value, or -1 after ms: a stuck child fails the test instead of its timeout. */
const within = (p: Promise<number>, ms: number) =>
  Promise.race([p, new Promise<number>((resolve) => setTimeout(() => resolve(-1), ms).unref())]);

const jsonLines = (s: string) =>
  s
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as StatusEventDecoded);

describe('the CLI in scripts (integration)', { timeout: 180_000 }, () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    child = undefined;
    await fx?.close();
    fx = undefined;
  });

  it('status tail --json --run --until run-completed exits 0 at the run completion, without Batch secrets; 3 on timeout', async () => {
    fx = await pipelineFixture([productSync('s', 'products', 'full_then_delta', 'upsert')]);
    await fx.startInstance();
    const file = configFile(fx.raw);
    const env = withoutBatchSecrets(fx.env);

    // Both wait before the run exists: the run id is chosen here, as `produce --run-id` would.
    const runSeq = Date.now();
    const runId = `full-${runSeq}`;
    const ofRun = start(
      ['status', 'tail', '--json', '--sync', 's', '--run', runId, '--until', 'run-completed', '-c', file],
      env,
    );
    const ofSync = start(
      ['status', 'tail', '--json', '--sync', 's', '--from-beginning', '--until', 'run-completed', '-c', file],
      env,
    );
    await fx.produce('s', 'FULL', products(1, 12), [], runSeq);
    const [a, b] = await Promise.all([within(ofRun.exited, 90_000), within(ofSync.exited, 90_000)]);
    expect(a, ofRun.out.stderr).toBe(0);
    expect(b, ofSync.out.stderr).toBe(0);
    const events = jsonLines(ofRun.out.stdout);
    expect(events.every((e) => e.syncId === 's' && e.runId === runId)).toBe(true);
    expect(events[0]).toMatchObject({ type: 'RUN_STARTED', runId });
    expect(events.at(-1)).toMatchObject({ type: 'RUN_COMPLETED', runId, counts: { upserted: 12 } });
    // Request events carry every item id, not the first three of the text form.
    const all = jsonLines(ofSync.out.stdout);
    expect(all.at(-1)).toMatchObject({ type: 'RUN_COMPLETED', runId });
    const accepted = all.filter((e) => e.type === 'REQUEST_ACCEPTED').flatMap((e) => e.itemIds);
    expect(new Set(accepted)).toEqual(new Set(products(1, 12).map((r) => r.sku)));

    // The same run, already completed: found from the beginning of the topic.
    const again = await run(['status', 'tail', '--run', runId, '--until', 'run-completed', '-c', file], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toMatch(new RegExp(` s RUN_COMPLETED +run=${runId} `));

    const never = await run(
      ['status', 'tail', '--run', 'no-such-run', '--until', 'run-completed', '--timeout', '3', '-c', file],
      env,
    );
    expect(never.code).toBe(3);
    expect(never.stderr).toContain('no run-completed of run no-such-run within 3 s');

    const usage = await run(['status', 'tail', '--until', 'soon', '-c', file], env);
    expect(usage.code).toBe(2);
  });

  it('a held run: --until deletions-held exits 0, --until run-completed waits; inspect --json needs no secret', async () => {
    fx = await pipelineFixture([productSync('m', 'products', 'full_then_delta', 'mirror')]);
    await fx.startInstance();
    await fx.runDone('m', (await fx.produce('m', 'FULL', products(1, 20))).runId);
    const held = await fx.produce('m', 'FULL', products(1, 5));
    expect((await fx.runDone('m', held.runId)).state).toBe('held');
    const file = configFile(fx.raw);
    const env = withoutBatchSecrets(fx.env);

    const h = await run(
      ['status', 'tail', '--json', '--run', held.runId, '--until', 'deletions-held', '-c', file],
      env,
    );
    expect(h.code, h.stderr).toBe(0);
    expect(jsonLines(h.stdout).at(-1)).toMatchObject({ type: 'DELETIONS_HELD', runId: held.runId });

    const c = await run(
      ['status', 'tail', '--run', held.runId, '--until', 'run-completed', '--timeout', '8', '-c', file],
      env,
    );
    expect(c.code).toBe(3);
    expect(c.stderr).toContain(`run ${held.runId} holds its deletions`);

    const i = await run(['inspect', 'm', '--json', '-c', file], env);
    expect(i.code, i.stderr).toBe(0);
    const inspection = JSON.parse(i.stdout);
    expect(inspection.members).toBe(20);
    expect(inspection.heldDeletions).toEqual([{ runId: held.runId, count: 15 }]);
    expect(inspection.rateLimit).toEqual({
      account: null,
      unavailable: expect.stringContaining('TEST_BATCH_PROJECT is not set'),
    });
    const text = await run(['inspect', 'm', '-c', file], env);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^rate bucket +rate bucket not shown: .*TEST_BATCH_PROJECT/m);

    // The project key names the account; the REST API key is never read.
    const keyOnly = await run(['inspect', 'm', '--json', '-c', file], {
      ...env,
      TEST_BATCH_PROJECT: fx.env.TEST_BATCH_PROJECT,
    });
    expect(keyOnly.code, keyOnly.stderr).toBe(0);
    expect(JSON.parse(keyOnly.stdout).rateLimit.account).toMatch(/^batch:[0-9a-f]{24}$/);

    // Discarding needs no Batch call either.
    const d = await run(['discard-deletions', 'm', held.runId, '-c', file], env);
    expect(d.code, d.stderr).toBe(0);
    const done = await run(
      ['status', 'tail', '--run', held.runId, '--until', 'run-completed', '--timeout', '60', '-c', file],
      env,
    );
    expect(done.code, done.stderr).toBe(0);
  });

  it('start prints the bound port on a JSON line with port 0, and no partitioner warning', async () => {
    fx = await pipelineFixture([productSync('p', 'products', 'full_then_delta', 'upsert')]);
    const file = configFile({ ...fx.raw, logLevel: 'info', http: { port: 0, host: '127.0.0.1' } });
    const env: NodeJS.ProcessEnv = { ...fx.env, LOG_PRETTY: '0' };
    delete env.HTTP_PORT;
    const svc = start(['start', '-c', file], env);
    child = svc.child;
    const line = await eventually(
      'the listening line',
      () => {
        if (child?.exitCode !== null) throw new Error(`start exited: ${svc.out.stderr}`);
        return svc.out.stdout
          .split('\n')
          .map((l) => (l.startsWith('{') ? (JSON.parse(l) as Record<string, unknown>) : {}))
          .find((l) => l.event === 'listening');
      },
      90_000,
    );
    expect(line).toEqual({ event: 'listening', port: expect.any(Number), host: '127.0.0.1' });
    const port = line.port as number;
    expect(port).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const ready = await eventually(
      '/readyz 200',
      async () => {
        const r = await fetch(`http://127.0.0.1:${port}/readyz`);
        return r.status === 200 ? ((await r.json()) as Record<string, unknown>) : undefined;
      },
      90_000,
    );
    expect(ready).toMatchObject({ ready: true, reasons: [] });
    await eventually('the consuming log line', () =>
      svc.out.stdout.includes('"msg":"consuming"') ? true : undefined,
    );
    child.kill('SIGTERM');
    expect(await svc.exited).toBe(0);
    const output = svc.out.stdout + svc.out.stderr;
    expect(output).toContain('"level"'); // logs were on, at info
    expect(output).not.toMatch(/partitioner/i);
  });
});
