// Route concurrency limits (fixed or adaptive): the limiter the HTTP and gRPC clients share per route rule.
export { ConcurrencyLimiter, type ConcurrencyLimitPolicy, type ConcurrencyLimitSnapshot } from './concurrency-limiter.js';
