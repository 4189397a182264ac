import { inspect } from 'node:util';

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
