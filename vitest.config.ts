import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration files share one broker; a couple at a time keeps timings sane.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
