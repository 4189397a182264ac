import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { debeziumMissing } from '../../../devstack/debezium.js';
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

  const missing = debeziumMissing();
  it.skipIf(missing !== undefined)(
    `--debezium: snapshot, streamed SQL changes, the catalog equals the table${missing ? ` (skipped: ${missing})` : ''}`,
    async () => {
      const r = await runDemo(['--debezium', '--products', '300']);
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
      expect(r.stdout).toMatch(/snapshot run snapshot-\S+: 300 upserted, 0 removed/);
      expect(r.stdout).toContain('stream: 16 row changes applied');
      expect(r.stdout).toMatch(/single UPDATE: \d+ ms to REQUEST_ACCEPTED, \d+ ms to INDEXING_APPLIED/);
      expect(r.stdout).toContain('check: catalog products equals table public.products (300 items, 300 rows');
      expect(r.stdout).not.toContain('FAILED');
    },
    240_000,
  );
});
