import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import { z } from 'zod';
import { ConfigError } from './errors.js';

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
export const secretRef = z
  .union([
    z
      .object({ env: z.string().min(1).describe('name of the environment variable holding the secret') })
      .strict(),
    z
      .object({
        file: z.string().min(1).describe('path of a file holding the secret (trailing newline ignored)'),
      })
      .strict(),
  ])
  .describe('where a secret comes from: {env: NAME} or {file: PATH}; never the secret itself');

export type SecretRef = z.infer<typeof secretRef>;

/** How a configuration section reads one of its secret references: now, or at first reveal. */
export type SecretReader = (ref: SecretRef, path: string) => Secret;

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

/**
 * An OAUTHBEARER token source, asked at each authentication: a file read again (a sidecar refreshes
 * it) or a shell command run (it prints the token on stdout). Errors name the source, never the token.
 */
export function tokenSource(
  spec: { tokenFile?: string | undefined; tokenCommand?: string | undefined },
  path: string,
): () => Promise<Secret> {
  const { tokenFile, tokenCommand } = spec;
  if (tokenFile !== undefined) {
    return async () => {
      let value: string;
      try {
        value = (await readFile(tokenFile, 'utf8')).trim();
      } catch (err) {
        throw new ConfigError(
          `${path}: cannot read token file ${tokenFile}: ${(err as Error).message}`,
          path,
        );
      }
      if (!value) throw new ConfigError(`${path}: token file ${tokenFile} is empty`, path);
      return new Secret(value);
    };
  }
  if (tokenCommand === undefined) throw new ConfigError(`${path}: needs tokenFile or tokenCommand`, path);
  return () =>
    new Promise((resolve, reject) => {
      execFile('/bin/sh', ['-c', tokenCommand], { timeout: 30_000, maxBuffer: 1 << 20 }, (err, stdout) => {
        const value = String(stdout).trim();
        if (err) {
          const why = err.killed ? 'timed out after 30 s' : `exit code ${String(err.code)}`;
          reject(new ConfigError(`${path}: token command failed (${why})`, path));
        } else if (!value) reject(new ConfigError(`${path}: token command printed nothing`, path));
        else resolve(new Secret(value));
      });
    });
}
