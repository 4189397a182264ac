/**
 * A test host in its own network namespace, joined to this one by a veth pair on a /30 the helper
 * picks (10.251.x.y), with `tc` filters that drop (not refuse) packets to or from one port: how the
 * fault tests cut an instance off Kafka, Redis or Batch. Only the namespace, the pair and the addresses
 * made here are touched. Needs root, `ip` and `tc`: `netnsUnavailable()` says why not otherwise.
 * Also starts what such a host needs on the host-side address: a private Kafka broker, a private
 * redis-server, a TCP relay to the shared schema registry, and a recording relay to the simulator.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest, createServer as httpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fetchKafkaJars, kafkaAnswers, kafkaPaths, startKafka } from '../../devstack/kafka.js';
import { freePort, stopPid, tail } from '../../devstack/process.js';

const ROOT = resolve(import.meta.dirname, '../..');

function run(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Why namespace tests cannot run here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'network namespaces need Linux';
  if (process.getuid?.() !== 0) return 'network namespace tests need root (ip netns add)';
  for (const tool of ['ip', 'tc', 'redis-server', 'java']) {
    try {
      run('sh', ['-c', `command -v ${tool}`]);
    } catch {
      return `network namespace tests need \`${tool}\` on the PATH`;
    }
  }
  const probe = `csprobe-${randomBytes(3).toString('hex')}`;
  try {
    run('ip', ['netns', 'add', probe]);
    run('ip', ['netns', 'del', probe]);
  } catch (err) {
    return `cannot create a network namespace here: ${String(err).split('\n')[0]}`;
  }
  return undefined;
}

export interface NetHost {
  ns: string;
  /** This side's address on the pair: where the host's services listen for the namespace. */
  hostIp: string;
  nsIp: string;
  /** argv prefix that runs a command inside the namespace. */
  exec: string[];
  /** Drops packets from the namespace to hostIp:port ('out'), or from hostIp:port to it ('back'):
   *  they go to a blackhole qdisc, so the sender sees no answer at all (no reset, no ICMP). */
  cut(port: number, direction?: 'out' | 'back'): void;
  heal(port: number, direction?: 'out' | 'back'): void;
  close(): void;
}

export function createNetHost(): NetHost {
  const id = randomBytes(3).toString('hex');
  const ns = `cs-${id}`;
  const [hostDev, nsDev] = [`csh${id}`, `csn${id}`];
  const used = run('ip', ['-4', '-o', 'addr']);
  let base = '';
  for (let i = 0; i < 50 && (!base || used.includes(`${base}.`)); i++)
    base = `10.251.${Math.floor(Math.random() * 256)}.${Math.floor(Math.random() * 63) * 4}`;
  const [a, b, c, d] = base.split('.').map(Number);
  const hostIp = `${a}.${b}.${c}.${d! + 1}`;
  const nsIp = `${a}.${b}.${c}.${d! + 2}`;
  const inNs = ['ip', 'netns', 'exec', ns];
  const nsRun = (args: string[]) => run(inNs[0]!, [...inNs.slice(1), ...args]);
  run('ip', ['netns', 'add', ns]);
  try {
    run('ip', ['link', 'add', hostDev, 'type', 'veth', 'peer', 'name', nsDev]);
    run('ip', ['link', 'set', nsDev, 'netns', ns]);
    run('ip', ['addr', 'add', `${hostIp}/30`, 'dev', hostDev]);
    run('ip', ['link', 'set', hostDev, 'up']);
    nsRun(['ip', 'link', 'set', 'lo', 'up']);
    nsRun(['ip', 'addr', 'add', `${nsIp}/30`, 'dev', nsDev]);
    nsRun(['ip', 'link', 'set', nsDev, 'up']);
    // On each end: htb passing everything (class 1:10) but what a filter sends to 1:20, a blackhole.
    // (No iptables here, and tc's drop action needs a module this kernel may not load.)
    for (const [dev, tc] of [
      [nsDev, (args: string[]) => nsRun(['tc', ...args])],
      [hostDev, (args: string[]) => run('tc', args)],
    ] as const) {
      tc(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'htb', 'default', '10', 'r2q', '1000']);
      tc(['class', 'add', 'dev', dev, 'parent', '1:', 'classid', '1:10', 'htb', 'rate', '10gbit']);
      tc([
        'class',
        'add',
        'dev',
        dev,
        'parent',
        '1:',
        'classid',
        '1:20',
        'htb',
        'rate',
        '8bit',
        'ceil',
        '8bit',
      ]);
      tc(['qdisc', 'add', 'dev', dev, 'parent', '1:20', 'handle', '20:', 'blackhole']);
    }
  } catch (err) {
    run('ip', ['netns', 'del', ns]);
    try {
      run('ip', ['link', 'del', hostDev]);
    } catch {}
    throw err;
  }
  const filters = new Map<string, number>();
  let nextPrio = 10;
  const filterArgs = (port: number, direction: 'out' | 'back') =>
    direction === 'out'
      ? {
          dev: nsDev,
          inside: true,
          match: ['match', 'ip', 'dst', `${hostIp}/32`, 'match', 'ip', 'dport', String(port), '0xffff'],
        }
      : {
          dev: hostDev,
          inside: false,
          match: ['match', 'ip', 'src', `${hostIp}/32`, 'match', 'ip', 'sport', String(port), '0xffff'],
        };
  return {
    ns,
    hostIp,
    nsIp,
    exec: inNs,
    cut(port, direction = 'out') {
      const key = `${direction}:${port}`;
      if (filters.has(key)) return;
      const prio = nextPrio++;
      const f = filterArgs(port, direction);
      const args = [
        'filter',
        'add',
        'dev',
        f.dev,
        'parent',
        '1:',
        'protocol',
        'ip',
        'prio',
        String(prio),
        'u32',
        ...f.match,
        'flowid',
        '1:20',
      ];
      if (f.inside) nsRun(['tc', ...args]);
      else run('tc', args);
      filters.set(key, prio);
    },
    heal(port, direction = 'out') {
      const key = `${direction}:${port}`;
      const prio = filters.get(key);
      if (prio === undefined) return;
      const f = filterArgs(port, direction);
      const args = ['filter', 'del', 'dev', f.dev, 'parent', '1:', 'protocol', 'ip', 'prio', String(prio)];
      if (f.inside) nsRun(['tc', ...args]);
      else run('tc', args);
      filters.delete(key);
    },
    close() {
      try {
        run('ip', ['link', 'del', hostDev]);
      } catch {}
      try {
        run('ip', ['netns', 'del', ns]);
      } catch {}
    },
  };
}

