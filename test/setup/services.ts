/**
 * Decides where the test services come from: explicit environment or an already running stack first,
 * then testcontainers where a Docker engine answers, else the native stack (`services:up`).
 */
import { kafkaAnswers } from '../../devstack/kafka.js';
import {
  configuredEndpoints,
  type Endpoints,
  recordedEndpoints,
  redisAnswers,
  registryAnswers,
  stackDown,
  stackUp,
} from '../../devstack/stack.js';
import { dockerAnswers, startContainers } from './containers.js';

export interface ProvidedServices {
  endpoints: Endpoints;
  source: 'running' | 'testcontainers' | 'native';
  stop: () => Promise<void>;
}

async function allAnswer(e: Endpoints): Promise<boolean> {
  const [k, s, r] = await Promise.all([
    kafkaAnswers(e.kafkaBrokers),
    registryAnswers(e.registryUrl),
    redisAnswers(e.redisUrl),
  ]);
  return k && s && r;
}

export async function provideServices(say: (s: string) => void): Promise<ProvidedServices> {
  const configured = configuredEndpoints();
  const recorded = recordedEndpoints();
  for (const e of [configured, ...(recorded ? [recorded] : [])]) {
    if (await allAnswer(e)) return { endpoints: e, source: 'running', stop: async () => undefined };
  }
  if (process.env.TESTCONTAINERS !== 'off' && (await dockerAnswers())) {
    say('starting the stack with testcontainers');
    const c = await startContainers();
    return { endpoints: c.endpoints, source: 'testcontainers', stop: c.stop };
  }
  const r = await stackUp({ say });
  const started = new Set(r.started);
  return {
    endpoints: r,
    source: 'native',
    // Leave alone what was already running; stop only what this run started.
    stop: async () => {
      if (started.size > 0 && process.env.KEEP_SERVICES !== '1') await stackDown();
    },
  };
}
