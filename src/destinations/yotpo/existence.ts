import { createHash } from 'node:crypto';
import type { Redis } from '../../redis/connection.js';
import type { Keys } from '../../redis/keys.js';
import type { IdentityField } from './types.js';

export interface ExistenceOptions {
  /** How long a contact found in Yotpo is trusted to exist. @default 7 days */
  positiveTtlMs: number;
  /** How long "not found" stands: short, since the contact may be created in Yotpo meanwhile. @default 60 s */
  negativeTtlMs: number;
}

export const DEFAULT_EXISTENCE: ExistenceOptions = {
  positiveTtlMs: 7 * 24 * 3600_000,
  negativeTtlMs: 60_000,
};

/**
 * Which contacts exist in a store, cached in Redis and shared by every instance. Keys hold a hash of the
 * identity, never the email or phone number itself.
 */
export class ContactCache {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly account: string,
    private readonly field: IdentityField,
    private readonly opts: ExistenceOptions = DEFAULT_EXISTENCE,
  ) {}

  /** Per identity: true, false, or undefined when nothing is cached. */
  async get(identities: string[]): Promise<(boolean | undefined)[]> {
    if (identities.length === 0) return [];
    const answers = await this.redis.mget(identities.map((i) => this.key(i)));
    return answers.map((a) => (a === null ? undefined : a === '1'));
  }

  async set(entries: { identity: string; exists: boolean }[]): Promise<void> {
    if (entries.length === 0) return;
    const tx = this.redis.pipeline();
    for (const { identity, exists } of entries) {
      tx.set(
        this.key(identity),
        exists ? '1' : '0',
        'PX',
        exists ? this.opts.positiveTtlMs : this.opts.negativeTtlMs,
      );
    }
    await tx.exec();
  }

  private key(identity: string): string {
    const digest = createHash('sha256').update(`${this.field}\0${identity}`).digest('base64url').slice(0, 22);
    return this.keys.yotpoContact(this.account, digest);
  }
}
