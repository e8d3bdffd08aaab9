// Circuit breaking (Envoy cluster thresholds): the per-cluster breaker and how it is carried across configuration changes.
//
// Semantics versus Envoy: `maxRequests`, `maxPendingRequests` and `maxRetries` are counted per cluster, as in Envoy,
// by this process (Envoy counts per proxy; Weft's proxy is the process). `maxConnections` limits each endpoint's
// connection pool (undici Pool `connections`), not the cluster's total: a cluster of N endpoints may hold up to
// N × maxConnections connections. A cluster without `circuit_breakers` has no breaker at all (no counting, no cost).
import type { CircuitBreakerThresholds } from './circuit-breaker-config.js';
import { ClusterBreaker } from './cluster-breaker.js';

export { ClusterBreaker, type BreakerSnapshot } from './cluster-breaker.js';
export { DEFAULT_THRESHOLD, type CircuitBreakerThresholds, type OverflowReason } from './circuit-breaker-config.js';

/**
 * The breaker for a cluster's new configuration: `previous` with its limits updated (so calls in flight stay counted
 * across a MeshState swap and an edit applies live), a new breaker, or undefined when the cluster has no thresholds.
 */
export function clusterBreakerFor(
  cluster: { readonly name: string; readonly circuitBreaker?: CircuitBreakerThresholds | undefined },
  previous: ClusterBreaker | undefined,
): ClusterBreaker | undefined {
  const t = cluster.circuitBreaker;
  if (t === undefined) return undefined;
  if (previous === undefined) return new ClusterBreaker(cluster.name, t);
  if (previous.thresholds !== t) previous.update(t);
  return previous;
}
