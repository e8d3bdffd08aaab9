// Unit tests of the cluster circuit breaker: thresholds fail fast, name the threshold, and recover when load drops.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ERROR_CODES, isMeshError } from '../../core/errors.js';
import { clusterBreakerFor, ClusterBreaker, DEFAULT_THRESHOLD } from './index.js';

const limits = (over: Partial<Record<'maxConnections' | 'maxPendingRequests' | 'maxRequests' | 'maxRetries', number>> = {}) => ({
  maxConnections: DEFAULT_THRESHOLD,
  maxPendingRequests: DEFAULT_THRESHOLD,
  maxRequests: DEFAULT_THRESHOLD,
  maxRetries: DEFAULT_THRESHOLD,
  ...over,
});

describe('ClusterBreaker', () => {
  it('admits up to max_requests in flight, refuses the next, and admits again when one ends', () => {
    const b = new ClusterBreaker('payments:8080', limits({ maxRequests: 2 }));
    assert.equal(b.admit(), undefined);
    b.started();
    assert.equal(b.admit(), undefined);
    b.started();
    assert.equal(b.admit(), 'max_requests');
    assert.equal(b.snapshot().activeRequests, 2);
    assert.equal(b.snapshot().overflows.max_requests, 1);
    b.ended(undefined, true, true);
    assert.equal(b.admit(), undefined);
    assert.equal(b.snapshot().activeRequests, 2);
  });

  it('refuses past max_pending_requests while calls wait for a connection; a call that gets one frees its slot', () => {
    const b = new ClusterBreaker('c', limits({ maxPendingRequests: 1 }));
    assert.equal(b.admit(), undefined); // pending: waiting for a connection
    assert.equal(b.admit(), 'max_pending_requests');
    b.started(); // got its connection
    assert.equal(b.admit(), undefined);
    b.ended('connect-failure', false, false); // failed before a connection: frees both counts
    const s = b.snapshot();
    assert.equal(s.pendingRequests, 0);
    assert.equal(s.activeRequests, 1);
  });

  it('hands out max_retries retry slots and takes them back', () => {
    const b = new ClusterBreaker('c', limits({ maxRetries: 1 }));
    assert.equal(b.tryAcquireRetry(), true);
    assert.equal(b.tryAcquireRetry(), false);
    assert.equal(b.snapshot().overflows.max_retries, 1);
    b.releaseRetry();
    assert.equal(b.tryAcquireRetry(), true);
  });

  it('applies a lowered limit live while keeping calls in flight counted', () => {
    const b = new ClusterBreaker('c', limits({ maxRequests: 10 }));
    for (let i = 0; i < 3; i++) assert.equal(b.admit(), undefined);
    const next = clusterBreakerFor({ name: 'c', circuitBreaker: limits({ maxRequests: 3 }) }, b);
    assert.equal(next, b, 'the same breaker carries over');
    assert.equal(b.admit(), 'max_requests');
    b.ended(undefined, false, false);
    assert.equal(b.admit(), undefined);
  });

  it('is absent when the cluster has no thresholds', () => {
    assert.equal(clusterBreakerFor({ name: 'c' }, undefined), undefined);
    assert.ok(clusterBreakerFor({ name: 'c', circuitBreaker: limits() }, undefined) instanceof ClusterBreaker);
  });

  it('builds a WEFT_ERR_OVERLOADED error that names the threshold and its limit', () => {
    const b = new ClusterBreaker('payments:8080', limits({ maxRequests: 2 }));
    const e = b.overflowError('max_requests', 'payments', 'HTTPRoute/p/rules/0/matches/0');
    assert.ok(isMeshError(e, ERROR_CODES.OVERLOADED));
    assert.equal(e.details['reason'], 'max_requests');
    assert.equal(e.details['limit'], 2);
    assert.equal(e.details['status'], 503);
    assert.equal(e.flags.rejected, true);
    assert.match(e.message, /max_requests/);
  });
});
