// Outlier detection settings as the SDK receives them (decoded from Envoy Cluster.outlier_detection into ClusterState).
import type { OutlierDetectionPolicy } from '../../discovery/mesh-state.js';

export type { OutlierDetectionPolicy };

/** Envoy's defaults (OutlierDetection proto) for the timing fields; the decoder fills them, tests reuse them. */
export const OUTLIER_TIMING_DEFAULTS = Object.freeze({ intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionTimeMs: 300_000, maxEjectionPercent: 10 });

/** A policy with Envoy's defaults (consecutive 5xx = 5, enforced; everything else off), overridden by `over`. */
export function outlierPolicy(over: Partial<OutlierDetectionPolicy> = {}): OutlierDetectionPolicy {
  return Object.freeze({
    ...OUTLIER_TIMING_DEFAULTS,
    consecutive5xx: { threshold: 5, enforcingPercent: 100 },
    consecutiveGatewayFailure: undefined,
    consecutiveLocalOriginFailure: undefined,
    splitExternalLocalOriginErrors: false,
    successRate: undefined,
    failurePercentage: undefined,
    ...over,
  });
}
