// Cluster circuit-breaker thresholds as the SDK receives them (decoded from Envoy Cluster.circuit_breakers into ClusterState).
import type { CircuitBreakerThresholds } from '../../discovery/mesh-state.js';

export type { CircuitBreakerThresholds };

/** Envoy's default for each threshold when `circuit_breakers` is set but the field is not. */
export const DEFAULT_THRESHOLD = 1024;

/** Which threshold a call overflowed, named as in Envoy's proto (shown in `details.reason` and `x-mesh-error`). */
export type OverflowReason = 'max_requests' | 'max_pending_requests' | 'max_retries';
