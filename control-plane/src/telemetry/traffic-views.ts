// What the control plane's traffic view answers (`/v1/stats`, `weft stat`, the dashboard), and the report it is built from.
import type { RouteTraffic } from '../../../src/telemetry/traffic-summary.js';

/** One report as the Telemetry service decoded and checked it. */
export interface TrafficReport {
  readonly nodeId: string;
  readonly service: string;
  /** `ip:port` it serves on, or ''. */
  readonly instance: string;
  /** When its counters started (ms since the epoch): a change means they restarted from 0. */
  readonly startedAtMs: number;
  /** Its workload certificate's notAfter (ms since the epoch), 0 without one. */
  readonly certificateExpiresAtMs: number;
  readonly sdkVersion: string;
  /** The caller's authenticated SPIFFE ID, '' for an anonymous loopback caller. */
  readonly identity: string;
  readonly traffic: readonly RouteTraffic[];
}

/** Traffic over a window: counts, rates and latency percentiles (undefined where there were no requests). */
export interface TrafficStats {
  /** Requests (inbound) or logical calls (outbound) that ended in the window. */
  readonly requests: number;
  /** Of those, the ones the route's classifier called failures. */
  readonly failures: number;
  /** Retry attempts sent (outbound only). */
  readonly retries: number;
  /** Requests per second, summed over instances (each over the part of the window it reported). */
  readonly rps: number;
  /** Share of requests that did not fail, 0..1; undefined without requests. */
  readonly successRate: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p95Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** One service's numbers: its own (inbound) view, what it calls (outbound), and how many instances report. */
export interface ServiceStats extends TrafficStats {
  readonly service: string;
  /** Instances of the service reporting now. */
  readonly meshed: number;
  /** All the calls it made, to every destination. */
  readonly outbound: TrafficStats;
}

/** One route: `inbound` as the service's own instances saw it, `outbound` as its callers did (routes are matched there). */
export interface RouteStats extends TrafficStats {
  readonly service: string;
  /** Route name; '' when none matched. */
  readonly route: string;
  readonly direction: 'inbound' | 'outbound';
}

/** Calls from one service to another, as the caller saw them. */
export interface EdgeStats extends TrafficStats {
  readonly source: string;
  readonly destination: string;
}

/** What stats() answers. */
export interface MeshStats {
  /** The window's length (ms) and end (ms since the epoch). */
  readonly windowMs: number;
  readonly atMs: number;
  readonly services: readonly ServiceStats[];
  readonly routes: readonly RouteStats[];
  readonly edges: readonly EdgeStats[];
}

/** One point of a service's time series: its inbound traffic over the step that ends at `atMs`. */
export interface SeriesPoint {
  readonly atMs: number;
  readonly rps: number;
  readonly successRate: number | undefined;
  readonly p50Ms: number | undefined;
  readonly p99Ms: number | undefined;
}

/** A reporting process as the dashboard lists it. */
export interface InstanceView {
  readonly nodeId: string;
  readonly service: string;
  readonly instance: string;
  readonly identity: string;
  readonly sdkVersion: string;
  readonly lastReportAtMs: number;
  /** Undefined when it holds no workload certificate. */
  readonly certificateExpiresAtMs: number | undefined;
  /** Reported within the staleness bound. */
  readonly live: boolean;
}
