import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError } from '../errors.js';

/**
 * A secret value that never prints: JSON, string coercion and util.inspect all show `[redacted]`, so a
 * config object can be logged whole. `reveal()` is the one way out, called where a header is built.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
  }

  toJSON(): string {
    return '[redacted]';
  }

  toString(): string {
    return '[redacted]';
  }

  [inspect.custom](): string {
    return 'Secret([redacted])';
  }
}

/** Where a secret comes from, as the configuration names it (never the secret itself). */
export type SecretRef = { env: string } | { file: string };

/** Reads a secret from the environment variable or the file its reference names. */
export function readSecret(ref: SecretRef, path: string, env: NodeJS.ProcessEnv): Secret {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new ConfigError(`${path}: environment variable ${ref.env} is not set`, path);
    return new Secret(value);
  }
  try {
    const value = readFileSync(ref.file, 'utf8').trim();
    if (!value) throw new Error('file is empty');
    return new Secret(value);
  } catch (err) {
    throw new ConfigError(`${path}: cannot read secret file ${ref.file}: ${(err as Error).message}`, path);
  }
}
