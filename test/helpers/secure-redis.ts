/**
 * A private redis-server (Debian's 7.0, built with OpenSSL) for the Redis TLS and ACL tests: a TLS port
 * only (no plaintext port), a certificate for 127.0.0.1/localhost signed by a test CA (openssl, into a
 * temporary directory), the default user disabled, and one ACL user with catalog-sync's rule
 * (src/redis/acl.ts) for one key prefix. A second CA, which signed nothing, is there for the refusals.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, tail } from '../../devstack/process.js';
import { aclRule } from '../../src/redis/acl.js';
import { createRedis } from '../../src/redis/connection.js';

export interface SecureRedis {
  dir: string;
  /** rediss://127.0.0.1:<tls port> (no credentials in it) */
  url: string;
  user: { name: string; password: string };
  keyPrefix: string;
  files: { ca: string; untrustedCa: string };
  /** With `clientAuth`: a client certificate the server trusts, and one signed by the untrusted CA. */
  client?: { cert: string; key: string; untrustedCert: string; untrustedKey: string };
  stop(): Promise<void>;
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A client certificate (CN catalog-sync) signed by `ca` (ca.pem/ca.key, or untrusted-ca.*): <name>.pem/.key. */
export function makeClientCertificate(dir: string, name: string, ca = 'ca'): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', '/CN=catalog-sync']);
  writeFileSync(join(dir, `${name}.ext`), 'extendedKeyUsage=clientAuth\n');
  openssl(
    dir,
    ['x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`].concat([
      '-CAcreateserial',
      '-out',
      `${name}.pem`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    ]),
  );
}

/** A test CA, a second CA that signed nothing, and a server certificate for 127.0.0.1 and localhost. */
export function makeCertificates(dir: string) {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const name of ['ca', 'untrusted-ca']) {
    openssl(
      dir,
      ['req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2'].concat([
        '-subj',
        `/CN=catalog-sync test ${name}`,
      ]),
    );
  }
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(dir, ['req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=localhost']);
  openssl(
    dir,
    ['x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key'].concat([
      '-CAcreateserial',
      '-out',
      'server.pem',
      '-days',
      '2',
      '-extfile',
      'server.ext',
    ]),
  );
}

/** `clientAuth`: the server requires a client certificate signed by its CA (`tls-auth-clients yes`). */
export async function startSecureRedis(
  keyPrefix: string,
  opts: { clientAuth?: boolean } = {},
): Promise<SecureRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-secure-redis-'));
  makeCertificates(dir);
  const client = opts.clientAuth
    ? {
        cert: join(dir, 'client.pem'),
        key: join(dir, 'client.key'),
        untrustedCert: join(dir, 'stranger.pem'),
        untrustedKey: join(dir, 'stranger.key'),
      }
    : undefined;
  if (client) {
    makeClientCertificate(dir, 'client');
    makeClientCertificate(dir, 'stranger', 'untrusted-ca');
  }
  const user = { name: 'catalog-sync', password: `pw-${randomUUID()}` };
  const port = await freePort('127.0.0.1', 29_000 + Math.floor(Math.random() * 500) * 2);
  const log = join(dir, 'redis.log');
  const fd = openSync(log, 'a');
  // ACL users go in a config file: on the command line, a `user` line is split at its spaces.
  const conf = join(dir, 'redis.conf');
  writeFileSync(
    conf,
    [
      'port 0',
      `tls-port ${port}`,
      'bind 127.0.0.1',
      `tls-cert-file ${join(dir, 'server.pem')}`,
      `tls-key-file ${join(dir, 'server.key')}`,
      `tls-ca-cert-file ${join(dir, 'ca.pem')}`,
      `tls-auth-clients ${client ? 'yes' : 'no'}`,
      'save ""',
      'appendonly no',
      `dir ${dir}`,
      'user default off',
      `user ${aclRule(user.name, user.password, keyPrefix)}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('redis-server', [conf], { cwd: dir, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    process.off('exit', killOnExit);
    if (!exited) {
      child.kill('SIGTERM');
      const deadline = Date.now() + 5000;
      while (!exited && Date.now() < deadline) await sleep(50);
      if (!exited) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `rediss://127.0.0.1:${port}`;
  const files = { ca: join(dir, 'ca.pem'), untrustedCa: join(dir, 'untrusted-ca.pem') };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const probe = createRedis(
      url,
      {
        username: user.name,
        password: { reveal: () => user.password },
        tls: {
          ca: { reveal: () => readFileSync(files.ca, 'utf8') },
          ...(client
            ? {
                cert: { reveal: () => readFileSync(client.cert, 'utf8') },
                key: { reveal: () => readFileSync(client.key, 'utf8') },
              }
            : {}),
        },
      },
      { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 },
    );
    probe.on('error', () => undefined);
    const ok = await probe
      .connect()
      .then(() => probe.time())
      .then(
        () => true,
        () => false,
      );
    probe.disconnect();
    if (ok) break;
    if (exited || Date.now() > deadline) {
      const why = tail(log);
      await stop();
      throw new Error(`redis-server with TLS did not start: ${why}`);
    }
    await sleep(100);
  }
  return { dir, url, user, keyPrefix, files, ...(client ? { client } : {}), stop };
}
