// Outlier detection (Envoy Cluster.outlier_detection): the per-cluster detector and how it is carried across changes.
//
// Why there is no separate per-endpoint failure breaker (cockatiel's ConsecutiveBreaker / SamplingBreaker): ejection
// already is one, configured in the standard xDS fields every client reads. consecutive_5xx / consecutive_gateway_failure
// / consecutive_local_origin_failure are a consecutive-failure breaker, failure_percentage a sampling breaker,
// base_ejection_time the open period, and the return at its end the half-open state (a still-broken endpoint costs at
// most `threshold` failed attempts per return, which the retry layer retries elsewhere when they never reached it, and
// its next ejection is longer). A second breaker would trip on the same outcomes with different, non-xDS settings.
import type { OutlierDetectionPolicy } from './outlier-config.js';
import { OutlierDetector, type OutlierClock } from './outlier-detector.js';

export {
  OutlierDetector,
  EndpointHealth,
  SYSTEM_OUTLIER_CLOCK,
  type Ejection,
  type EjectionReason,
  type OutlierClock,
} from './outlier-detector.js';
export { outlierPolicy, OUTLIER_TIMING_DEFAULTS, type OutlierDetectionPolicy } from './outlier-config.js';

/** Options of the detectors a dispatcher creates (tests inject a fake clock and a seeded random). */
export interface OutlierOptions {
  readonly clock?: OutlierClock;
  readonly random?: () => number;
}

/**
 * The detector for a cluster's new configuration, over the endpoint origins `origins`: `previous` updated in place (so
 * counters and ejections of endpoints that stay survive a MeshState swap; endpoints that left are forgotten), a new
 * detector, or undefined when outlier detection is off (then `previous` is closed).
 */
export function outlierDetectorFor(
  cluster: { readonly name: string; readonly outlierDetection?: OutlierDetectionPolicy | undefined },
  origins: readonly string[],
  previous: OutlierDetector | undefined,
  options: OutlierOptions = {},
): OutlierDetector | undefined {
  const policy = cluster.outlierDetection;
  if (policy === undefined) {
    previous?.close();
    return undefined;
  }
  const detector = previous ?? new OutlierDetector(cluster.name, policy, options);
  if (previous !== undefined && previous.policy !== policy) previous.update(policy);
  detector.setEndpoints(origins);
  return detector;
}
