import { defineConfig } from 'vitest/config';

const integration = '**/*.integration.test.ts';
const processes = '**/*.process.test.ts';

export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Two cores: integration files share one broker; a couple at a time keeps timings sane.
    fileParallelism: true,
    maxWorkers: 2,
    reporters: ['default'],
    projects: [
      {
        extends: true,
        // No service, no child process: pure modules and fakes, in seconds.
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [integration, processes] },
      },
      {
        extends: true,
        // No service: the CLIs, the simulator and the compiler run as child processes.
        test: { name: 'process', include: [`test/${processes}`] },
      },
      {
        extends: true,
        // The real Kafka broker, schema registry and Redis, started or reused once for the run.
        test: {
          name: 'integration',
          include: [`test/${integration}`],
          globalSetup: ['test/setup/global-setup.ts'],
        },
      },
    ],
  },
});
