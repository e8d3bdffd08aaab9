// Decodes a Cluster's traffic policy: load balancer (lb_policy / load_balancing_policy), circuit breakers, retry budget, outlier detection.
import type { ProtoObject } from '../protos.js';
import type {
  CircuitBreakerThresholds,
  LoadBalancerPolicy,
  OutlierDetectionPolicy,
  RetryBudgetPolicy,
  ZoneAwarePolicy,
} from '../../mesh-state.js';
import { anyTypeUrl, bool, durationMs, isError, list, num, obj, str, wrapped } from './common.js';

/** Type URLs of the load_balancing_policy entries Weft understands (gRFC A52: the first supported one wins). */
export const LB_POLICY_URL = {
  roundRobin: 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin',
  random: 'type.googleapis.com/envoy.extensions.load_balancing_policies.random.v3.Random',
  leastRequest: 'type.googleapis.com/envoy.extensions.load_balancing_policies.least_request.v3.LeastRequest',
  ringHash: 'type.googleapis.com/envoy.extensions.load_balancing_policies.ring_hash.v3.RingHash',
  /** Carrier of custom policies (xds.type.v3.TypedStruct); its inner `type_url` names the policy. */
  typedStruct: 'type.googleapis.com/xds.type.v3.TypedStruct',
  /** Weft's peak-EWMA balancer, inside a TypedStruct (not an Envoy policy: clients that lack it skip to the next entry). */
  peakEwma: 'type.googleapis.com/weft.lb.v1.PeakEwma',
} as const;

/** Envoy's default for every circuit-breaker threshold. */
export const DEFAULT_CIRCUIT_BREAKER_LIMIT = 1024;
/** Default least-request / peak-EWMA choice count (power of two choices). */
export const DEFAULT_CHOICE_COUNT = 2;
/** Default peak-EWMA decay (Linkerd: 10 s). */
export const DEFAULT_EWMA_DECAY_MS = 10_000;
/** Envoy's default ring sizes. */
export const DEFAULT_MIN_RING_SIZE = 1024;
/** Envoy's default maximum ring size (8M entries); Weft caps it at this too. */
export const DEFAULT_MAX_RING_SIZE = 8 * 1024 * 1024;

const ROUND_ROBIN: LoadBalancerPolicy = Object.freeze({ kind: 'round-robin' });
const RANDOM: LoadBalancerPolicy = Object.freeze({ kind: 'random' });

/** The cluster policy decoder's answer: values, plus every problem found (`<field>: <reason>`). */
export interface ClusterPolicy {
  readonly lb: LoadBalancerPolicy;
  readonly circuitBreaker: CircuitBreakerThresholds | undefined;
  readonly retryBudget: RetryBudgetPolicy | undefined;
  readonly outlierDetection: OutlierDetectionPolicy | undefined;
  readonly zoneAware: ZoneAwarePolicy | undefined;
}

/** Envoy's default `zone_aware_lb_config.min_cluster_size`. */
export const DEFAULT_ZONE_AWARE_MIN_CLUSTER_SIZE = 6;

/** Decodes the policy fields of a Cluster; pushes problems onto `errors`. Never throws. */
export function decodeClusterPolicy(cluster: ProtoObject, errors: string[]): ClusterPolicy {
  return {
    lb: decodeLb(cluster, errors),
    ...decodeCircuitBreakers(cluster, errors),
    outlierDetection: decodeOutlierDetection(obj(cluster, 'outlier_detection'), errors),
    zoneAware: decodeZoneAware(obj(obj(cluster, 'common_lb_config'), 'zone_aware_lb_config')),
  };
}

/**
 * `common_lb_config.zone_aware_lb_config` → ZoneAwarePolicy (min_cluster_size, default 6). `routing_enabled` below
 * 100 % turns the preference off (Weft does not split it by percentage); `fail_traffic_on_panic` is ignored.
 */
function decodeZoneAware(cfg: ProtoObject | undefined): ZoneAwarePolicy | undefined {
  if (cfg === undefined) return undefined;
  const enabled = obj(cfg, 'routing_enabled');
  if (enabled !== undefined && (Number(enabled['value']) || 0) < 100) return undefined;
  const min = wrapped<number>(cfg, 'min_cluster_size');
  return Object.freeze({ minClusterSize: min === undefined ? DEFAULT_ZONE_AWARE_MIN_CLUSTER_SIZE : min });
}

