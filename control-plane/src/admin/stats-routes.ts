// The admin API's traffic endpoints: `GET /v1/stats` (weft stat, weft top, the dashboard) and `GET /v1/stats/series`
// (the dashboard's charts), answered from the TrafficAggregator.
import type { TrafficAggregator } from '../telemetry/traffic-aggregator.js';
import type { InstanceView, MeshStats, SeriesPoint } from '../telemetry/traffic-views.js';
import { parseDurationMs } from './identity-routes.js';

/** Shortest and longest window or step accepted (ms); the longest is the aggregator's default retention. */
export const STATS_WINDOW_BOUNDS_MS = Object.freeze({ min: 1_000, max: 15 * 60_000 });

/** The body of `GET /v1/stats`. */
export interface StatsView extends MeshStats {
  /** Processes that reported within the retention (with the service filter, only that service's). */
  readonly instances: readonly InstanceView[];
}

/** The body of `GET /v1/stats/series`. */
export interface SeriesView {
  readonly service: string;
  readonly rangeMs: number;
  readonly stepMs: number;
  readonly points: readonly SeriesPoint[];
}

/** An admin reply: HTTP status and JSON body. */
export interface StatsReply {
  readonly status: number;
  readonly body: unknown;
}

/**
 * Answers `GET /v1/stats?service=&window=` and `GET /v1/stats/series?service=&range=&step=` (durations like `30s`,
 * `1m`), or undefined for other paths. Bad parameters are 400 naming the parameter; 501 without an aggregator.
 */
export function statsRoute(traffic: TrafficAggregator | undefined, method: string, route: readonly string[], params: URLSearchParams): StatsReply | undefined {
  if (route[0] !== 'stats' || route.length > 2 || (route.length === 2 && route[1] !== 'series')) return undefined;
  if (method !== 'GET') return { status: 405, body: { error: `${method} not allowed on /v1/${route.join('/')}; use GET` } };
  if (traffic === undefined) return { status: 501, body: { error: 'this control plane does not collect traffic reports' } };
  const service = params.get('service') ?? undefined;
  const duration = (name: string, fallbackMs: number): number | { error: string } => {
    const raw = params.get(name);
    if (raw === null || raw === '') return fallbackMs;
    const ms = parseDurationMs(raw);
    if (ms === undefined || ms < STATS_WINDOW_BOUNDS_MS.min || ms > STATS_WINDOW_BOUNDS_MS.max) {
      return { error: `${name}: '${raw}' is not a duration between 1s and 15m (like 30s, 1m, 5m)` };
    }
    return ms;
  };
  if (route.length === 1) {
    const windowMs = duration('window', 60_000);
    if (typeof windowMs !== 'number') return { status: 400, body: windowMs };
    const stats = traffic.stats({ windowMs, ...(service ? { service } : {}) });
    const instances = traffic.instances().filter((i) => !service || i.service === service);
    const body: StatsView = { ...stats, instances };
    return { status: 200, body };
  }
  if (!service) return { status: 400, body: { error: 'service: required (the service whose series to show)' } };
  const rangeMs = duration('range', 5 * 60_000);
  if (typeof rangeMs !== 'number') return { status: 400, body: rangeMs };
  const stepMs = duration('step', 10_000);
  if (typeof stepMs !== 'number') return { status: 400, body: stepMs };
  const body: SeriesView = { service, rangeMs, stepMs, points: traffic.series(service, { rangeMs, stepMs }) };
  return { status: 200, body };
}
