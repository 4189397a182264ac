/**
 * Sizes a client-side token bucket from the API's bucket and a bound B on how long after its grant a
 * request may reach the API. Grants conform to (burst, rate): at most burst + rate·L in any span L. If
 * each request arrives within B of its grant, the arrivals in any span T were granted within T + B, so
 * they number at most burst + rate·(T + B); the API's bucket (capacity C, refilling at R) accepts them
 * all when burst + rate·B <= C and rate <= R. So burst = C - R·B and the rate stays R, unless the API's
 * bucket is too small to leave one whole take: then the rate drops instead.
 */
import { ConfigError } from '../errors.js';

/** The parts of B: the first is enforced by the sender, the second is the allowance for the rest. */
export interface SendBound {
  /** A grant older than this when its request is about to be written is not used; tokens are taken again. */
  grantMaxAgeMs: number;
  /** Write to the API's bucket: the HTTP stack, a new connection, the network, the API's intake. */
  transitMs: number;
}

export const SEND_BOUND: SendBound = { grantMaxAgeMs: 200, transitMs: 300 };

/** B, ms. */
export function boundMs(bound: SendBound = SEND_BOUND): number {
  return bound.grantMaxAgeMs + bound.transitMs;
}

export interface ApiBucket {
  /** Tokens per second the API refills. */
  rate: number;
  /** Tokens the API's bucket holds. */
  capacity: number;
  /** Tokens of the largest single take (1 request; 200 items). */
  largestTake: number;
}

/** The burst and refill rate of a client bucket whose requests the API never refuses, given B. */
export function bucketWithin(api: ApiBucket, bound: number): { rate: number; burst: number } {
  const { rate, capacity, largestTake } = api;
  if (!(rate > 0 && capacity > 0 && largestTake > 0 && bound >= 0)) {
    throw new ConfigError('rate, capacity and largest take must be > 0, the bound >= 0', 'limits');
  }
  if (bound === 0) return { rate, burst: Math.max(largestTake, capacity) };
  const seconds = bound / 1000;
  const burst = Math.max(largestTake, Math.floor(capacity - rate * seconds));
  const linear = (capacity - burst) / seconds;
  // Burst of one take: takes are at least take/rate apart, so arrivals are at least take/rate - B apart,
  // which the API refills in time when rate <= R·take / (take + R·B).
  const spaced = burst === largestTake ? (rate * largestTake) / (largestTake + rate * seconds) : 0;
  return { rate: Math.min(rate, Math.max(linear, spaced)), burst };
}