function ringSizes(cfg: ProtoObject | undefined, field: string, errors: string[]): LoadBalancerPolicy {
  const min = wrapped<number>(cfg, 'minimum_ring_size') ?? DEFAULT_MIN_RING_SIZE;
  const max = wrapped<number>(cfg, 'maximum_ring_size') ?? DEFAULT_MAX_RING_SIZE;
  const hash = str(cfg, 'hash_function');
  if (hash !== '' && hash !== 'XX_HASH' && hash !== 'DEFAULT_HASH') errors.push(`${field}.hash_function: ${hash} is not supported`);
  if (min < 1 || max < 1 || min > max || max > DEFAULT_MAX_RING_SIZE) {
    errors.push(`${field}: ring sizes must satisfy 1 <= minimum (${min}) <= maximum (${max}) <= ${DEFAULT_MAX_RING_SIZE}`);
  }
  return Object.freeze({ kind: 'ring-hash', minRingSize: min, maxRingSize: Math.min(max, DEFAULT_MAX_RING_SIZE) });
}

function choiceCount(cfg: ProtoObject | undefined, field: string, errors: string[]): number {
  const n = wrapped<number>(cfg, 'choice_count') ?? DEFAULT_CHOICE_COUNT;
  if (!Number.isInteger(n) || n < 2) errors.push(`${field}.choice_count: must be at least 2 (got ${n})`);
  return Math.max(2, Math.trunc(n) || 2);
}

/** A google.protobuf.Struct number field (TypedStruct payloads; snake_case or protobufjs camelCase), or undefined. */
function structNumber(struct: ProtoObject | undefined, key: string): number | undefined {
  const fields = obj(struct, 'fields');
  const v = obj(fields, key);
  if (v === undefined) return undefined;
  const n = v['number_value'] ?? v['numberValue']; // protobufjs's bundled Struct keeps camelCase names
  return typeof n === 'number' ? n : undefined;
}

function decodeLb(cluster: ProtoObject, errors: string[]): LoadBalancerPolicy {
  const policies = list(obj(cluster, 'load_balancing_policy'), 'policies');
  if (policies.length > 0) {
    const seen: string[] = [];
    for (const [i, p] of policies.entries()) {
      const typed = obj(obj(p, 'typed_extension_config'), 'typed_config');
      const url = anyTypeUrl(typed);
      const field = `load_balancing_policy.policies[${i}]`;
      switch (url) {
        case LB_POLICY_URL.roundRobin:
          return ROUND_ROBIN;
        case LB_POLICY_URL.random:
          return RANDOM;
        case LB_POLICY_URL.leastRequest:
          return Object.freeze({ kind: 'least-request', choiceCount: choiceCount(typed, field, errors) });
        case LB_POLICY_URL.ringHash:
          return ringSizes(typed, field, errors);
        case LB_POLICY_URL.typedStruct:
          if (str(typed, 'type_url') === LB_POLICY_URL.peakEwma) {
            const decayMs = structNumber(obj(typed, 'value'), 'decay_ms') ?? DEFAULT_EWMA_DECAY_MS;
            if (!(decayMs > 0)) errors.push(`${field}: weft.lb.v1.PeakEwma decay_ms must be > 0`);
            return Object.freeze({ kind: 'peak-ewma', decayMs: decayMs > 0 ? decayMs : DEFAULT_EWMA_DECAY_MS });
          }
          seen.push(`TypedStruct(${str(typed, 'type_url') || '?'})`);
          break;
        default:
          seen.push(url || '?');
      }
    }
    errors.push(`load_balancing_policy: none of [${seen.join(', ')}] is supported (round_robin, random, least_request, ring_hash, weft.lb.v1.PeakEwma)`);
    return ROUND_ROBIN;
  }
  const lbPolicy = str(cluster, 'lb_policy') || 'ROUND_ROBIN';
  switch (lbPolicy) {
    case 'ROUND_ROBIN':
      return ROUND_ROBIN;
    case 'RANDOM':
      return RANDOM;
    case 'LEAST_REQUEST':
      return Object.freeze({ kind: 'least-request', choiceCount: choiceCount(obj(cluster, 'least_request_lb_config'), 'least_request_lb_config', errors) });
    case 'RING_HASH':
      return ringSizes(obj(cluster, 'ring_hash_lb_config'), 'ring_hash_lb_config', errors);
    default:
      errors.push(`lb_policy: ${lbPolicy} is not supported (ROUND_ROBIN, RANDOM, LEAST_REQUEST, RING_HASH)`);
      return ROUND_ROBIN;
  }
}

