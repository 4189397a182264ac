import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { StackError, spawnDetached, tail } from './process.js';

export interface KafkaPaths {
  root: string;
  libs: string;
  dir: string;
}

export function kafkaPaths(root: string): KafkaPaths {
  return { root, libs: join(root, '.cache/kafka/libs'), dir: join(root, '.devstack/kafka') };
}

/** Fetches the broker jars from Maven Central once; the marker makes an interrupted fetch retry. */
export function fetchKafkaJars(paths: KafkaPaths, say: (s: string) => void): void {
  const marker = join(paths.libs, '.complete');
  if (existsSync(marker)) return;
  if (spawnSync('java', ['-version']).status !== 0) {
    throw new StackError(
      'Java is missing: Kafka needs a JDK 17+ on PATH (apt-get install openjdk-17-jre-headless)',
    );
  }
  if (spawnSync('mvn', ['-v']).status !== 0) {
    throw new StackError('Maven is missing: it fetches Kafka from Maven Central (apt-get install maven)');
  }
  say('fetching Apache Kafka jars from Maven Central (first run only)...');
  mkdirSync(paths.libs, { recursive: true });
  const log = join(paths.root, '.cache/kafka/fetch.log');
  const res = spawnSync(
    'mvn',
    [
      '-B',
      '-f',
      join(paths.root, 'devstack/kafka/pom.xml'),
      'dependency:copy-dependencies',
      `-Dkafka.libs=${paths.libs}`,
    ],
    { encoding: 'utf8' },
  );
  writeFileSync(log, `${res.stdout ?? ''}${res.stderr ?? ''}`);
  if (res.status !== 0) throw new StackError('Maven could not fetch the Kafka jars', tail(log));
  if (!readdirSync(paths.libs).some((f) => f.startsWith('kafka_2.13-'))) {
    throw new StackError('Maven finished but no kafka_2.13 jar was fetched', tail(log));
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
}

function serverProperties(dir: string, host: string, port: number, controllerPort: number): string {
  return `# Written by devstack: one combined KRaft broker and controller for development and tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${host}:${controllerPort}
listeners=PLAINTEXT://${host}:${port},CONTROLLER://${host}:${controllerPort}
advertised.listeners=PLAINTEXT://${host}:${port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${join(dir, 'data')}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
`;
}

const LOG4J = `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.controller=WARN
log4j.logger.org.apache.kafka.controller=WARN
`;

export function startKafka(
  paths: KafkaPaths,
  endpoint: { host: string; port: number; controllerPort: number },
): { pid: number; log: string } {
  const { dir } = paths;
  mkdirSync(dir, { recursive: true });
  const props = join(dir, 'server.properties');
  writeFileSync(props, serverProperties(dir, endpoint.host, endpoint.port, endpoint.controllerPort));
  writeFileSync(join(dir, 'log4j.properties'), LOG4J);
  const cp = `${paths.libs}/*`;
  if (!existsSync(join(dir, 'data', 'meta.properties'))) {
    const id = execFileSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'random-uuid'], {
      encoding: 'utf8',
    }).trim();
    const res = spawnSync('java', ['-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', id, '-c', props], {
      encoding: 'utf8',
    });
    if (res.status !== 0)
      throw new StackError('formatting Kafka storage failed', `${res.stdout}${res.stderr}`);
  }
  const log = join(dir, 'kafka.log');
  const pid = spawnDetached(
    'java',
    [
      '-Xms256m',
      '-Xmx768m',
      '-XX:+UseG1GC',
      '-XX:MaxGCPauseMillis=20',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { cwd: dir, log, pidFile: join(dir, 'kafka.pid') },
  );
  return { pid, log };
}

/** A real request answered: the broker lists its topics. */
export async function kafkaAnswers(brokers: string): Promise<boolean> {
  const admin = probeKafka(brokers, 0, 1000).admin();
  try {
    await admin.connect();
    await admin.listTopics();
    return true;
  } catch {
    return false;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** The id of the cluster the brokers belong to: a new one after Kafka's data was wiped. */
export async function kafkaClusterId(brokers: string): Promise<string> {
  const admin = probeKafka(brokers, 2, 3000).admin();
  await admin.connect();
  try {
    return (await admin.describeCluster()).clusterId;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** A quiet client for probes: the dev stack talks to Kafka without the product's code. */
function probeKafka(brokers: string, retries: number, connectionTimeout: number): Kafka {
  return new Kafka({
    clientId: 'devstack',
    brokers: brokers.split(',').map((b) => b.trim()),
    connectionTimeout,
    retry: { retries },
    logLevel: logLevel.NOTHING,
  });
}
