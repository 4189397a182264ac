export { type RateLimits, SharedRateLimiter } from './limiter.js';
