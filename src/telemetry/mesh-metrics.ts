// The metrics of one mesh: the golden-metrics registry, the gauges read from mesh state at scrape time, their
// Prometheus families (OpenTelemetry semantic-convention names, and Istio's standard metrics on request), the
// Prometheus request handler, and the accessor another module uses to read the mesh's TrafficSource.
import type http from 'node:http';
import {
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
  METRIC_RPC_CLIENT_CALL_DURATION,
  METRIC_RPC_SERVER_CALL_DURATION,
  RPC_SYSTEM_NAME_VALUE_GRPC,
} from '@opentelemetry/semantic-conventions';
import { LATENCY_BUCKETS_MS, type TrafficSource } from './traffic-summary.js';
import type { RetryPolicy } from '../discovery/mesh-state.js';
import { compileRetry } from '../policy/retry/retry-config.js';
import { parseSpiffeId } from '../identity/spiffe.js';
import { MetricsRegistry, OVERFLOW_LABEL, type FailureRule, type MetricCell, type RouteSeries } from './metrics-registry.js';
import { prometheusHandler, renderPrometheus, type Family, type HistogramSample, type Labels } from './prometheus.js';
import { istioFamilies, type IstioIdentity } from './istio.js';
import { GRPC_STATUS_NAMES } from './attrs.js';

/** Bucket bounds in seconds (LATENCY_BUCKETS_MS / 1000), for the `*_seconds` histograms. */
export const LATENCY_BUCKETS_S: readonly number[] = Object.freeze(LATENCY_BUCKETS_MS.map((ms) => ms / 1000));

/** What produces families at scrape time (mesh gauges: xDS, breakers, identity...). Must not throw. */
export type Collector = () => readonly Family[];

/** Options of MeshMetrics (from createMesh's `metrics` option). */
export interface MeshMetricsOptions {
  readonly service: string;
  /** Also render Istio's standard metrics (istio_requests_total, ...). Default false. */
  readonly istio?: boolean;
  /** Prefix for every Prometheus metric name (`<namespace>_http_client_...`); default none. */
  readonly namespace?: string;
  /** Cap on histogram label sets (default DEFAULT_MAX_METRIC_SERIES). */
  readonly maxSeries?: number;
  /** This process's SPIFFE ID now (for Istio's principal labels), if it has one. */
  readonly identity?: () => IstioIdentity | undefined;
}

/** The golden metrics of one mesh, with its scrape-time collectors. Rendering is off the request path. */
export class MeshMetrics {
  readonly registry: MetricsRegistry;
  readonly #options: MeshMetricsOptions;
  readonly #collectors: Collector[] = [];

  constructor(options: MeshMetricsOptions) {
    this.#options = options;
    this.registry = new MetricsRegistry({ service: options.service, ...(options.maxSeries !== undefined && { maxSeries: options.maxSeries }) });
  }

  /**
   * The series of outbound calls to `authority` by `route` (the route's classifier decides the outcome label), for
   * `rpcMethod` ('' for HTTP). Call it at config-compile time or cache it: it builds a key string.
   */
  outboundSeries(protocol: 'http' | 'grpc', authority: string, route: string, retry: RetryPolicy | undefined, rpcMethod = ''): RouteSeries {
    return this.registry.series('outbound', protocol, splitAuthority(authority).host, route, authority, failureRule(protocol, retry), rpcMethod);
  }

  /**
   * The series of inbound requests from the caller `peerId` (its SPIFFE ID; undefined = not a mesh identity, peer
   * `unknown`), for `rpcMethod` ('' for HTTP). Cache it per connection or method: it builds a key string.
   */
  inboundSeries(protocol: 'http' | 'grpc', peerId: string | undefined, rpcMethod = ''): RouteSeries {
    const peer = peerId === undefined ? 'unknown' : (parseSpiffeId(peerId)?.service ?? 'unknown');
    return this.registry.series('inbound', protocol, peer, protocol === 'grpc' ? rpcMethod : '', peerId ?? '', undefined, rpcMethod);
  }

