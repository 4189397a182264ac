/**
 * A second, private native Kafka 3.9.1 (one combined KRaft broker/controller, the dev stack's cached
 * jars) with secured listeners, for the TLS and SASL tests:
 * - SASL_SSL: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 (users created by `kafka-storage format --add-scram`)
 *   and OAUTHBEARER (Kafka's unsecured-JWS validator: tests only);
 * - SSL with `ssl.client.auth=required` (mTLS);
 * - a PLAINTEXT inter-broker listener, for the broker itself.
 * Certificates (a CA, a broker certificate with SAN IP:127.0.0.1 and DNS:localhost, a client certificate,
 * and a second, untrusted CA) are generated with openssl into a temporary directory. Stop it with stop().
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchKafkaJars, kafkaAnswers, kafkaPaths } from '../../devstack/kafka.js';
import { freePort, tail } from '../../devstack/process.js';

const ROOT = resolve(import.meta.dirname, '../..');

export interface SecureKafka {
  dir: string;
  /** SASL_SSL listener (server-authenticated TLS, then SASL). */
  saslSsl: string;
  /** SSL listener requiring a client certificate. */
  mtls: string;
  /** The inter-broker PLAINTEXT listener (never used by the tests' clients). */
  internal: string;
  /** The SCRAM and PLAIN user. */
  user: { name: string; password: string };
  files: {
    ca: string;
    clientCert: string;
    clientKey: string;
    /** A CA that signed nothing the broker presents. */
    untrustedCa: string;
  };
  log: string;
  startedInMs: number;
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

function makeCertificates(dir: string, storePassword: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name: string) =>
    openssl(dir, [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-subj',
      `/CN=catalog-sync test ${name}`,
    ]);
  ca('ca');
  ca('untrusted-ca');
  const leaf = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext);
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]);
  };
  leaf('broker', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  leaf('client', 'catalog-sync-client', 'extendedKeyUsage=clientAuth\n');
  openssl(dir, [
    'pkcs12',
    '-export',
    '-in',
    'broker.pem',
    '-inkey',
    'broker.key',
    '-certfile',
    'ca.pem',
    '-name',
    'broker',
    '-out',
    'broker.p12',
    '-passout',
    `pass:${storePassword}`,
  ]);
}

function serverProperties(
  dir: string,
  p: { internal: number; saslSsl: number; mtls: number; controller: number },
  user: { name: string; password: string },
  storePassword: string,
): string {
  const h = '127.0.0.1';
  return `process.roles=broker,controller
node.id=1
controller.quorum.voters=1@${h}:${p.controller}
listeners=INTERNAL://${h}:${p.internal},SASL_SSL://${h}:${p.saslSsl},SSL://${h}:${p.mtls},CONTROLLER://${h}:${p.controller}
advertised.listeners=INTERNAL://${h}:${p.internal},SASL_SSL://${h}:${p.saslSsl},SSL://${h}:${p.mtls}
listener.security.protocol.map=INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=INTERNAL
controller.listener.names=CONTROLLER
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_${user.name}="${user.password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
ssl.keystore.type=PKCS12
ssl.keystore.location=${join(dir, 'broker.p12')}
ssl.keystore.password=${storePassword}
ssl.key.password=${storePassword}
ssl.truststore.type=PEM
ssl.truststore.location=${join(dir, 'ca.pem')}
listener.name.ssl.ssl.client.auth=required
log.dirs=${join(dir, 'data')}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
`;
}

const LOG4J = `log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.KafkaRaftServer=INFO
`;

function portOpen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/** Starts the broker; resolves once its inter-broker listener answers a real request (≤ 90 s). */
export async function startSecureKafka(): Promise<SecureKafka> {
  const started = Date.now();
  const paths = kafkaPaths(ROOT);
  fetchKafkaJars(paths, (s) => process.stderr.write(`[secure-kafka] ${s}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'catalog-sync-secure-kafka-'));
  const storePassword = randomUUID();
  const user = { name: 'catalog-sync', password: `scram-${randomUUID()}` };
  makeCertificates(dir, storePassword);
  const ports = { internal: 0, saslSsl: 0, mtls: 0, controller: 0 };
  let from = 29_100 + Math.floor(Math.random() * 400) * 4;
  for (const k of Object.keys(ports) as (keyof typeof ports)[]) {
    ports[k] = await freePort('127.0.0.1', from);
    from = ports[k] + 1;
  }
  const props = join(dir, 'server.properties');
  writeFileSync(props, serverProperties(dir, ports, user, storePassword));
  writeFileSync(join(dir, 'log4j.properties'), LOG4J);
  const cp = `${paths.libs}/*`;
  let clusterId = randomBytes(16).toString('base64url');
  while (!/^[A-Za-z0-9]/.test(clusterId)) clusterId = randomBytes(16).toString('base64url');
  const scram = (m: string) => `${m}=[name=${user.name},password=${user.password}]`;
  const format = spawnSync(
    'java',
    [
      '-Xshare:auto',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
      '-cp',
      cp,
      'kafka.tools.StorageTool',
      'format',
      '-t',
      clusterId,
      '-c',
      props,
      '--add-scram',
      scram('SCRAM-SHA-256'),
      '--add-scram',
      scram('SCRAM-SHA-512'),
    ],
    { encoding: 'utf8', timeout: 60_000 },
  );
  if (format.status !== 0) throw new Error(`kafka-storage format failed: ${format.stdout}${format.stderr}`);

  const log = join(dir, 'kafka.log');
  const fd = openSync(log, 'a');
  const child: ChildProcess = spawn(
    'java',
    [
      '-Xms128m',
      '-Xmx512m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Djava.awt.headless=true',
      `-Dlog4j.configuration=file:${join(dir, 'log4j.properties')}`,
      '-cp',
      cp,
      'kafka.Kafka',
      props,
    ],
    { cwd: dir, stdio: ['ignore', fd, fd] },
  );
  closeSync(fd);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });

  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited && child.pid !== undefined) {
      child.kill('SIGTERM');
      const deadline = Date.now() + 10_000;
      while (!exited && Date.now() < deadline) await sleep(100);
      if (!exited) child.kill('SIGKILL');
    }
    if (process.env.KEEP_SECURE_KAFKA !== '1') rmSync(dir, { recursive: true, force: true });
  };

  const internal = `127.0.0.1:${ports.internal}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (exited) {
      const why = tail(log);
      await stop();
      throw new Error(`the secure Kafka broker exited during start-up:\n${why}`);
    }
    if ((await portOpen(ports.saslSsl)) && (await kafkaAnswers(internal))) break;
    if (Date.now() > deadline) {
      const why = tail(log);
      await stop();
      throw new Error(`the secure Kafka broker did not answer within 90 s:\n${why}`);
    }
    await sleep(250);
  }
  return {
    dir,
    saslSsl: `127.0.0.1:${ports.saslSsl}`,
    mtls: `127.0.0.1:${ports.mtls}`,
    internal,
    user,
    files: {
      ca: join(dir, 'ca.pem'),
      clientCert: join(dir, 'client.pem'),
      clientKey: join(dir, 'client.key'),
      untrustedCa: join(dir, 'untrusted-ca.pem'),
    },
    log,
    startedInMs: Date.now() - started,
    stop,
  };
}

/** An unsecured JWS (alg none), what Kafka's default OAUTHBEARER validator accepts: tests only. */
export function unsecuredJwt(subject: string, lifetimeS = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none' })}.${b64({ sub: subject, iat: now, exp: now + lifetimeS })}.`;
}
