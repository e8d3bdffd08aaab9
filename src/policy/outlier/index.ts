// Outlier detection (Envoy Cluster.outlier_detection): the per-cluster detector and how it is carried across changes.
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
export { outlierPolicy, sameOutlierPolicy, OUTLIER_TIMING_DEFAULTS, type OutlierDetectionPolicy } from './outlier-config.js';

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
