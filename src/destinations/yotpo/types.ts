import type { DestinationEvent } from '../status.js';

/** The user's choice of identity: the sync's id column holds it. */
export type MatchKey = 'external_id' | 'email' | 'phone';

/** The customer field each match key fills. */
export const IDENTITY_FIELD = {
  external_id: 'external_id',
  email: 'email',
  phone: 'phone_number',
} as const satisfies Record<MatchKey, string>;

export type IdentityField = (typeof IDENTITY_FIELD)[MatchKey];

/** A Yotpo store. The store id and the token are secrets: they travel in the path and a header only. */
export interface YotpoStore {
  /** e.g. `https://api.yotpo.com/core/v3`. */
  baseUrl: string;
  storeId: string;
  token: string;
}

/**
 * What the destination did, for the status topic: the shared destination events but indexing (Yotpo has
 * none). Never carries the store id or the token.
 */
export type YotpoEvent = Exclude<DestinationEvent, { type: 'indexing_applied' }>;