  /** Adds a scrape-time collector (mesh gauges). */
  addCollector(collector: Collector): void {
    this.#collectors.push(collector);
  }

  /** Every family: golden histograms, retries, the collectors', and Istio's when enabled. Never throws. */
  families(): Family[] {
    const out = goldenFamilies(this.registry);
    for (const c of this.#collectors) {
      try {
        out.push(...c());
      } catch {
        // A collector reads mesh state; a broken one must not take the endpoint down.
      }
    }
    if (this.#options.istio === true) out.push(...istioFamilies(this.registry, this.#options.identity?.()));
    const ns = this.#options.namespace;
    return ns === undefined || ns === '' ? out : out.map((f) => ({ ...f, name: `${ns}_${f.name}` }) as Family);
  }

  /** The Prometheus text of families(). */
  render(): string {
    return renderPrometheus(this.families());
  }

  /** A node:http request handler answering every request with render() (GET/HEAD; others get 405). */
  handler(): http.RequestListener {
    return prometheusHandler(() => this.render());
  }
}

/** The outcome rule of a route: its retry policy's classifier (core/classify.ts); anything but `success` is a failure. */
function failureRule(protocol: 'http' | 'grpc', retry: RetryPolicy | undefined): FailureRule {
  const classifier = compileRetry(retry).classifier;
  if (protocol === 'grpc') return (code) => code < 0 || classifier.classify({ kind: 'response', status: 200, grpcStatus: code }) !== 'success';
  return (code) => code < 0 || classifier.classify({ kind: 'response', status: code }) !== 'success';
}

/** `host` and `port` of an authority (`payments:8080` → payments, 8080; default port 80). */
export function splitAuthority(authority: string): { readonly host: string; readonly port: number } {
  const i = authority.lastIndexOf(':');
  if (i > 0 && !authority.endsWith(']') && /^\d+$/.test(authority.slice(i + 1))) return { host: authority.slice(0, i), port: Number(authority.slice(i + 1)) };
  return { host: authority, port: 80 };
}

/** `/pkg.Service/Method` → `pkg.Service/Method` (the form of semconv's `rpc.method`, as on the spans). */
export function fullRpcMethod(path: string): string {
  return path.startsWith('/') ? path.slice(1) : path;
}

/**
 * The OpenTelemetry attributes of a cell, by the stable semantic conventions of semconv 1.45 (HTTP; RPC with
 * `rpc.system.name`, the full `rpc.method` and the gRPC status name as `rpc.status_code`, as the spans carry them),
 * plus Weft's mesh labels. Built once per cell.
 */
export function cellAttributes(cell: MetricCell, service: string): Readonly<Record<string, string | number>> {
  const s: RouteSeries = cell.series;
  const a: Record<string, string | number> = {};
  const outbound = s.direction === 'outbound';
  if (s.protocol === 'http') {
    a['http.request.method'] = cell.method;
    if (cell.code >= 0) a['http.response.status_code'] = cell.code;
    a['url.scheme'] = 'http';
  } else {
    a[ATTR_RPC_SYSTEM_NAME] = RPC_SYSTEM_NAME_VALUE_GRPC;
    a[ATTR_RPC_METHOD] = fullRpcMethod(s.rpcMethod);
    // For gRPC the status name (`OK`, `UNAVAILABLE`), not the number: semconv's examples and the spans' value.
    if (cell.code >= 0) a[ATTR_RPC_STATUS_CODE] = GRPC_STATUS_NAMES[cell.code] ?? String(cell.code);
  }
  if (cell.errorType !== '') a['error.type'] = s.protocol === 'grpc' && cell.code >= 0 ? (GRPC_STATUS_NAMES[cell.code] ?? String(cell.code)) : cell.errorType;
  if (outbound && s.authority !== '') {
    const { host, port } = splitAuthority(s.authority);
    a['server.address'] = host;
    a['server.port'] = port;
  }
  a['weft.source.service'] = outbound ? service : s.peer;
  a['weft.destination.service'] = outbound ? s.peer : service;
  a['weft.route'] = s.route;
  a['weft.outcome'] = cell.failure ? 'failure' : 'success';
  if (s.peer === OVERFLOW_LABEL) a['weft.overflow'] = 'true';
  return Object.freeze(a);
}

/** OTel attribute names as Prometheus labels (dots to underscores), values as strings. */
function labelsOf(attributes: Readonly<Record<string, string | number>>): Labels {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(attributes)) out[k.replace(/\./g, '_')] = String(v);
  return out;
}

