import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_OVERRIDES, parseConfig } from '../src/config/config.js';

const root = new URL('../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

interface Service {
  build?: string | { context: string; dockerfile?: string; target?: string };
  command?: string[];
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  container_name?: string;
  depends_on?: Record<string, unknown>;
  healthcheck?: { test: string[] };
}

const compose = parse(read('docker-compose.yml')) as { services: Record<string, Service> };
const service = compose.services['catalog-sync']!;
const env = service.environment ?? {};
/** `${NAME:-default}` as compose resolves it with NAME unset. */
const resolved = Object.fromEntries(
  Object.entries(env).map(([k, v]) => [k, String(v).replace(/\$\{\w+:-([^}]*)\}/g, '$1')]),
);
const mount = (service.volumes ?? [])
  .map((v) => v.split(':'))
  .find(([, target]) => target === '/config/catalog-sync.yaml');

/** Every `{env: NAME}` secret reference of a parsed config file. */
function secretEnvNames(node: unknown): string[] {
  if (!node || typeof node !== 'object') return [];
  const o = node as Record<string, unknown>;
  if (typeof o.env === 'string' && Object.keys(o).length === 1) return [o.env];
  return Object.values(o).flatMap(secretEnvNames);
}

describe('docker-compose.yml: the catalog-sync service', () => {
  it('builds from the multi-stage Dockerfile, which runs the built CLI as a non-root user', () => {
    const build = typeof service.build === 'string' ? { context: service.build } : service.build!;
    expect(build.context).toBe('.');
    const dockerfile = build.dockerfile ?? 'Dockerfile';
    expect(existsSync(new URL(dockerfile, root))).toBe(true);
    const text = read(dockerfile);
    expect(text).toMatch(/^FROM node:20-slim AS build$/m);
    expect(text).toMatch(/^RUN npm ci$/m);
    expect(text).toMatch(/^RUN npm run build\b/m);
    expect(text).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(text).toMatch(/^USER node$/m);
    expect(text).toContain('ENTRYPOINT ["node", "dist/src/runtime/cli.js"]');
    expect(text).toContain('CMD ["start", "--config", "/config/catalog-sync.yaml"]');
    // The build script must ship what the compiled code reads beside itself.
    expect(JSON.parse(read('package.json')).scripts.build).toContain('node scripts/copy-assets.mjs');
  });

  it('scales: no container name, no host port', () => {
    expect(service.container_name).toBeUndefined();
    expect(service.ports).toBeUndefined();
  });

  it("sets only variables the configuration reads: ENV_OVERRIDES and the mounted file's secret references", () => {
    expect(mount, 'a volume mounted at /config/catalog-sync.yaml').toBeDefined();
    const file = parse(read(mount![0]!.replace(/^\.\//, '')));
    const secrets = secretEnvNames(file);
    expect(secrets.length).toBeGreaterThan(0);
    for (const name of Object.keys(env)) {
      expect(name in ENV_OVERRIDES || secrets.includes(name), `${name} is read by catalog-sync`).toBe(true);
    }
    for (const name of secrets) expect(env, `secret ${name} is set`).toHaveProperty(name);
    for (const name of ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'REDIS_URL', 'BATCH_API_URL']) {
      expect(env).toHaveProperty(name);
    }
  });

  it('points every endpoint at a service of the stack, and the mounted file is a valid configuration', () => {
    const hostOf = (s: string) => s.replace(/^\w+:\/\//, '').split(/[:/]/)[0]!;
    for (const name of ['KAFKA_BROKERS', 'SCHEMA_REGISTRY_URL', 'REDIS_URL', 'BATCH_API_URL']) {
      expect(Object.keys(compose.services), name).toContain(hostOf(resolved[name]!));
      expect(Object.keys(service.depends_on ?? {}), name).toContain(hostOf(resolved[name]!));
    }
    const simulator = compose.services.simulator!;
    expect(simulator.build).toMatchObject({ context: '.', target: 'simulator' });
    expect(read('Dockerfile')).toMatch(/^FROM node:20-slim AS simulator$/m);
    const simPort = simulator.command![simulator.command!.indexOf('--port') + 1];
    expect(resolved.BATCH_API_URL).toBe(`http://simulator:${simPort}/2.11`);

    const config = parseConfig(parse(read(mount![0]!.replace(/^\.\//, ''))), resolved);
    expect(config.kafka.brokers).toBe('kafka:29092');
    expect(config.destinations.batch?.baseUrl).toBe(resolved.BATCH_API_URL);
    expect(config.http.port).toBe(Number(resolved.HTTP_PORT ?? 9464));
    expect(service.healthcheck?.test.join(' ')).toContain(`http://127.0.0.1:${config.http.port}/readyz`);
  });
});
