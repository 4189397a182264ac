/**
 * Configuration: a YAML or JSON file, overlaid by environment variables (env.ts), parsed once at
 * start-up by the one schema (schema.ts), its secret references resolved (secret.ts).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { DESTINATIONS } from '../destinations/registry.js';
import { ConfigError } from '../errors.js';
import { lazySecret, readSecret, Secret, type SecretRef, tokenSource } from '../secret.js';
import { applyEnv } from './env.js';
import {
  type Config,
  configSchema,
  type KafkaSection,
  type RawConfig,
  type RedisSection,
  type RegistrySection,
} from './schema.js';

export { ENV_OVERRIDES } from './env.js';
export type {
  Config,
  FieldMapping,
  KafkaSection,
  RawConfig,
  RedisSection,
  RegistrySection,
  SyncConfig,
} from './schema.js';
export { ATTRIBUTE_NAME, configSchema } from './schema.js';

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

export interface ParseOptions {
  /**
   * `eager` (default): every destination secret (Batch keys, Yotpo tokens) must resolve now. `lazy`:
   * each is read when first revealed, for commands that never call those APIs (status tail, inspect, resync...).
   */
  destinationSecrets?: 'eager' | 'lazy';
}

/** Parses an already-read object (tests, docs checks) with the environment overlaid. */
export function parseConfig(
  input: unknown,
  env: NodeJS.ProcessEnv = process.env,
  opts: ParseOptions = {},
): Config {
  const secret = (ref: SecretRef, path: string) =>
    opts.destinationSecrets === 'lazy' ? lazySecret(ref, path, env) : readSecret(ref, path, env);
  const raw = structuredClone((input ?? {}) as Record<string, unknown>);
  applyEnv(raw, env);
  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const first = result.error.issues[0];
    throw new ConfigError(formatIssues(result.error), first ? first.path.join('.') : '');
  }
  const { kafka, redis, schemaRegistry, admin, ...others } = result.data;
  const destinations: Record<string, unknown> = {};
  const rest: Record<string, unknown> = others;
  for (const plugin of DESTINATIONS) {
    const section = rest[plugin.type];
    delete rest[plugin.type];
    if (section !== undefined) destinations[plugin.type] = plugin.resolve(section, secret);
  }
  return {
    ...(rest as Omit<Config, 'kafka' | 'redis' | 'schemaRegistry' | 'destinations' | 'admin'>),
    // Lazy: only the HTTP server of `start` reads it; the other commands never need it.
    admin: {
      protectReads: admin.protectReads,
      ...(admin.token ? { token: lazySecret(admin.token, 'admin.token', env) } : {}),
    },
    kafka: resolveKafka(kafka, env),
    redis: resolveRedis(redis, env),
    schemaRegistry: resolveRegistry(schemaRegistry, env),
    // Each plugin resolved its own section, the one the schema parsed under its type.
    destinations: destinations as Config['destinations'],
  };
}

/**
 * Reads the secrets of the `kafka` section (TLS key and certificates, SASL password) into `Secret`s;
 * `tls.enabled: false` drops the TLS settings. The only resolution `produce` needs.
 */
export function resolveKafka(kafka: RawConfig['kafka'], env: NodeJS.ProcessEnv): KafkaSection {
  const { tls, sasl, ...rest } = kafka;
  const out: KafkaSection = rest;
  if (tls?.enabled) {
    const read = (name: 'ca' | 'cert' | 'key' | 'keyPassphrase') => {
      const ref = tls[name];
      return ref ? { [name]: readSecret(ref, `kafka.tls.${name}`, env) } : {};
    };
    out.tls = {
      ...read('ca'),
      ...read('cert'),
      ...read('key'),
      ...read('keyPassphrase'),
      rejectUnauthorized: tls.rejectUnauthorized,
      ...(tls.servername ? { servername: tls.servername } : {}),
    };
  }
  if (sasl) {
    if (sasl.mechanism === 'oauthbearer') {
      out.sasl = { mechanism: 'oauthbearer', token: tokenSource(sasl, 'kafka.sasl') };
    } else {
      // The schema's refinement guarantees both for these mechanisms.
      if (!sasl.username || !sasl.password) throw new ConfigError('kafka.sasl: needs username and password');
      out.sasl = {
        mechanism: sasl.mechanism,
        username: sasl.username,
        password: readSecret(sasl.password, 'kafka.sasl.password', env),
      };
    }
  }
  return out;
}

/** Reads the secrets of the `schemaRegistry` section (credentials, TLS files) into `Secret`s. */
export function resolveRegistry(
  registry: RawConfig['schemaRegistry'],
  env: NodeJS.ProcessEnv,
): RegistrySection {
  const { url, auth, tls } = registry;
  const out: RegistrySection = { url };
  if (auth?.type === 'bearer') {
    out.auth = { type: 'bearer', token: readSecret(auth.token, 'schemaRegistry.auth.token', env) };
  } else if (auth?.userInfo) {
    const info = readSecret(auth.userInfo, 'schemaRegistry.auth.userInfo', env).reveal();
    const colon = info.indexOf(':');
    if (colon < 1)
      throw new ConfigError(
        'schemaRegistry.auth.userInfo: must be user:password',
        'schemaRegistry.auth.userInfo',
      );
    out.auth = { type: 'basic', username: info.slice(0, colon), password: new Secret(info.slice(colon + 1)) };
  } else if (auth?.username && auth.password) {
    out.auth = {
      type: 'basic',
      username: auth.username,
      password: readSecret(auth.password, 'schemaRegistry.auth.password', env),
    };
  }
  if (tls) out.tls = resolveTls(tls, 'schemaRegistry.tls', env);
  return out;
}

function resolveTls(
  tls: NonNullable<RawConfig['redis']['tls']>,
  path: string,
  env: NodeJS.ProcessEnv,
): NonNullable<RedisSection['tls']> {
  const read = (name: 'ca' | 'cert' | 'key') => {
    const ref = tls[name];
    return ref ? { [name]: readSecret(ref, `${path}.${name}`, env) } : {};
  };
  return {
    ...read('ca'),
    ...read('cert'),
    ...read('key'),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.servername ? { servername: tls.servername } : {}),
  };
}

/** Reads the secrets of the `redis` section (TLS key and certificates, ACL password) into `Secret`s. */
export function resolveRedis(redis: RawConfig['redis'], env: NodeJS.ProcessEnv): RedisSection {
  const { tls, password, ...rest } = redis;
  const out: RedisSection = rest;
  if (password) out.password = readSecret(password, 'redis.password', env);
  if (tls) out.tls = resolveTls(tls, 'redis.tls', env);
  return out;
}

export function loadConfig(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  opts: ParseOptions = {},
): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let input: unknown;
  try {
    input = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  try {
    return parseConfig(input, env, opts);
  } catch (err) {
    if (err instanceof ConfigError) throw new ConfigError(`${file}:\n${err.message}`, err.path);
    throw err;
  }
}
