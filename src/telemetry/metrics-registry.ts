// The golden-metrics store: per (direction, protocol, peer, route) series with per-(method, status) histogram cells,
// bound once per route at config-compile time, so a request costs an array index and a few increments. It is the
// TrafficSource the reporter reads, and what the Prometheus and OpenTelemetry exporters read at scrape/collect time.
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS, type RouteTraffic, type TrafficSource } from './traffic-summary.js';

/** Default cap on histogram cells (label sets) across all series; later label sets fold into one overflow cell. */
export const DEFAULT_MAX_METRIC_SERIES = 2000;
/** Default cap on route series (direction, protocol, peer, route); later ones fold into one per direction+protocol. */
export const DEFAULT_MAX_ROUTE_SERIES = 1000;
/** The label value of series folded by a cardinality cap. */
export const OVERFLOW_LABEL = '_overflow';

const NBUCKETS = LATENCY_BUCKETS_MS.length;
const BOUNDS = Float64Array.from(LATENCY_BUCKETS_MS);

/** HTTP methods with a label of their own; any other is `_OTHER` (OTel semantic conventions). */
export const KNOWN_METHODS: readonly string[] = Object.freeze(['GET', 'POST', 'PUT', 'DELETE', 'HEAD', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', '_OTHER']);
const METHOD_INDEX = new Map<string, number>(KNOWN_METHODS.map((m, i) => [m, i]));
const OTHER_METHOD = KNOWN_METHODS.length - 1;

/** The index of `method` in KNOWN_METHODS (one Map read; `_OTHER` for the rest). */
export function methodIndex(method: string): number {
  if (method === 'GET') return 0; // the common cases skip the Map
  if (method === 'POST') return 1;
  return METHOD_INDEX.get(method) ?? OTHER_METHOD;
}

/** How a call ended without a status: transport error kinds and mesh refusals, as `error.type` values. */
export const ERROR_TYPES: readonly string[] = Object.freeze(['connect-failure', 'refused-stream', 'reset', 'timeout', 'other', 'cancelled']);
const ERROR_INDEX = new Map<string, number>(ERROR_TYPES.map((e, i) => [e, i]));

/** Largest code key: HTTP statuses 0-599, then error types after them (gRPC codes 0-16 use the same range). */
const ERROR_BASE = 600;
const CODES_PER_METHOD = ERROR_BASE + ERROR_TYPES.length;

/** The code key of an error type (for record()). */
export function errorCode(errorType: string): number {
  return ERROR_BASE + (ERROR_INDEX.get(errorType) ?? ERROR_INDEX.get('other')!);
}

/** One label set of a route: request count, failures, latency histogram (ms). Read by exporters; written by record(). */
export class MetricCell {
  /** HTTP method (`_OTHER` for unlisted ones; `POST` for gRPC). */
  readonly method: string;
  /** HTTP status or gRPC status code; -1 when the call ended with an error and no status. */
  readonly code: number;
  /** `error.type`: the error kind, the status code for failed responses, or '' for successes. */
  readonly errorType: string;
  /** Whether the route's classifier calls this outcome a failure (constant per label set). */
  readonly failure: boolean;
  /** The route series the cell belongs to. */
  readonly series: RouteSeries;
  /** Calls recorded. */
  count = 0;
  /** Sum of their latencies (ms). */
  sumMs = 0;
  /** Per-bucket (not cumulative) counts, one per LATENCY_BUCKETS_MS bound plus one for larger values. */
  readonly buckets = new Float64Array(NBUCKETS + 1);
  /** Attributes handed to an OpenTelemetry instrument, built once (by otel-bridge.ts) when one is in use. */
  otelAttributes: Readonly<Record<string, string | number>> | undefined;

  constructor(series: RouteSeries, method: string, code: number, errorType: string, failure: boolean) {
    this.series = series;
    this.method = method;
    this.code = code;
    this.errorType = errorType;
    this.failure = failure;
  }
}

/** Decides whether an outcome is a failure: `code` is the HTTP/gRPC status, or -1 with `errorType` set. */
export type FailureRule = (code: number, errorType: string | undefined) => boolean;

/** Default failure rule for HTTP: errors and 5xx (core/classify.ts classifyOutcome). */
export const HTTP_FAILURE: FailureRule = (code) => code < 0 || code >= 500;
/** Default failure rule for gRPC: errors and every status but OK. */
export const GRPC_FAILURE: FailureRule = (code) => code !== 0;

/** A listener told of every recorded call (the OpenTelemetry bridge); must not throw. */
export type RecordListener = (cell: MetricCell, latencyMs: number) => void;

/**
 * The metrics of one (direction, protocol, peer, route): what the TrafficSource row reports, plus its histogram cells.
 * Get it once (at config-compile time) with MetricsRegistry.series() and call record() per request.
 */
export class RouteSeries {
  readonly direction: 'outbound' | 'inbound';
  readonly protocol: 'http' | 'grpc';
  /** Destination service (outbound) or calling service (inbound; `unknown` without a mesh identity). */
  readonly peer: string;
  /** Route name (gRPC inbound: the full method path); '' when none. */
  readonly route: string;
  /** Destination `host[:port]` (outbound), for server.address / server.port. */
  readonly authority: string;
  /** gRPC: the full method path `/pkg.Service/Method`; '' for HTTP. */
  readonly rpcMethod: string;
  /** Calls recorded (cumulative). */
  requests = 0;
  /** Of those, the ones the route's rule calls failures. */
  failures = 0;
  /** Retry attempts counted. */
  retries = 0;
  /** Per-bucket latency counts (LATENCY_BUCKETS_MS, then one for larger values). */
  readonly latency = new Float64Array(NBUCKETS + 1);
  /** Retries by reason (`503`, `reset`, `connect-failure`, ...). */
  readonly retryReasons = new Map<string, number>();
  readonly #cells: (MetricCell | undefined)[] = [];
  readonly #registry: MetricsRegistry;
  readonly #failure: FailureRule;

  constructor(registry: MetricsRegistry, direction: 'outbound' | 'inbound', protocol: 'http' | 'grpc', peer: string, route: string, authority: string, failure: FailureRule, rpcMethod = '') {
    this.#registry = registry;
    this.rpcMethod = rpcMethod;
    this.direction = direction;
    this.protocol = protocol;
    this.peer = peer;
    this.route = route;
    this.authority = authority;
    this.#failure = failure;
  }

  /**
   * Records one ended call: `method` an index from methodIndex(), `code` its HTTP or gRPC status (or -1), `errorType`
   * the error kind when it ended without a status, `latencyMs` what the caller waited. Never throws.
   */
  record(method: number, code: number, errorType: string | undefined, latencyMs: number): void {
    const key = method * CODES_PER_METHOD + (code >= 0 && code < ERROR_BASE ? code : errorCode(errorType ?? 'other'));
    const cell = this.#cells[key] ?? (this.#cells[key] = this.#registry.newCell(this, method, code, errorType));
    let b = 0;
    while (b < NBUCKETS && latencyMs > BOUNDS[b]!) b++;
    cell.count++;
    cell.sumMs += latencyMs;
    cell.buckets[b]!++;
    this.requests++;
    this.latency[b]!++;
    if (cell.series === this ? cell.failure : this.#failure(code, errorType)) this.failures++;
    const listener = this.#registry.onRecord;
    if (listener !== undefined) listener(cell, latencyMs);
  }

  /** Counts one retry attempt sent, with why the attempt before it was retried. */
  retried(reason: string): void {
    this.retries++;
    this.retryReasons.set(reason, (this.retryReasons.get(reason) ?? 0) + 1);
    this.#registry.onRetry?.(this, reason);
  }

  /** @internal Whether `code`/`errorType` is a failure by this route's rule. */
  isFailure(code: number, errorType: string | undefined): boolean {
    return this.#failure(code, errorType);
  }

  /** This series' cells with at least one call (a snapshot array). */
  cells(): MetricCell[] {
    return this.#cells.filter((c): c is MetricCell => c !== undefined && c.series === this);
  }
}

/** Options of a MetricsRegistry. */
export interface MetricsRegistryOptions {
  /** This process's service (the source of outbound calls, the destination of inbound ones). */
  readonly service: string;
  /** Cap on histogram cells; default DEFAULT_MAX_METRIC_SERIES. */
  readonly maxSeries?: number;
  /** Cap on route series; default DEFAULT_MAX_ROUTE_SERIES. */
  readonly maxRoutes?: number;
}

/**
 * The golden-metrics store of one mesh, and its TrafficSource. Series are created on first use of a label set and
 * never removed (counters are cumulative), up to the caps; beyond them calls are counted in overflow series labelled
 * `_overflow`. Single-threaded; every method is synchronous and never throws.
 */
export class MetricsRegistry implements TrafficSource {
  readonly service: string;
  readonly #maxCells: number;
  readonly #maxRoutes: number;
  readonly #series = new Map<string, RouteSeries>();
  readonly #overflowSeries = new Map<string, RouteSeries>();
  #cellCount = 0;
  /** Called on every record (the OpenTelemetry bridge); undefined = nothing extra per call. */
  onRecord: RecordListener | undefined;
  /** Called on every retry counted (the OpenTelemetry bridge). */
  onRetry: ((series: RouteSeries, reason: string) => void) | undefined;

  constructor(options: MetricsRegistryOptions) {
    this.service = options.service;
    this.#maxCells = options.maxSeries ?? DEFAULT_MAX_METRIC_SERIES;
    this.#maxRoutes = options.maxRoutes ?? DEFAULT_MAX_ROUTE_SERIES;
  }

  /**
   * The series of (direction, protocol, peer, route), made on first use (one Map read after that: call it at
   * config-compile time, or cache the answer). `failure` decides the outcome label (the route's classifier); the
   * first caller's rule stays. Past the route cap, the overflow series of (direction, protocol).
   */
  series(direction: 'outbound' | 'inbound', protocol: 'http' | 'grpc', peer: string, route: string, authority = '', failure?: FailureRule, rpcMethod = ''): RouteSeries {
    const key = `${direction}\0${protocol}\0${peer}\0${route}\0${authority}\0${rpcMethod}`;
    const found = this.#series.get(key);
    if (found !== undefined) return found;
    const rule = failure ?? (protocol === 'grpc' ? GRPC_FAILURE : HTTP_FAILURE);
    if (this.#series.size >= this.#maxRoutes) {
      const okey = `${direction}\0${protocol}`;
      let o = this.#overflowSeries.get(okey);
      if (o === undefined) this.#overflowSeries.set(okey, (o = new RouteSeries(this, direction, protocol, OVERFLOW_LABEL, OVERFLOW_LABEL, '', rule)));
      return o;
    }
    const s = new RouteSeries(this, direction, protocol, peer, route, authority, rule, rpcMethod);
    this.#series.set(key, s);
    return s;
  }

  /** @internal A new cell for `series`, or the shared overflow cell past the cap. */
  newCell(series: RouteSeries, method: number, code: number, errorType: string | undefined): MetricCell {
    const failure = series.isFailure(code, errorType);
    if (this.#cellCount >= this.#maxCells) return this.#overflowCell(series);
    this.#cellCount++;
    const err = code >= 0 && code < ERROR_BASE ? (failure ? String(code) : '') : (errorType ?? 'other');
    return new MetricCell(series, KNOWN_METHODS[method] ?? '_OTHER', code >= 0 && code < ERROR_BASE ? code : -1, err, failure);
  }

  /** The overflow cell of the series' (direction, protocol): one label set, `_overflow` everywhere, never a failure. */
  #overflowCell(series: RouteSeries): MetricCell {
    const key = `${series.direction}\0${series.protocol}`;
    let cell = this.#overflowCells.get(key);
    if (cell === undefined) {
      const holder = new RouteSeries(this, series.direction, series.protocol, OVERFLOW_LABEL, OVERFLOW_LABEL, '', () => false);
      this.#overflowCells.set(key, (cell = new MetricCell(holder, '_OTHER', -1, OVERFLOW_LABEL, false)));
    }
    return cell;
  }

  readonly #overflowCells = new Map<string, MetricCell>();

  /** Every route series (the route-cap overflow ones included), in creation order. */
  allSeries(): RouteSeries[] {
    return [...this.#series.values(), ...this.#overflowSeries.values()];
  }

  /** Every cell with calls: each series' own, then the cell-cap overflow cells (their `series` is labelled `_overflow`). */
  allCells(): MetricCell[] {
    const out: MetricCell[] = [];
    for (const s of this.allSeries()) out.push(...s.cells());
    for (const c of this.#overflowCells.values()) if (c.count > 0) out.push(c);
    return out;
  }

  /**
   * TrafficSource: the cumulative rows, at most MAX_TRAFFIC_ROWS. With more series, the busiest are kept and the rest
   * folded, per (direction, protocol), into a row with peer and route `*`. Fresh frozen objects; off the request path.
   */
  traffic(): readonly RouteTraffic[] {
    // Series that differ only by authority or gRPC method are one row (direction, protocol, peer, route).
    const byRow = new Map<string, RouteTraffic>();
    for (const s of this.allSeries()) {
      if (s.requests === 0 && s.retries === 0) continue;
      const key = `${s.direction}\0${s.protocol}\0${s.peer}\0${s.route}`;
      const prev = byRow.get(key);
      byRow.set(key, prev === undefined ? rowOf(s) : addRows(prev, rowOf(s)));
    }
    const rows = [...byRow.values()];
    if (rows.length <= MAX_TRAFFIC_ROWS) return Object.freeze(rows);
    rows.sort((a, b) => b.requests - a.requests);
    // Reserve one row per (direction, protocol) among the folded rows (at most 4): grow the reservation until it holds.
    let groups = 1;
    for (;;) {
      const rest = new Set(rows.slice(MAX_TRAFFIC_ROWS - groups).map((r) => `${r.direction}\0${r.protocol}`)).size;
      if (rest <= groups) break;
      groups = rest;
    }
    const kept = rows.slice(0, MAX_TRAFFIC_ROWS - groups);
    const folded = new Map<string, { direction: RouteTraffic['direction']; protocol: RouteTraffic['protocol']; requests: number; failures: number; retries: number; latency: number[] }>();
    for (const r of rows.slice(MAX_TRAFFIC_ROWS - groups)) {
      const key = `${r.direction}\0${r.protocol}`;
      let f = folded.get(key);
      if (f === undefined) folded.set(key, (f = { direction: r.direction, protocol: r.protocol, requests: 0, failures: 0, retries: 0, latency: new Array<number>(NBUCKETS + 1).fill(0) }));
      f.requests += r.requests;
      f.failures += r.failures;
      f.retries += r.retries;
      r.latency.forEach((n, i) => (f.latency[i]! += n));
    }
    for (const f of folded.values()) kept.push(Object.freeze({ ...f, peer: '*', route: '*', latency: Object.freeze(f.latency) }));
    return Object.freeze(kept);
  }
}

function addRows(a: RouteTraffic, b: RouteTraffic): RouteTraffic {
  return Object.freeze({
    ...a,
    requests: a.requests + b.requests,
    failures: a.failures + b.failures,
    retries: a.retries + b.retries,
    latency: Object.freeze(a.latency.map((n, i) => n + (b.latency[i] ?? 0))),
  });
}

function rowOf(s: RouteSeries): RouteTraffic {
  return Object.freeze({
    direction: s.direction,
    protocol: s.protocol,
    peer: s.peer,
    route: s.route,
    requests: s.requests,
    failures: s.failures,
    retries: s.retries,
    latency: Object.freeze(Array.from(s.latency)),
  });
}
