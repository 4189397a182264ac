import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { expectedOffers, expectedProducts, scenario } from '../../../tools/demo/data.js';
import { endpoints } from '../../helpers/services.js';

function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { kafkaBrokers, registryUrl, redisUrl } = endpoints();
  const child = spawn(process.execPath, ['--import', 'tsx', 'tools/demo/main.ts', ...args], {
    env: {
      ...process.env,
      KAFKA_BROKERS: kafkaBrokers,
      SCHEMA_REGISTRY_URL: registryUrl,
      REDIS_URL: redisUrl,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => {
    stdout += String(d);
  });
  child.stderr.on('data', (d) => {
    stderr += String(d);
  });
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('npm run demo (integration)', () => {
  it('runs the four runs on two instances, prints the summary and passes its checks', async () => {
    const r = await runDemo(['--products', '500', '--offers', '60']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const s = scenario(500, 60);
    const products = expectedProducts(s).size;
    expect(products).toBe(500 - 3 - s.deleted.size - s.missing.size);
    expect(r.stdout).toContain(`check: products catalog has ${products} items, expected ${products}\n`);
    expect(r.stdout).toContain(`check: offers catalog has ${expectedOffers(s).size} items, expected 60\n`);
    expect(r.stdout).toContain("check: every accepted request's indexing token reached APPLIED: yes");
    expect(r.stdout).not.toContain('FAILED');
    // Per-run counts of the products sync: delta removals, then mirror deletions of the missing ≈2%.
    expect(r.stdout).toMatch(
      new RegExp(`delta-2 \\(DELTA\\)\\s+${s.changed.size}\\s+${s.deleted.size}\\s+0`),
    );
    expect(r.stdout).toMatch(
      new RegExp(`full-3 \\(FULL\\)\\s+0\\s+${s.missing.size}\\s+3\\s+${products}\\s+0`),
    );
    expect(r.stderr).toMatch(/runs completed \d\/4|stopping what the demo started/);
  }, 240_000);
});
