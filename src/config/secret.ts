import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { ConfigError } from '../errors.js';

/**
 * A secret value that never prints: JSON, string coercion and util.inspect all show `[redacted]`, so a
 * config object can be logged whole. `reveal()` is the one way out, called where a header is built.
 */
export class Secret {
  #value: string | (() => string);

  /** A function is read at the first reveal(), so a command that never uses the secret never needs it. */
  constructor(value: string | (() => string)) {
    this.#value = value;
  }

  reveal(): string {
    if (typeof this.#value === 'function') this.#value = this.#value();
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
  return new Secret(readValue(ref, path, env));
}

/**
 * A secret read only when revealed: a missing one throws the same ConfigError then, not at start-up.
 * For commands that never call the API the secret is for.
 */
export function lazySecret(ref: SecretRef, path: string, env: NodeJS.ProcessEnv): Secret {
  return new Secret(() => readValue(ref, path, env));
}

function readValue(ref: SecretRef, path: string, env: NodeJS.ProcessEnv): string {
  if ('env' in ref) {
    const value = env[ref.env];
    if (!value) throw new ConfigError(`${path}: environment variable ${ref.env} is not set`, path);
    return value;
  }
  let value: string;
  try {
    value = readFileSync(ref.file, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${path}: cannot read secret file ${ref.file}: ${(err as Error).message}`, path);
  }
  if (!value) throw new ConfigError(`${path}: cannot read secret file ${ref.file}: file is empty`, path);
  return value;
}
