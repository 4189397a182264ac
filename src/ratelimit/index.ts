export { type ApiBucket, boundMs, bucketWithin, SEND_BOUND, type SendBound } from './bound.js';
export { Grant, MAX_STALE_GRANTS, StaleGrantError } from './grant.js';
export { type RateLimits, SharedRateLimiter } from './limiter.js';
