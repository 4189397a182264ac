import { Command, InvalidArgumentError } from 'commander';
import { describe } from '../../src/errors.js';
import { createLogger } from '../../src/logger.js';
import { startRegistry } from './server.js';

// tsx devstack/registry/main.ts --port 18081 --brokers 127.0.0.1:19092
const program = new Command('dev-schema-registry')
  .description('Development schema registry (Confluent REST subset, Avro only) stored in a Kafka topic')
  .option(
    '--port <port>',
    'port to listen on (env REGISTRY_PORT)',
    parsePort,
    parsePort(process.env.REGISTRY_PORT ?? '18081'),
  )
  .option(
    '--host <host>',
    'address to listen on (env REGISTRY_HOST)',
    process.env.REGISTRY_HOST ?? '127.0.0.1',
  )
  .option(
    '--brokers <list>',
    'Kafka bootstrap brokers, comma-separated (env KAFKA_BROKERS)',
    process.env.KAFKA_BROKERS ?? '127.0.0.1:19092',
  )
  .option(
    '--topic <name>',
    'topic holding the schemas (env REGISTRY_TOPIC)',
    process.env.REGISTRY_TOPIC ?? '_schemas',
  )
  .parse();

const opts = program.opts<{ port: number; host: string; brokers: string; topic: string }>();
const logger = createLogger({ name: 'schema-registry' });

try {
  const registry = await startRegistry({
    port: opts.port,
    host: opts.host,
    brokers: opts.brokers
      .split(',')
      .map((b) => b.trim())
      .filter(Boolean),
    topic: opts.topic,
    logger,
  });
  let stopping = false;
  const stop = (signal: string) => {
    // A second signal, or a broker that does not answer while we leave the group, must not keep us alive.
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'stopping');
    setTimeout(() => {
      logger.warn('could not close cleanly in 10 s, exiting anyway');
      process.exit(1);
    }, 10_000).unref();
    registry.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'unclean stop');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} catch (err) {
  logger.fatal({ err }, `could not start: ${describe(err)}`);
  process.exit(1);
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new InvalidArgumentError(`not a port: ${value}`);
  return port;
}