/** A private single KRaft broker listening (and advertised) on `host`. */
export async function startPrivateKafka(host: string) {
  const shared = kafkaPaths(ROOT);
  fetchKafkaJars(shared, (s) => process.stderr.write(`[netns-kafka] ${s}\n`));
  const dir = mkdtempSync(join(tmpdir(), 'catalog-sync-netns-kafka-'));
  const port = await freePort(host, 30_000 + Math.floor(Math.random() * 2000) * 2);
  const controllerPort = await freePort(host, port + 1);
  const { log } = startKafka({ ...shared, dir }, { host, port, controllerPort });
  const brokers = `${host}:${port}`;
  const stop = async () => {
    await stopPid(join(dir, 'kafka.pid'), 10_000);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 90_000;
  while (!(await kafkaAnswers(brokers))) {
    if (Date.now() > deadline) {
      const why = tail(log);
      await stop();
      throw new Error(`the private Kafka broker did not answer within 90 s:\n${why}`);
    }
    await sleep(500);
  }
  return { brokers, port, stop };
}

/** A private redis-server on `host`, nothing on disk. */
export async function startPrivateRedis(host: string) {
  const port = await freePort(host, 31_000 + Math.floor(Math.random() * 2000));
  const child: ChildProcess = spawn(
    'redis-server',
    ['--bind', host, '--port', String(port), '--save', '', '--appendonly', 'no', '--protected-mode', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-2000);
  });
  child.stderr?.on('data', (d: Buffer) => {
    out = (out + d.toString()).slice(-2000);
  });
  const deadline = Date.now() + 10_000;
  while (!(await portOpen(host, port))) {
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the private redis-server did not start:\n${out}`);
    }
    await sleep(100);
  }
  return {
    url: `redis://${host}:${port}`,
    port,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

function portOpen(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = tcpConnect(port, host, () => {
      s.destroy();
      done(true);
    });
    s.once('error', () => done(false));
  });
}

/** Relays TCP connections from host:<port> to an upstream (the shared registry on loopback). */
export async function tcpRelay(host: string, upstream: { host: string; port: number }) {
  const sockets = new Set<import('node:net').Socket>();
  const server: Server = createServer((client) => {
    const up = tcpConnect(upstream.port, upstream.host);
    sockets.add(client).add(up);
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

export interface LoggedRequest {
  /** When the request's body had arrived (ms). */
  at: number;
  from: string;
  path: string;
  /** Item ids of an items/edit request. */
  ids: string[];
}

/** An HTTP relay to the simulator that records every request: when, from which address, which items. */
export async function recordingRelay(host: string, upstream: string) {
  const log: LoggedRequest[] = [];
  const target = new URL(upstream);
  const server = httpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let ids: string[] = [];
      if (req.url?.includes('/catalogs/items/edit')) {
        try {
          const parsed = JSON.parse(body.toString('utf8')) as { items?: { id?: string }[] };
          ids = (parsed.items ?? []).map((i) => String(i.id));
        } catch {}
      }
      log.push({ at: Date.now(), from: String(req.socket.remoteAddress), path: req.url ?? '', ids });
      const up = httpRequest(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        },
      );
      up.on('error', () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      });
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    log,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
