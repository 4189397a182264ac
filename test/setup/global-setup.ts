import type { TestProject } from 'vitest/node';
import { provideServices } from './services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string;
    registryUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const services = await provideServices((s) => process.stderr.write(`[services] ${s}\n`));
  const { kafkaBrokers, registryUrl, redisUrl } = services.endpoints;
  process.stderr.write(
    `[services] ${services.source}: kafka ${kafkaBrokers}, registry ${registryUrl}, redis ${redisUrl}\n`,
  );
  // Child processes that tests spawn read the environment, in-process tests use inject().
  process.env.KAFKA_BROKERS = kafkaBrokers;
  process.env.SCHEMA_REGISTRY_URL = registryUrl;
  process.env.REDIS_URL = redisUrl;
  project.provide('kafkaBrokers', kafkaBrokers);
  project.provide('registryUrl', registryUrl);
  project.provide('redisUrl', redisUrl);
  return async () => services.stop();
}
