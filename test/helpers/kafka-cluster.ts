/**
 * A private native Kafka 3.9.1 cluster for the fault tests (the dev stack's cached Maven jars): `size`
 * combined KRaft broker/controller nodes on loopback ports of their own, data in a temporary directory.
 * With 3 nodes, internal topics and default topics get 3 replicas and `min.insync.replicas=2`, so the
 * cluster keeps its quorum and accepts acks=all writes with one node down. Each node can be killed
 * (SIGKILL), stopped (SIGTERM) and started again on the same data; stop() ends them all.
 * Never the shared broker: the tests break this one.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchKafkaJars, kafkaAnswers, kafkaPaths } from '../../devstack/kafka.js';
import { freePort, tail } from '../../devstack/process.js';
import { createKafka } from '../../src/kafka/client.js';

const ROOT = resolve(import.meta.dirname, '../..');
const HOST = '127.0.0.1';

export interface KafkaNode {
  id: number;
  /** host:port of its client listener. */
  address: string;
  log: string;
  readonly running: boolean;
  /** SIGKILL: no controlled shutdown, no leadership handed over. */
  kill(): Promise<void>;
  /** SIGTERM: a controlled shutdown (leaders move first), SIGKILL after 30 s. */
  stop(): Promise<void>;
  /** Starts it again on its data; resolves once it answers (≤ 300 s: a loaded machine is slow). */
  start(): Promise<void>;
}

