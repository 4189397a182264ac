/**
 * The status page in a real browser: Debian's Chromium driven by playwright-core loads `/` of an
 * instance during a real sync (Kafka, registry, Redis, Batch simulator), sees a run's progress move,
 * and releases a held run with its button after entering the admin token. It saves the screenshot the
 * README shows (docs/status-page.png). Skipped, saying why, where /usr/bin/chromium is missing.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/logger.js';
import { CatalogSyncService } from '../../src/runtime/service.js';
import { pipelineFixture, productSync, products } from '../helpers/pipeline.js';
import { eventually } from '../helpers/services.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'page-test-token-0b7e';
const SCREENSHOT = fileURLToPath(new URL('../../docs/status-page.png', import.meta.url));
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium)
  console.warn(`status page browser test skipped: ${CHROMIUM} not found (apt-get install -y chromium)`);

describe('status page in Chromium (integration)', () => {
  let fx: Awaited<ReturnType<typeof pipelineFixture>> | undefined;
  let browser: BrowserContext | undefined;
  let profile: string | undefined;
  const services: CatalogSyncService[] = [];
  afterEach(async () => {
    await browser?.close().catch(() => undefined);
    if (profile) rmSync(profile, { recursive: true, force: true });
    for (const s of services.splice(0)) await s.stop().catch(() => undefined);
    await fx?.close();
    fx = undefined;
  });

  it.skipIf(!hasChromium)(
    hasChromium
      ? 'shows a run progressing, its rejection and a held run; the Release button releases it'
      : `skipped: ${CHROMIUM} is not installed (apt-get install -y chromium)`,
    async () => {
      fx = await pipelineFixture([productSync('shop', 'products', 'full_then_delta', 'mirror')]);
      // A slow bucket keeps the delta run in progress long enough to watch it move.
      const config = parseConfig(
        {
          ...fx.raw,
          batch: { ...fx.raw.batch, limits: { itemsPerSecond: 100, requestsPerSecond: 5 } },
          admin: { token: { env: 'TEST_ADMIN_TOKEN' } },
        },
        { ...fx.env, TEST_ADMIN_TOKEN: TOKEN },
      );
      const svc = new CatalogSyncService(config, {}, createLogger({ level: 'warn' }));
      services.push(svc);
      const port = await svc.listen();
      await svc.start();
      const state = svc.state('shop');
      const settledState = (runId: string, states: string[]) =>
        eventually(
          `run ${runId} ${states.join(' or ')}`,
          async () => {
            const info = await state.runInfo(runId);
            return info && states.includes(info.state) ? info : undefined;
          },
          90_000,
        );

      const r1 = await fx.produce('shop', 'FULL', products(1, 60));
      await settledState(r1.runId, ['done']);
      const r2 = await fx.produce('shop', 'FULL', products(1, 10));
      expect((await settledState(r2.runId, ['held'])).held).toBe(50);
      profile = mkdtempSync(join(tmpdir(), 'cs-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        viewport: { width: 1400, height: 900 },
        args: [
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
      const page = browser.pages()[0] ?? (await browser.newPage());
      page.on('dialog', (d) => void d.accept());
      await page.goto(`http://127.0.0.1:${port}/`);
      expect(await page.title()).toBe('catalog-sync status');

      const r3 = await fx.produce('shop', 'DELTA', [
        ...products(100, 2600),
        ...products(2601, 2601, { name: 'x'.repeat(10_001) }),
      ]);

      // The run's settled count, as the page shows it, moves on its own (the page refreshes itself).
      const row = page.locator(`tr.run[data-key="shop/${r3.runId}"]`);
      const seen = new Set<number>();
      await eventually(
        'the page to show the delta run progressing',
        async () => {
          if ((await row.count()) === 0) return undefined;
          const n = Number(await row.locator('.settled').textContent({ timeout: 2000 }));
          if (n > 0) seen.add(n);
          const rate = Number(await row.locator('.rate').textContent({ timeout: 2000 }));
          return seen.size >= 2 && rate > 0 ? true : undefined;
        },
        90_000,
      );
      const progress = Number(await row.locator('progress').getAttribute('value'));
      expect(progress).toBeLessThan(100);
      // The held run, with its buttons, and the rejection with its reason.
      const held = page.locator(`tr[data-held="shop/${r2.runId}"]`);
      expect(await held.locator('td').nth(2).textContent()).toBe('50');
      await eventually('the rejection on the page', async () =>
        (await page.locator('section', { hasText: 'Recent rejections' }).textContent())?.includes(
          'ITEM_STRING_TOO_LONG',
        )
          ? true
          : undefined,
      );
      await page.screenshot({ path: SCREENSHOT, fullPage: true });

      // Without the token the button is refused; with it (typed once) the run is released.
      await held.locator('button[data-action="release"]').click();
      await eventually('the refusal', async () =>
        (await page.locator('#flash').textContent())?.includes('refused (401)') ? true : undefined,
      );
      expect((await state.runInfo(r2.runId))?.state).toBe('held');
      await page.fill('#token', TOKEN);
      await page.click('#save-token');
      await held.locator('button[data-action="release"]').click();
      const flash = await eventually(
        'the release answer',
        async () => {
          const text = await page.locator('#flash').textContent();
          return text?.startsWith('release: ') ? text : undefined;
        },
        90_000,
      );
      expect(JSON.parse(flash.slice('release: '.length))).toEqual({
        syncId: 'shop',
        runId: r2.runId,
        released: true,
        count: 50,
      });
      expect((await state.runInfo(r2.runId))?.state).toBe('done');
      await eventually('the held row to leave the page', async () =>
        (await held.count()) === 0 ? true : undefined,
      );
      await settledState(r3.runId, ['done']);
      expect(fx.items('products').has('sku-60')).toBe(false);
      expect(fx.items('products').has('sku-2600')).toBe(true);
    },
    240_000,
  );
});
