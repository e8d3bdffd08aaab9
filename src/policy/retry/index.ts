// Retries: per-route policy compilation, the per-cluster budget and the backoff / Retry-After rules.
export * from './retry-budget.js';
export * from './retry-config.js';
export * from './body.js';
