/**
 * The Debezium chain for tests and the demo, without Docker: a throwaway PostgreSQL 15 cluster
 * (initdb/pg_ctl on its own port, logical decoding on; the machine's own Postgres is never touched) and
 * a Kafka Connect 3.9.1 standalone worker running Debezium's Postgres connector, writing Avro in the
 * Confluent framing with schemas registered in Apicurio by Apicurio's converter. The jars come from
 * Maven Central once into .cache/debezium (devstack/debezium/*.xml); every process is started and
 * stopped through its recorded pid.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, StackError, spawnDetached, stopPid, tail } from './process.js';

export const DEBEZIUM_VERSION = '3.2.7.Final';
export const PG_BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface DebeziumPaths {
  root: string;
  /** Worker classpath: connect-runtime, connect-json, slf4j-reload4j and their dependencies. */
  worker: string;
  /** plugin.path: one folder per plugin (postgres connector, apicurio converter). */
  plugins: string;
}

export function debeziumPaths(root: string): DebeziumPaths {
  const cache = join(root, '.cache/debezium', DEBEZIUM_VERSION);
  return { root, worker: join(cache, 'worker'), plugins: join(cache, 'plugins') };
}

/** Why the chain cannot run here, or undefined: tests skip with this message. */
export function debeziumMissing(): string | undefined {
  for (const bin of ['initdb', 'pg_ctl', 'psql']) {
    if (!existsSync(join(PG_BIN, bin))) {
      return `PostgreSQL binaries are missing (${join(PG_BIN, bin)}): install postgresql-15 or set PG_BIN`;
    }
  }
  return undefined;
}

const CONVERTER_CLASS = 'io.apicurio.registry.utils.converter.AvroConverter';

