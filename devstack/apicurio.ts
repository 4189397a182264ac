/**
 * Apicurio Registry for the native stack: the server comes from Maven Central as one tar.gz (a Quarkus
 * fast-jar), runs on a Java 21+ found on this machine, and serves the Confluent-compatible API under
 * CCOMPAT_PATH. Its schemas live in an H2 file under .devstack/apicurio, bound to the Kafka cluster
 * whose messages carry the schema ids: a new cluster (Kafka's data wiped) means empty storage.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { StackError, spawnDetached, tail } from './process.js';

/** Must match devstack/apicurio/pom.xml. */
export const APICURIO_VERSION = '3.3.3';
export const CCOMPAT_PATH = '/apis/ccompat/v7';
export const MIN_JAVA = 21;
const JVM_DIR = '/usr/lib/jvm';

export interface ApicurioPaths {
  root: string;
  /** The unpacked server (quarkus-run.jar and its libs), shared by every run of this checkout. */
  home: string;
  /** Pid file, log and storage of the instance started here. */
  dir: string;
}

export function apicurioPaths(root: string): ApicurioPaths {
  return {
    root,
    home: join(root, '.cache/apicurio', APICURIO_VERSION),
    dir: join(root, '.devstack/apicurio'),
  };
}

/** The major version `java -version` reports: `"25.0.3"` -> 25, `"1.8.0_402"` -> 8. */
export function javaMajor(versionOutput: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?/.exec(versionOutput);
  if (!m) return undefined;
  const major = Number(m[1]);
  return major === 1 && m[2] !== undefined ? Number(m[2]) : major;
}

/** Where to look, in order: JAVA_HOME, PATH, then each JDK in Debian's JVM directory (names descending). */
export function javaCandidates(env: NodeJS.ProcessEnv = process.env, jvmDir = JVM_DIR): string[] {
  const found: string[] = [];
  if (env.JAVA_HOME) found.push(join(env.JAVA_HOME, 'bin', 'java'));
  found.push('java');
  if (existsSync(jvmDir)) {
    const dirs = readdirSync(jvmDir).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    for (const d of dirs) {
      const java = join(jvmDir, d, 'bin', 'java');
      if (existsSync(java)) found.push(java);
    }
  }
  return [...new Set(found)];
}

function probeJava(java: string): number | undefined {
  const res = spawnSync(java, ['-version'], { encoding: 'utf8', timeout: 20_000 });
  if (res.error || res.status !== 0) return undefined;
  return javaMajor(`${res.stderr ?? ''}${res.stdout ?? ''}`);
}

/** The first Java >= MIN_JAVA among the candidates; fails saying what was found and what to install. */
export function findJava(
  env: NodeJS.ProcessEnv = process.env,
  opts: { jvmDir?: string; probe?: (java: string) => number | undefined } = {},
): { java: string; major: number } {
  const probe = opts.probe ?? probeJava;
  const seen: string[] = [];
  for (const java of javaCandidates(env, opts.jvmDir)) {
    const major = probe(java);
    if (major !== undefined && major >= MIN_JAVA) return { java, major };
    if (major !== undefined) seen.push(`${java} (Java ${major})`);
  }
  throw new StackError(
    `Apicurio Registry needs Java ${MIN_JAVA} or newer; ${
      seen.length ? `found only ${seen.join(', ')}` : 'no Java was found'
    }. Install a JDK ${MIN_JAVA}+ (e.g. Temurin, under ${JVM_DIR}) or point JAVA_HOME at one.`,
  );
}

function run(cmd: string, args: string[], log: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      writeFileSync(log, Buffer.concat(out));
      resolve(code);
    });
  });
}