function decodeCircuitBreakers(
  cluster: ProtoObject,
  errors: string[],
): { circuitBreaker: CircuitBreakerThresholds | undefined; retryBudget: RetryBudgetPolicy | undefined } {
  const thresholds = list(obj(cluster, 'circuit_breakers'), 'thresholds');
  const t = thresholds.find((x) => (str(x, 'priority') || 'DEFAULT') === 'DEFAULT');
  if (t === undefined) return { circuitBreaker: undefined, retryBudget: undefined };
  const limit = (key: string): number => {
    const v = wrapped<number>(t, key);
    return v === undefined || !Number.isFinite(v) ? DEFAULT_CIRCUIT_BREAKER_LIMIT : v;
  };
  const circuitBreaker = Object.freeze({
    maxConnections: limit('max_connections'),
    maxPendingRequests: limit('max_pending_requests'),
    maxRequests: limit('max_requests'),
    maxRetries: limit('max_retries'),
  });
  const budget = obj(t, 'retry_budget');
  let retryBudget: RetryBudgetPolicy | undefined;
  if (budget !== undefined) {
    const percentObj = obj(budget, 'budget_percent');
    const percent = percentObj === undefined ? 20 : num(percentObj, 'value');
    if (!(percent >= 0 && percent <= 100)) errors.push(`circuit_breakers.thresholds.retry_budget.budget_percent: ${percent} is not within 0..100`);
    retryBudget = Object.freeze({ percent: Math.min(100, Math.max(0, percent || 0)), minRetriesPerSecond: wrapped<number>(budget, 'min_retry_concurrency') ?? 10 });
  }
  return { circuitBreaker, retryBudget };
}

function percentField(od: ProtoObject, key: string, fallback: number, errors: string[]): number {
  const v = wrapped<number>(od, key) ?? fallback;
  if (!(v >= 0 && v <= 100)) errors.push(`outlier_detection.${key}: ${v} is not within 0..100`);
  return Math.min(100, Math.max(0, v));
}

function durationField(od: ProtoObject, key: string, fallbackMs: number, errors: string[]): number {
  const d = durationMs(od, key);
  if (isError(d)) {
    errors.push(`outlier_detection.${d.error}`);
    return fallbackMs;
  }
  return d ?? fallbackMs;
}

/** Envoy's defaults: https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/cluster/v3/outlier_detection.proto */
function decodeOutlierDetection(od: ProtoObject | undefined, errors: string[]): OutlierDetectionPolicy | undefined {
  if (od === undefined) return undefined;
  const u = (key: string, fallback: number): number => wrapped<number>(od, key) ?? fallback;
  const detector = (threshold: number, enforcing: number): { threshold: number; enforcingPercent: number } | undefined =>
    enforcing > 0 ? Object.freeze({ threshold, enforcingPercent: enforcing }) : undefined;
  const split = bool(od, 'split_external_local_origin_errors');
  const srEnforcing = percentField(od, 'enforcing_success_rate', 100, errors);
  const fpEnforcing = percentField(od, 'enforcing_failure_percentage', 0, errors);
  const intervalMs = durationField(od, 'interval', 10_000, errors);
  const baseEjectionTimeMs = durationField(od, 'base_ejection_time', 30_000, errors);
  return Object.freeze({
    intervalMs: intervalMs > 0 ? intervalMs : 10_000,
    baseEjectionTimeMs,
    maxEjectionTimeMs: Math.max(baseEjectionTimeMs, durationField(od, 'max_ejection_time', 300_000, errors)),
    maxEjectionPercent: percentField(od, 'max_ejection_percent', 10, errors),
    consecutive5xx: detector(u('consecutive_5xx', 5), percentField(od, 'enforcing_consecutive_5xx', 100, errors)),
    consecutiveGatewayFailure: detector(u('consecutive_gateway_failure', 5), percentField(od, 'enforcing_consecutive_gateway_failure', 0, errors)),
    consecutiveLocalOriginFailure: split
      ? detector(u('consecutive_local_origin_failure', 5), percentField(od, 'enforcing_consecutive_local_origin_failure', 100, errors))
      : undefined,
    splitExternalLocalOriginErrors: split,
    successRate:
      srEnforcing > 0
        ? Object.freeze({
            minimumHosts: u('success_rate_minimum_hosts', 5),
            requestVolume: u('success_rate_request_volume', 100),
            stdevFactor: u('success_rate_stdev_factor', 1900) / 1000,
            enforcingPercent: srEnforcing,
          })
        : undefined,
    failurePercentage:
      fpEnforcing > 0
        ? Object.freeze({
            threshold: percentField(od, 'failure_percentage_threshold', 85, errors),
            minimumHosts: u('failure_percentage_minimum_hosts', 5),
            requestVolume: u('failure_percentage_request_volume', 50),
            enforcingPercent: fpEnforcing,
          })
        : undefined,
  });
}

/** A stable string of a decoded policy, to tell whether a Cluster update changed it (config time only). */
export function policyKey(p: ClusterPolicy): string {
  return JSON.stringify([p.lb, p.circuitBreaker ?? null, p.retryBudget ?? null, p.outlierDetection ?? null, p.zoneAware ?? null]);
}