/** Fetches the worker and the two plugins from Maven Central once; a marker makes a partial fetch retry. */
export function fetchDebezium(paths: DebeziumPaths, say: (s: string) => void): void {
  const marker = join(paths.worker, '..', '.complete');
  if (existsSync(marker)) return;
  if (spawnSync('java', ['-version']).status !== 0)
    throw new StackError('Java 17+ is missing (Kafka Connect)');
  if (spawnSync('mvn', ['-v']).status !== 0) throw new StackError('Maven is missing: it fetches Debezium');
  say(`fetching Kafka Connect and Debezium ${DEBEZIUM_VERSION} from Maven Central (first run only)...`);
  const dir = join(paths.root, 'devstack/debezium');
  const log = join(paths.worker, '..', 'fetch.log');
  mkdirSync(paths.worker, { recursive: true });
  writeFileSync(log, '');
  const fetch = (pom: string, out: string) => {
    const res = spawnSync(
      'mvn',
      [
        '-B',
        '-s',
        join(dir, 'settings.xml'),
        '-f',
        join(dir, pom),
        'dependency:copy-dependencies',
        `-Dout.dir=${out}`,
      ],
      { encoding: 'utf8' },
    );
    writeFileSync(log, `${readFileSync(log, 'utf8')}${res.stdout ?? ''}${res.stderr ?? ''}`);
    if (res.status !== 0) throw new StackError(`Maven could not fetch ${pom}`, tail(log));
  };
  fetch('connect.xml', paths.worker);
  fetch('postgres-plugin.xml', join(paths.plugins, 'debezium-postgres'));
  const converter = join(paths.plugins, 'apicurio-converter');
  fetch('apicurio-converter.xml', converter);
  // plugin.discovery=service_load finds only plugins a ServiceLoader manifest names, and the converter
  // jar has none: a one-line manifest jar (the default discovery scans every jar, ~3.6 s per start).
  const services = join(paths.worker, '..', 'manifest', 'META-INF', 'services');
  mkdirSync(services, { recursive: true });
  writeFileSync(join(services, 'org.apache.kafka.connect.storage.Converter'), `${CONVERTER_CLASS}\n`);
  const jar = spawnSync(
    'jar',
    ['cf', join(converter, 'zz-converter-manifest.jar'), '-C', join(services, '../..'), 'META-INF'],
    {
      encoding: 'utf8',
    },
  );
  if (jar.status !== 0)
    throw new StackError('could not write the converter manifest jar', `${jar.stdout}${jar.stderr}`);
  if (
    !readdirSync(join(paths.plugins, 'debezium-postgres')).some((f) =>
      f.startsWith('debezium-connector-postgres'),
    )
  ) {
    throw new StackError('Maven finished but the Debezium connector jar is missing', tail(log));
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
}

export interface Postgres {
  port: number;
  dir: string;
  pidFile: string;
  /** Runs SQL as the superuser on database postgres; answers psql's unaligned output. */
  sql(statement: string): string;
  stop(): Promise<void>;
}

/**
 * initdb and the server refuse to run as root: as root (a CI container), they run as the `postgres`
 * user (PG_USER), which must own the cluster's folder.
 */
function asServerUser(dir: string): { cmd: (bin: string) => [string, string[]] } {
  if (process.getuid?.() !== 0) return { cmd: (bin) => [join(PG_BIN, bin), []] };
  const user = process.env.PG_USER ?? 'postgres';
  const chown = spawnSync('chown', ['-R', user, dir], { encoding: 'utf8' });
  if (chown.status !== 0)
    throw new StackError(`running as root, and cannot give ${dir} to user ${user}`, chown.stderr);
  return { cmd: (bin) => ['runuser', ['-u', user, '--', join(PG_BIN, bin)]] };
}

/** A throwaway cluster in `dir` on `port`, with logical decoding; fsync off (test data only). */
export async function startPostgres(dir: string, port: number): Promise<Postgres> {
  const data = join(dir, 'data');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const { cmd } = asServerUser(dir);
  const [initdb, initPre] = cmd('initdb');
  const init = spawnSync(
    initdb,
    [...initPre, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    {
      encoding: 'utf8',
    },
  );
  if (init.status !== 0) throw new StackError('initdb failed', `${init.stdout}${init.stderr}`);
  const log = join(dir, 'postgres.log');
  const opts = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${dir}`,
    '-c wal_level=logical',
    '-c max_wal_senders=4',
    '-c max_replication_slots=4',
    '-c fsync=off',
    '-c synchronous_commit=off',
    '-c full_page_writes=off',
    '-c shared_buffers=32MB',
  ].join(' ');
  const [pgCtl, ctlPre] = cmd('pg_ctl');
  const start = spawnSync(pgCtl, [...ctlPre, '-D', data, '-o', opts, '-l', log, '-w', 'start'], {
    encoding: 'utf8',
  });
  if (start.status !== 0) throw new StackError('pg_ctl start failed', tail(log));
  // The postmaster's pid is the first line of postmaster.pid.
  const pidFile = join(dir, 'postgres.pid');
  const pid = readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  writeFileSync(pidFile, `${pid}\n`);
  const sql = (statement: string) => {
    const res = spawnSync(
      join(PG_BIN, 'psql'),
      [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'postgres',
        '-d',
        'postgres',
        '-v',
        'ON_ERROR_STOP=1',
        '-At',
        '-c',
        statement,
      ],
      { encoding: 'utf8' },
    );
    if (res.status !== 0) throw new StackError(`psql failed: ${statement}`, `${res.stdout}${res.stderr}`);
    return res.stdout.trim();
  };
  return {
    port,
    dir,
    pidFile,
    sql,
    // SIGINT is Postgres' fast shutdown; the pid was recorded at start.
    stop: async () => {
      const p = Number(readFileSync(pidFile, 'utf8').trim());
      if (isAlive(p)) process.kill(p, 'SIGINT');
      for (let i = 0; i < 100 && isAlive(p); i++) await sleep(100);
      await stopPid(pidFile, 1000);
    },
  };
}

export interface ConnectOptions {
  dir: string;
  brokers: string;
  /** Apicurio's base URL, e.g. http://127.0.0.1:18090 (the converter uses /apis/registry/v2). */
  registryBase: string;
  restPort: number;
  pg: { port: number; database?: string };
  topicPrefix: string;
  tables: string[];
  slot: string;
  publication: string;
  /** Connect's file of source offsets: deleting it (with the slot) makes the next start snapshot again. */
  offsetsFile: string;
}

export interface Connect {
  pid: number;
  log: string;
  pidFile: string;
  stop(): Promise<void>;
}

function converterProps(prefix: string, registry: string): string {
  return [
    `${prefix}=${CONVERTER_CLASS}`,
    `${prefix}.apicurio.registry.url=${registry}/apis/registry/v2`,
    `${prefix}.apicurio.registry.auto-register=true`,
    `${prefix}.apicurio.registry.find-latest=true`,
    `${prefix}.apicurio.registry.id-handler=io.apicurio.registry.serde.Legacy4ByteIdHandler`,
    `${prefix}.apicurio.registry.use-id=contentId`,
    `${prefix}.apicurio.registry.headers.enabled=false`,
  ].join('\n');
}

/** Starts Kafka Connect standalone with the connector; resolves once the worker is up. */
export async function startConnect(paths: DebeziumPaths, o: ConnectOptions): Promise<Connect> {
  mkdirSync(o.dir, { recursive: true });
  const worker = join(o.dir, 'worker.properties');
  writeFileSync(
    worker,
    `# Written by devstack/debezium.ts
bootstrap.servers=${o.brokers}
plugin.path=${paths.plugins}
plugin.discovery=service_load
offset.storage.file.filename=${o.offsetsFile}
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:${o.restPort}
${converterProps('key.converter', o.registryBase)}
${converterProps('value.converter', o.registryBase)}
`,
  );
  const connector = join(o.dir, 'connector.properties');
  writeFileSync(
    connector,
    `name=${o.topicPrefix}
connector.class=io.debezium.connector.postgresql.PostgresConnector
tasks.max=1
plugin.name=pgoutput
database.hostname=127.0.0.1
database.port=${o.pg.port}
database.user=postgres
database.password=postgres
database.dbname=${o.pg.database ?? 'postgres'}
topic.prefix=${o.topicPrefix}
table.include.list=${o.tables.join(',')}
slot.name=${o.slot}
publication.name=${o.publication}
publication.autocreate.mode=filtered
snapshot.mode=initial
poll.interval.ms=50
decimal.handling.mode=string
topic.creation.default.replication.factor=1
topic.creation.default.partitions=3
`,
  );
  writeFileSync(
    join(o.dir, 'log4j.properties'),
    `log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.org.reflections=ERROR
`,
  );
  const log = join(o.dir, 'connect.log');
  const pidFile = join(o.dir, 'connect.pid');
  const pid = spawnDetached(
    'java',
    [
      '-Xms128m',
      '-Xmx384m',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      `-Dlog4j.configuration=file:${join(o.dir, 'log4j.properties')}`,
      '-cp',
      `${paths.worker}/*`,
      'org.apache.kafka.connect.cli.ConnectStandalone',
      worker,
      connector,
    ],
    { cwd: o.dir, log, pidFile },
  );
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (!isAlive(pid)) throw new StackError('Kafka Connect exited', tail(log, 60));
    if (
      existsSync(log) &&
      /Kafka Connect started|Finished creating connector/.test(readFileSync(log, 'utf8'))
    )
      break;
    if (Date.now() > deadline) throw new StackError('Kafka Connect did not start in 90 s', tail(log, 60));
    await sleep(200);
  }
  return { pid, log, pidFile, stop: async () => void (await stopPid(pidFile, 20_000)) };
}
