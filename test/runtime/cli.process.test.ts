import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../../src/runtime/cli.ts', import.meta.url));

function cli(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Two at a time: the machine has two cores, shared with other test files. */
async function inTwos<T>(tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (let i = 0; i < tasks.length; i += 2) {
    results.push(...(await Promise.all(tasks.slice(i, i + 2).map((t) => t()))));
  }
  return results;
}

const COMMANDS = [
  'start',
  'validate-config',
  'produce',
  'status',
  'inspect',
  'release-deletions',
  'discard-deletions',
  'resync',
];

// Each case spawns tsx: a few seconds apiece on a busy two-core machine.
describe('catalog-sync CLI: help and wrong arguments', { timeout: 180_000 }, () => {
  it('--help lists every subcommand and exits 0', async () => {
    const r = await cli(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c} `, 'm'));
  });

  it('each subcommand explains itself with --help, delegated ones included', async () => {
    const cases: [string[], RegExp][] = [
      [['start', '--help'], /Usage: catalog-sync start .*--config <file>/s],
      [['validate-config', '--help'], /Usage: catalog-sync validate-config/],
      [['produce', '--help'], /Usage: produce .*--sync <id>.*Exit codes/s],
      [['status', 'tail', '--help'], /Usage: catalog-sync status tail .*--sync <id>.*--from-beginning/s],
      [['inspect', '--help'], /Usage: catalog-sync inspect \[options\] <sync>.*--json/s],
      [['release-deletions', '--help'], /Usage: catalog-sync release-deletions/],
      [['discard-deletions', '--help'], /Usage: catalog-sync discard-deletions/],
      [['resync', '--help'], /Usage: catalog-sync resync/],
    ];
    const results = await inTwos(
      cases.map(
        ([args]) =>
          () =>
            cli(args),
      ),
    );
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(0);
      expect(r.stdout).toMatch(cases[i]![1]);
    });
  });

  it('wrong arguments exit 2 with a reason on stderr', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /unknown command 'bogus'/],
      [['start'], /required option '-c, --config <file>'/],
      [['inspect', 'products'], /required option '-c, --config <file>'/],
      [['inspect', '-c', 'x.yaml'], /missing required argument 'sync'/],
      [['status', 'tail', '-c', 'x.yaml', '--since', 'now'], /unknown option '--since'/],
      [['produce', '--sync', 'x', '--file', 'f.csv'], /required option '--run <kind>'/],
      [['validate-config'], /missing required argument 'file'/],
    ];
    const results = await inTwos(
      cases.map(
        ([args]) =>
          () =>
            cli(args),
      ),
    );
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stderr).toMatch(cases[i]![1]);
    });
  });

  it('validate-config: 0 and a summary for a valid file, 1 and the problems for an invalid one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cli-'));
    const sync = {
      id: 'products',
      destination: { type: 'batch', project: 'demo', catalog: 'products' },
      mode: 'full_then_delta',
      operation: 'mirror',
      idColumn: 'sku',
    };
    const projects = { demo: { projectKey: { env: 'CLI_PK' }, restApiKey: { env: 'CLI_RK' } } };
    writeFileSync(join(dir, 'ok.yaml'), JSON.stringify({ batch: { projects }, syncs: [sync] }));
    writeFileSync(
      join(dir, 'bad.yaml'),
      JSON.stringify({ batch: { projects }, syncs: [{ ...sync, operation: 'delete_only' }] }),
    );
    const env = { ...process.env, CLI_PK: 'pk', CLI_RK: 'rk' };
    const ok = await cli(['validate-config', join(dir, 'ok.yaml')], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('valid, 1 sync(s): products (full_then_delta/mirror)');
    const bad = await cli(['validate-config', join(dir, 'bad.yaml')], env);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/syncs\.0\.operation: delete_only is not available in full_then_delta/);
  });
});