/** Fetches and unpacks the server from Maven Central once; the marker makes an interrupted fetch retry. */
export async function fetchApicurio(paths: ApicurioPaths, say: (s: string) => void): Promise<void> {
  const marker = join(paths.home, '.complete');
  if (existsSync(marker)) return;
  if (spawnSync('mvn', ['-v']).status !== 0) {
    throw new StackError(
      'Maven is missing: it fetches Apicurio Registry from Maven Central (apt-get install maven)',
    );
  }
  say(`fetching Apicurio Registry ${APICURIO_VERSION} from Maven Central (first run only)...`);
  rmSync(paths.home, { recursive: true, force: true });
  mkdirSync(paths.home, { recursive: true });
  const log = join(paths.root, '.cache/apicurio/fetch.log');
  const code = await run(
    'mvn',
    [
      '-B',
      '-f',
      join(paths.root, 'devstack/apicurio/pom.xml'),
      'dependency:unpack-dependencies',
      `-Dapicurio.dir=${paths.home}`,
    ],
    log,
  );
  if (code !== 0) throw new StackError('Maven could not fetch Apicurio Registry', tail(log));
  if (!existsSync(join(paths.home, 'quarkus-run.jar'))) {
    throw new StackError('Maven finished but quarkus-run.jar was not unpacked', tail(log));
  }
  writeFileSync(marker, `${new Date().toISOString()}\n`);
}

const storageFile = (paths: ApicurioPaths) => join(paths.dir, 'storage.json');
const dataDir = (paths: ApicurioPaths) => join(paths.dir, 'h2');

export interface StorageOwner {
  /** The Kafka cluster whose messages carry the stored schema ids. */
  kafkaClusterId: string;
  /** Where the instance using the storage serves the Confluent API. */
  url: string;
}

/** Who the storage was last prepared for, if anyone. */
export function storageCluster(paths: ApicurioPaths): StorageOwner | undefined {
  try {
    return JSON.parse(readFileSync(storageFile(paths), 'utf8')) as StorageOwner;
  } catch {
    return undefined;
  }
}

/**
 * Binds the storage to a Kafka cluster: storage written for another cluster (Kafka's data was wiped,
 * or KAFKA_BROKERS names another broker) is wiped, so ids restart along with the messages that carry
 * them. Returns whether anything was wiped.
 */
export function prepareStorage(paths: ApicurioPaths, owner: StorageOwner): boolean {
  const wipe = existsSync(dataDir(paths)) && storageCluster(paths)?.kafkaClusterId !== owner.kafkaClusterId;
  if (wipe) rmSync(dataDir(paths), { recursive: true, force: true });
  mkdirSync(dataDir(paths), { recursive: true });
  writeFileSync(storageFile(paths), `${JSON.stringify(owner, null, 2)}\n`);
  return wipe;
}

export function startApicurio(
  paths: ApicurioPaths,
  opts: { java: string; host: string; port: number; managementPort: number },
): { pid: number; log: string } {
  mkdirSync(paths.dir, { recursive: true });
  const log = join(paths.dir, 'apicurio.log');
  const pid = spawnDetached(
    opts.java,
    [
      // Small and quick to start: a development registry answers few, small requests.
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Xmx512m',
      `-Dquarkus.http.host=${opts.host}`,
      `-Dquarkus.http.port=${opts.port}`,
      // Without these the management interface (health, metrics) listens on 0.0.0.0:9000.
      `-Dquarkus.management.host=${opts.host}`,
      `-Dquarkus.management.port=${opts.managementPort}`,
      // Confluent's default. Without a global rule GET /config/{subject} answers NONE, and the
      // @kafkajs/confluent-schema-registry client refuses to register ("Compatibility does not match").
      '-Dapicurio.rules.global.compatibility=BACKWARD',
      `-Dapicurio.datasource.url=jdbc:h2:file:${join(dataDir(paths), 'registry')}`,
      // One line per request would bury start-up failures in the log tail services:up prints.
      '-Dquarkus.http.access-log.enabled=false',
      '-jar',
      join(paths.home, 'quarkus-run.jar'),
    ],
    { cwd: paths.dir, log, pidFile: join(paths.dir, 'apicurio.pid') },
  );
  return { pid, log };
}
