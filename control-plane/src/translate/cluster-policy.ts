// Translates a DestinationPolicy into Envoy Cluster fields (lb_policy / load_balancing_policy, circuit_breakers,
// outlier_detection) and ring-hash keys into Route hash_policy, as docs/xds-mapping.md "Cluster" specifies.
import type { DestinationPolicySpec, OutlierDetectionSpec } from '../config/destination-policy-schema.js';
import { parseGatewayDurationMs } from '../config/duration.js';
import { durationFromMs } from './names.js';

/** Type URLs of the load_balancing_policy entries the control plane sends (same as the SDK's cluster-policy.ts). */
export const LB_URL = {
  roundRobin: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
  random: 'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random',
  leastRequest: 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
  typedStruct: 'type.googleapis.com/xds.type.v3.TypedStruct',
  peakEwma: 'type.googleapis.com/weft.lb.v1.PeakEwma',
} as const;

type Fields = Record<string, unknown>;

const ROUND_ROBIN_ENTRY = { typed_extension_config: { name: 'envoy.load_balancing_policies.round_robin', typed_config: { '@type': LB_URL.roundRobin } } };

/** A load_balancing_policy (gRFC A52) of `first` then round robin, so clients that lack `first` fall back to it. */
function withFallback(name: string, typedConfig: Fields): Fields {
  return { load_balancing_policy: { policies: [{ typed_extension_config: { name, typed_config: typedConfig } }, ROUND_ROBIN_ENTRY] } };
}

/**
 * The Cluster's balancer fields. RoundRobin → `lb_policy: ROUND_ROBIN`; RingHash → `lb_policy: RING_HASH` with
 * `ring_hash_lb_config` (XX_HASH, as gRPC requires). LeastRequest, Random and PeakEWMA go in `load_balancing_policy`
 * followed by round_robin: grpc-js-xds NACKs `lb_policy: LEAST_REQUEST`/`RANDOM` (xds-interop.md §1.3) but skips an
 * entry it does not know, so it balances round robin while Weft and Envoy use the first entry.
 */
function lbFields(policy: DestinationPolicySpec | undefined): Fields {
  const lb = policy?.loadBalancer;
  switch (lb?.type) {
    case undefined:
    case 'RoundRobin':
      return { lb_policy: 'ROUND_ROBIN' };
    case 'RingHash':
      return {
        lb_policy: 'RING_HASH',
        ring_hash_lb_config: { hash_function: 'XX_HASH', minimum_ring_size: { value: lb.ringHash?.minRingSize ?? 1024 } },
      };
    case 'LeastRequest':
      return withFallback('envoy.load_balancing_policies.least_request', {
        '@type': LB_URL.leastRequest,
        choice_count: { value: lb.leastRequest?.choiceCount ?? 2 },
      });
    case 'Random':
      return withFallback('envoy.load_balancing_policies.random', { '@type': LB_URL.random });
    case 'PeakEWMA':
      return withFallback('weft.peak_ewma', {
        '@type': LB_URL.typedStruct,
        type_url: LB_URL.peakEwma,
        value: { fields: { decay_ms: { numberValue: parseGatewayDurationMs(lb.peakEWMA?.decay ?? '10s') ?? 10_000 } } },
      });
  }
}

const u32 = (value: number | undefined): Fields | undefined => (value === undefined ? undefined : { value });

function duration(text: string | undefined): Fields | undefined {
  if (text === undefined) return undefined;
  const ms = parseGatewayDurationMs(text);
  return ms === undefined ? undefined : (durationFromMs(ms) as unknown as Fields);
}

/** Drops undefined values so the encoded message only carries what was set. */
function compact(fields: Fields): Fields {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined));
}

/**
 * Envoy outlier_detection. Detectors a user did not ask for are switched off explicitly where Envoy would enforce
 * them by default (success rate: `enforcing_success_rate: 0`); consecutive 5xx keeps Envoy's default (5, enforced)
 * unless set, and 0 switches it off.
 */
