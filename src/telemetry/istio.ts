// Istio's standard metrics (istio_requests_total, istio_request_duration_milliseconds) with Istio's labels, derived at
// scrape time from the golden-metrics cells, so Istio's Grafana dashboards work unchanged (no cost per request).
// https://istio.io/latest/docs/reference/config/metrics/
import { parseSpiffeId } from '../identity/spiffe.js';
import { LATENCY_BUCKETS_MS } from './traffic-summary.js';
import type { MetricCell, MetricsRegistry } from './metrics-registry.js';
import type { Family, HistogramSample, Labels, Sample } from './prometheus.js';

/** This process's workload identity, as Istio's labels need it. */
export interface IstioIdentity {
  /** `spiffe://<td>/ns/<ns>/sa/<service>`. */
  readonly spiffeId: string;
}

const UNKNOWN = 'unknown';

/** Envoy response flags for calls that ended without a response. */
const RESPONSE_FLAGS: Readonly<Record<string, string>> = Object.freeze({
  'connect-failure': 'UF',
  'refused-stream': 'UF',
  reset: 'UC',
  timeout: 'UT',
  cancelled: 'DC',
  other: 'UH',
});

function namespaceOf(spiffeId: string | undefined): string {
  if (spiffeId === undefined || spiffeId === '') return UNKNOWN;
  return parseSpiffeId(spiffeId)?.namespace ?? UNKNOWN;
}

/** Istio's labels of one cell (the order is Istio's). */
export function istioLabels(cell: MetricCell, service: string, self: IstioIdentity | undefined): Labels {
  const s = cell.series;
  const outbound = s.direction === 'outbound';
  const selfId = self?.spiffeId;
  const selfNs = namespaceOf(selfId);
  // Inbound series keep the caller's SPIFFE ID where outbound ones keep the destination authority.
  const peerId = outbound ? undefined : s.authority === '' ? undefined : s.authority;
  const peerNs = outbound ? selfNs : namespaceOf(peerId);
  const destName = outbound ? s.peer : service;
  // The destination's namespace is not known to the caller (no SPIFFE ID per call): this process's is assumed.
  const destNs = selfNs;
  const destHost = outbound ? (s.authority.replace(/:\d+$/, '') || s.peer) : service;
  const grpc = s.protocol === 'grpc';
  const code = cell.code;
  return {
    reporter: outbound ? 'source' : 'destination',
    source_workload: outbound ? service : s.peer,
    source_workload_namespace: peerNs,
    source_principal: outbound ? (selfId ?? UNKNOWN) : (peerId ?? UNKNOWN),
    source_app: outbound ? service : s.peer,
    destination_workload: destName,
    destination_workload_namespace: destNs,
    destination_principal: outbound ? UNKNOWN : (selfId ?? UNKNOWN),
    destination_app: destName,
    destination_service: destHost,
    destination_service_name: destName,
    destination_service_namespace: destNs,
    request_protocol: grpc ? 'grpc' : 'http',
    response_code: code < 0 ? '0' : grpc ? '200' : String(code),
    grpc_response_status: grpc && code >= 0 ? String(code) : '',
    response_flags: code < 0 ? (RESPONSE_FLAGS[cell.errorType] ?? 'UH') : '-',
    connection_security_policy: outbound ? UNKNOWN : peerId !== undefined ? 'mutual_tls' : 'none',
  };
}

/** istio_requests_total and istio_request_duration_milliseconds over every cell of `registry`. */
export function istioFamilies(registry: MetricsRegistry, self: IstioIdentity | undefined): Family[] {
  const merged = new Map<string, { labels: Labels; count: number; sum: number; buckets: number[] }>();
  for (const cell of registry.allCells()) {
    const labels = istioLabels(cell, registry.service, self);
    const key = Object.values(labels).join('\0');
    let m = merged.get(key);
    if (m === undefined) merged.set(key, (m = { labels, count: 0, sum: 0, buckets: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) }));
    m.count += cell.count;
    m.sum += cell.sumMs;
    for (let i = 0; i < m.buckets.length; i++) m.buckets[i]! += cell.buckets[i] ?? 0;
  }
  const requests: Sample[] = [];
  const durations: HistogramSample[] = [];
  for (const m of merged.values()) {
    requests.push({ labels: m.labels, value: m.count });
    durations.push({ labels: m.labels, buckets: m.buckets, sum: m.sum, count: m.count });
  }
  return [
    { name: 'istio_requests_total', help: 'Requests, as Istio counts them (reporter source: this process calling; destination: serving).', type: 'counter', samples: requests },
    { name: 'istio_request_duration_milliseconds', help: 'Request duration in milliseconds, as Istio reports it.', type: 'histogram', bounds: LATENCY_BUCKETS_MS, samples: durations },
  ];
}
