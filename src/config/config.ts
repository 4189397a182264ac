/**
 * Configuration: a YAML or JSON file, overlaid by environment variables (env.ts), parsed once at
 * start-up by the one schema (schema.ts), its secret references resolved (secret.ts).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import { applyEnv } from './env.js';
import { type Config, configSchema, type RawConfig } from './schema.js';
import { lazySecret, readSecret, type Secret, type SecretRef } from './secret.js';

export { ENV_OVERRIDES } from './env.js';
export type { Config, FieldMapping, RawConfig, SyncConfig } from './schema.js';
export { ATTRIBUTE_NAME, configSchema } from './schema.js';

export function formatIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

export interface ParseOptions {
  /**
   * `eager` (default): every Batch and Yotpo secret must resolve now. `lazy`: each is read when first
   * revealed, for commands that never call those APIs (status tail, inspect, resync...).
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
  const cfg = result.data;
  const { batch, yotpo, ...rest } = cfg;
  const withYotpo: Config = yotpo ? { ...rest, yotpo: resolveYotpo(yotpo, secret) } : rest;
  if (!batch) return withYotpo;
  const projects = Object.fromEntries(
    Object.entries(batch.projects).map(([name, p]) => [
      name,
      {
        name,
        projectKey: secret(p.projectKey, `batch.projects.${name}.projectKey`),
        restApiKey: secret(p.restApiKey, `batch.projects.${name}.restApiKey`),
      },
    ]),
  );
  return { ...withYotpo, batch: { ...batch, projects } };
}

function resolveYotpo(
  yotpo: NonNullable<RawConfig['yotpo']>,
  secret: (ref: SecretRef, path: string) => Secret,
): Config['yotpo'] {
  const stores = Object.fromEntries(
    Object.entries(yotpo.stores).map(([name, s]) => [
      name,
      {
        name,
        storeId: secret(s.storeId, `yotpo.stores.${name}.storeId`),
        token: secret(s.token, `yotpo.stores.${name}.token`),
      },
    ]),
  );
  return { ...yotpo, stores };
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