function outlierDetection(od: OutlierDetectionSpec): Fields {
  const sr = od.successRate;
  const fp = od.failurePercentage;
  return compact({
    consecutive_5xx: od.consecutive5xx === undefined || od.consecutive5xx === 0 ? undefined : u32(od.consecutive5xx),
    enforcing_consecutive_5xx: od.consecutive5xx === 0 ? u32(0) : undefined,
    consecutive_gateway_failure: u32(od.consecutiveGatewayErrors),
    enforcing_consecutive_gateway_failure: od.consecutiveGatewayErrors === undefined ? undefined : u32(100),
    split_external_local_origin_errors: od.consecutiveLocalOriginFailures === undefined ? undefined : true,
    consecutive_local_origin_failure: u32(od.consecutiveLocalOriginFailures),
    enforcing_consecutive_local_origin_failure: od.consecutiveLocalOriginFailures === undefined ? undefined : u32(100),
    interval: duration(od.interval),
    base_ejection_time: duration(od.baseEjectionTime),
    max_ejection_time: duration(od.maxEjectionTime),
    max_ejection_percent: u32(od.maxEjectionPercent),
    enforcing_success_rate: u32(sr === undefined ? 0 : 100),
    success_rate_minimum_hosts: u32(sr?.minimumHosts),
    success_rate_request_volume: u32(sr?.requestVolume),
    success_rate_stdev_factor: sr === undefined ? undefined : u32(Math.round(sr.stdevFactor * 1000)),
    enforcing_failure_percentage: fp === undefined ? undefined : u32(100),
    failure_percentage_threshold: u32(fp?.threshold),
    failure_percentage_minimum_hosts: u32(fp?.minimumHosts),
    failure_percentage_request_volume: u32(fp?.requestVolume),
  });
}

/**
 * The policy fields of a Cluster for `policy` (undefined = no DestinationPolicy: round robin and nothing else).
 * The retry budget rides in `circuit_breakers.thresholds[DEFAULT].retry_budget`: `budget_percent` is the ratio and
 * `min_retry_concurrency` the per-second floor as Weft reads them (Envoy reads the floor as concurrent retries).
 */
export function clusterPolicyFields(policy: DestinationPolicySpec | undefined): Fields {
  const out: Fields = lbFields(policy);
  const cb = policy?.circuitBreaker;
  const budget = policy?.retryBudget;
  if (cb !== undefined || budget !== undefined) {
    out['circuit_breakers'] = {
      thresholds: [
        compact({
          priority: 'DEFAULT',
          max_connections: u32(cb?.maxConnections),
          max_pending_requests: u32(cb?.maxPendingRequests),
          max_requests: u32(cb?.maxRequests),
          max_retries: u32(cb?.maxRetries),
          retry_budget:
            budget === undefined
              ? undefined
              : { budget_percent: { value: budget.percent }, min_retry_concurrency: { value: budget.minRetriesPerSecond } },
        }),
      ],
    };
  }
  if (policy?.outlierDetection !== undefined) out['outlier_detection'] = outlierDetection(policy.outlierDetection);
  return out;
}

/** The Route hash_policy entry for a RingHash policy's key, or undefined (no key: each request hashes randomly). */
export function hashPolicyOf(policy: DestinationPolicySpec | undefined): Fields | undefined {
  const lb = policy?.loadBalancer;
  if (lb?.type !== 'RingHash') return undefined;
  const key = lb.ringHash?.key;
  if (key === undefined) return undefined;
  if ('header' in key) return { header: { header_name: key.header } };
  if ('cookie' in key) return { cookie: { name: key.cookie } };
  return { connection_properties: { source_ip: true } };
}

/**
 * Adds `hash_policy` to every route of `routeConfig` (a RouteConfiguration being built, mutated in place) whose
 * weighted_clusters name a cluster in `hashByCluster`, in backend order without repeats. Returns `routeConfig`.
 */
export function addHashPolicies<T extends Fields>(routeConfig: T, hashByCluster: ReadonlyMap<string, Fields>): T {
  if (hashByCluster.size === 0) return routeConfig;
  for (const vh of (routeConfig['virtual_hosts'] as Fields[] | undefined) ?? []) {
    for (const route of (vh['routes'] as Fields[] | undefined) ?? []) {
      const action = route['route'] as Fields | undefined;
      const clusters = ((action?.['weighted_clusters'] as Fields | undefined)?.['clusters'] as Fields[] | undefined) ?? [];
      const policies: Fields[] = [];
      const seen = new Set<string>();
      for (const c of clusters) {
        const hash = hashByCluster.get(String(c['name']));
        const key = JSON.stringify(hash);
        if (hash !== undefined && !seen.has(key)) {
          seen.add(key);
          policies.push(hash);
        }
      }
      if (action !== undefined && policies.length > 0) action['hash_policy'] = policies;
    }
  }
  return routeConfig;
}