export interface KafkaCluster {
  /** Every node's client listener, comma-separated (the clients' bootstrap list). */
  brokers: string;
  nodes: KafkaNode[];
  dir: string;
  startedInMs: number;
  node(id: number): KafkaNode;
  /** The node id leading each partition of a topic, by partition. */
  leaders(topic: string): Promise<Map<number, number>>;
  /** Resolves once every partition of the topics has all its replicas in sync again. */
  inSync(topics: string[], timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

function properties(
  dir: string,
  id: number,
  ports: { client: number; controller: number }[],
  size: number,
): string {
  const p = ports[id - 1]!;
  const voters = ports.map((q, i) => `${i + 1}@${HOST}:${q.controller}`).join(',');
  const rf = Math.min(3, size);
  const isr = size >= 3 ? 2 : 1;
  return `process.roles=broker,controller
node.id=${id}
controller.quorum.voters=${voters}
listeners=PLAINTEXT://${HOST}:${p.client},CONTROLLER://${HOST}:${p.controller}
advertised.listeners=PLAINTEXT://${HOST}:${p.client}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=${join(dir, 'data')}
num.partitions=1
auto.create.topics.enable=false
default.replication.factor=${rf}
min.insync.replicas=${isr}
offsets.topic.replication.factor=${rf}
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=${rf}
transaction.state.log.min.isr=${isr}
group.initial.rebalance.delay.ms=0
unclean.leader.election.enable=false
replica.lag.time.max.ms=10000
# A busy machine (CI, two shared cores) starts JVMs slowly: patient registration and elections.
initial.broker.registration.timeout.ms=600000
controller.quorum.fetch.timeout.ms=10000
controller.quorum.election.timeout.ms=5000
`;
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
`;

/** Runs a command to its end (≤ 300 s); rejects with its output when it fails. */
function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((done, fail) => {
    const c = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    c.stdout!.on('data', (d) => {
      out += String(d);
    });
    c.stderr!.on('data', (d) => {
      out += String(d);
    });
    const timer = setTimeout(() => c.kill('SIGKILL'), 300_000);
    c.once('error', fail);
    c.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) done();
      else fail(new Error(`${args.slice(-5).join(' ')} failed (${code ?? signal}): ${out}`));
    });
  });
}

/** Starts the cluster; resolves once every node answers a real request (≤ 300 s). */
export async function startKafkaCluster(size = 3): Promise<KafkaCluster> {
  const began = Date.now();
  const paths = kafkaPaths(ROOT);
  fetchKafkaJars(paths, (s) => process.stderr.write(`[kafka-cluster] ${s}\n`));
  const cp = `${paths.libs}/*`;
  const dir = mkdtempSync(join(tmpdir(), 'catalog-sync-kafka-cluster-'));
  writeFileSync(join(dir, 'log4j.properties'), LOG4J);
  const ports: { client: number; controller: number }[] = [];
  let from = 31_000 + Math.floor(Math.random() * 300) * 8;
  for (let i = 0; i < size; i++) {
    const client = await freePort(HOST, from);
    const controller = await freePort(HOST, client + 1);
    ports.push({ client, controller });
    from = controller + 1;
  }
  let clusterId = randomBytes(16).toString('base64url');
  while (!/^[A-Za-z0-9]/.test(clusterId)) clusterId = randomBytes(16).toString('base64url');
  const jvm = [
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-Djava.awt.headless=true',
    `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
  ];

  const nodes: (KafkaNode & { child?: ChildProcess })[] = [];
  const children = new Set<ChildProcess>();
  const killAll = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.once('exit', killAll);

  const formats: Promise<void>[] = [];
  const launches: (() => void)[] = [];
  for (let id = 1; id <= size; id++) {
    const nodeDir = join(dir, `node-${id}`);
    mkdirSync(nodeDir, { recursive: true });
    const props = join(nodeDir, 'server.properties');
    writeFileSync(props, properties(nodeDir, id, ports, size));
    formats.push(
      run('java', [...jvm, '-cp', cp, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', props]),
    );
    const log = join(nodeDir, 'kafka.log');
    const address = `${HOST}:${ports[id - 1]!.client}`;
    let child: ChildProcess | undefined;
    let exited: Promise<void> = Promise.resolve();
    const launch = () => {
      const fd = openSync(log, 'a');
      const c = spawn('java', ['-Xms128m', '-Xmx384m', ...jvm, '-cp', cp, 'kafka.Kafka', props], {
        cwd: nodeDir,
        stdio: ['ignore', fd, fd],
      });
      closeSync(fd);
      children.add(c);
      exited = new Promise((done) =>
        c.once('exit', () => {
          children.delete(c);
          if (child === c) child = undefined;
          done();
        }),
      );
      child = c;
    };
    const waitAnswers = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!(await kafkaAnswers(address))) {
        if (!child) throw new Error(`kafka node ${id} exited during start-up:\n${tail(log)}`);
        if (Date.now() > deadline)
          throw new Error(`kafka node ${id} did not answer within ${timeoutMs / 1000} s:\n${tail(log)}`);
        await sleep(250);
      }
    };
    const node = {
      id,
      address,
      log,
      get running() {
        return child !== undefined;
      },
      async kill() {
        child?.kill('SIGKILL');
        await exited;
      },
      async stop() {
        const c = child;
        if (!c) return;
        c.kill('SIGTERM');
        const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      },
      async start() {
        if (child) return;
        launch();
        await waitAnswers(300_000);
      },
    };
    nodes.push(node);
    launches.push(launch);
  }
  // The JVMs start in parallel: on a busy machine each takes tens of seconds.
  try {
    await Promise.all(formats);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  for (const launch of launches) launch();

  const brokers = nodes.map((n) => n.address).join(',');
  const stop = async () => {
    process.off('exit', killAll);
    await Promise.all(nodes.map((n) => n.kill()));
    if (process.env.KEEP_KAFKA_CLUSTER !== '1') rmSync(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 300_000;
    for (const n of nodes) {
      while (!(await kafkaAnswers(n.address))) {
        if (!n.running) throw new Error(`kafka node ${n.id} exited during start-up:\n${tail(n.log)}`);
        if (Date.now() > deadline)
          throw new Error(`kafka node ${n.id} did not answer within 300 s:\n${tail(n.log)}`);
        await sleep(250);
      }
    }
    // Every node registered with the controller: a topic of 3 replicas can be created.
    const admin = createKafka({ brokers, retries: 2 }).admin();
    await admin.connect();
    try {
      for (;;) {
        const { brokers: known } = await admin.describeCluster();
        if (known.length === size) break;
        if (Date.now() > deadline) throw new Error(`only ${known.length} of ${size} brokers registered`);
        await sleep(250);
      }
    } finally {
      await admin.disconnect();
    }
  } catch (err) {
    await stop();
    throw err;
  }

  const metadata = async (topics: string[]) => {
    const admin = createKafka({ brokers, retries: 3 }).admin();
    await admin.connect();
    try {
      return await admin.fetchTopicMetadata({ topics });
    } finally {
      await admin.disconnect();
    }
  };

  return {
    brokers,
    nodes,
    dir,
    startedInMs: Date.now() - began,
    node(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) throw new Error(`no kafka node ${id}`);
      return n;
    },
    async leaders(topic) {
      const { topics } = await metadata([topic]);
      return new Map(topics[0]!.partitions.map((p) => [p.partitionId, p.leader]));
    },
    async inSync(topics, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const meta = await metadata(topics).catch(() => undefined);
        const whole = meta?.topics.every((t) =>
          t.partitions.every((p) => p.leader >= 0 && p.isr.length === p.replicas.length),
        );
        if (whole) return;
        if (Date.now() > deadline)
          throw new Error(`${topics.join(', ')} not fully in sync within ${timeoutMs} ms`);
        await sleep(500);
      }
    },
    stop,
  };
}
