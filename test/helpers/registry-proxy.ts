/**
 * A test-only HTTPS front for the shared schema registry (Apicurio's own auth needs an OIDC server):
 * it answers 401 to a request without the expected Authorization header and forwards the rest, as
 * they are, to the real registry. Certificates come from makeCertificates (a private test CA).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCertificates } from './secure-redis.js';

export interface RegistryProxy {
  /** https://127.0.0.1:<port> followed by the upstream URL's path (e.g. /apis/ccompat/v7). */
  url: string;
  files: { ca: string; untrustedCa: string };
  /** Requests answered: forwarded (authorized) and refused (401). */
  counts: { forwarded: number; refused: number };
  close(): Promise<void>;
}

/** `accept`: the Authorization header values let through (e.g. `Basic <b64>`, `Bearer <token>`). */
export async function startRegistryProxy(upstream: string, accept: string[]): Promise<RegistryProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'cs-registry-proxy-'));
  makeCertificates(dir);
  const target = new URL(upstream);
  const counts = { forwarded: 0, refused: 0 };
  const server = createServer(
    { cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server.key')) },
    (req, res) => {
      if (!accept.includes(req.headers.authorization ?? '')) {
        counts.refused++;
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="test"' });
        res.end(JSON.stringify({ error_code: 401, message: 'Unauthorized' }));
        return;
      }
      counts.forwarded++;
      const headers = { ...req.headers, host: target.host };
      delete headers.authorization;
      const out = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      req.pipe(out);
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}${target.pathname.replace(/\/$/, '')}`,
    files: { ca: join(dir, 'ca.pem'), untrustedCa: join(dir, 'untrusted-ca.pem') },
    counts,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          resolve();
        });
      }),
  };
}