/**
 * The golden histograms, by direction and protocol: semantic-convention names, all in seconds (Prometheus `_seconds`,
 * bounds LATENCY_BUCKETS_S).
 */
export const GOLDEN_INSTRUMENTS = Object.freeze({
  'outbound.http': { name: METRIC_HTTP_CLIENT_REQUEST_DURATION, unit: 's', help: 'Duration of HTTP client requests (logical calls, to the response headers), seconds.' },
  'inbound.http': { name: METRIC_HTTP_SERVER_REQUEST_DURATION, unit: 's', help: 'Duration of HTTP server requests (to the end of the response), seconds.' },
  'outbound.grpc': { name: METRIC_RPC_CLIENT_CALL_DURATION, unit: 's', help: 'Duration of outbound gRPC calls (logical calls), seconds.' },
  'inbound.grpc': { name: METRIC_RPC_SERVER_CALL_DURATION, unit: 's', help: 'Duration of inbound gRPC calls, seconds.' },
} as const);

function goldenFamilies(registry: MetricsRegistry): Family[] {
  const byKind = new Map<keyof typeof GOLDEN_INSTRUMENTS, HistogramSample[]>();
  for (const cell of registry.allCells()) {
    const kind = `${cell.series.direction}.${cell.series.protocol}` as keyof typeof GOLDEN_INSTRUMENTS;
    let list = byKind.get(kind);
    if (list === undefined) byKind.set(kind, (list = []));
    list.push({ labels: labelsOf(cellAttributes(cell, registry.service)), buckets: cell.buckets, sum: cell.sumMs / 1000, count: cell.count });
  }
  const out: Family[] = [];
  for (const [kind, samples] of byKind) {
    const inst = GOLDEN_INSTRUMENTS[kind];
    out.push({ name: `${inst.name}_seconds`, help: inst.help, type: 'histogram', bounds: LATENCY_BUCKETS_S, samples });
  }
  const retries = registry.allSeries().flatMap((s) =>
    [...s.retryReasons].map(([reason, n]) => ({
      labels: { weft_source_service: registry.service, weft_destination_service: s.peer, weft_route: s.route, protocol: s.protocol, reason },
      value: n,
    })),
  );
  out.push({ name: 'weft_retries_total', help: 'Retry attempts sent, by why the attempt before was retried (status code or error kind).', type: 'counter', samples: retries });
  return out;
}

const SOURCES = new WeakMap<object, MeshMetrics>();

/** @internal Binds `metrics` to `mesh` for meshTraffic() / meshMetrics(). */
export function bindMeshMetrics(mesh: object, metrics: MeshMetrics): void {
  SOURCES.set(mesh, metrics);
}

/**
 * The TrafficSource of a mesh (cumulative per-route rows, for the reporter to the control plane). Cheap to call; its
 * traffic() allocates the rows. Throws a TypeError for an object that is not a mesh from createMesh().
 */
export function meshTraffic(mesh: object): TrafficSource {
  const m = SOURCES.get(mesh);
  if (m === undefined) throw new TypeError('meshTraffic: not a mesh made by createMesh()');
  return m.registry;
}

/** @internal The MeshMetrics of a mesh, or undefined for an object that is not one. */
export function meshMetrics(mesh: object): MeshMetrics | undefined {
  return SOURCES.get(mesh);
}
