// The compact traffic summary an SDK reports to the control plane, and the interface of what produces it.
// The golden-metrics registry implements TrafficSource; the reporter reads it off the request path and sends it;
// the control plane turns successive reports into rates and percentiles (`weft stat`, `weft top`, the dashboard).

/**
 * Latency bucket upper bounds (ms) shared by the summary, the Prometheus histograms and the control plane's
 * percentiles. A row's `latency` has one count per bound plus one for larger values.
 */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

/** Most rows one report carries; a source with more keeps the busiest and folds the rest into route '*'. */
export const MAX_TRAFFIC_ROWS = 256;

/** Cumulative traffic of one (direction, protocol, peer service, route) since the process started. */
export interface RouteTraffic {
  /** `outbound`: calls this process made; `inbound`: requests it served. */
  readonly direction: 'outbound' | 'inbound';
  readonly protocol: 'http' | 'grpc';
  /** The other side: the destination service (outbound) or the caller's service from its SPIFFE ID, else `unknown` (inbound). */
  readonly peer: string;
  /** Route name; '' when none matched. */
  readonly route: string;
  /** Logical calls (outbound) or requests (inbound) that ended. */
  readonly requests: number;
  /** Of those, the ones the route's classifier calls failures (5xx, gRPC failure codes, resets, timeouts, refusals). */
  readonly failures: number;
  /** Retry attempts sent (outbound; 0 inbound). */
  readonly retries: number;
  /** Cumulative counts per LATENCY_BUCKETS_MS bucket, then one for larger values (length = buckets + 1). */
  readonly latency: readonly number[];
}

/** What the reporter reads: cumulative rows, cheap to take, never called on the request path. */
export interface TrafficSource {
  /** The current cumulative rows (at most MAX_TRAFFIC_ROWS). */
  traffic(): readonly RouteTraffic[];
}
