// Decodes and validates an Envoy Cluster (type EDS over ADS) into the policy Weft applies to its endpoints.
import type { ProtoObject } from '../protos.js';
import type { CircuitBreakerThresholds, LoadBalancerKind, LoadBalancerPolicy, OutlierDetectionPolicy, RetryBudgetPolicy, UpstreamTls, ZoneAwarePolicy } from '../../mesh-state.js';
import { decodeUpstreamTls } from './upstream-tls.js';
import { durationMs, fail, isError, obj, ok, str, type Result } from './common.js';
import { decodeClusterPolicy, policyKey } from './cluster-policy.js';

/** Envoy's default `connect_timeout` when a Cluster leaves it unset. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** A validated Cluster. */
export interface ClusterResource {
  readonly name: string;
  /** ClusterLoadAssignment to fetch over EDS: `eds_cluster_config.service_name`, or the cluster name. */
  readonly edsServiceName: string;
  readonly lbPolicy: LoadBalancerKind;
  /** The balancer and its parameters (see cluster-policy.ts). */
  readonly lb: LoadBalancerPolicy;
  readonly circuitBreaker: CircuitBreakerThresholds | undefined;
  readonly retryBudget: RetryBudgetPolicy | undefined;
  readonly outlierDetection: OutlierDetectionPolicy | undefined;
  readonly zoneAware: ZoneAwarePolicy | undefined;
  /** mTLS to the cluster's servers (upstream-tls.ts); undefined = plaintext. */
  readonly tls: UpstreamTls | undefined;
  /** A stable string of the policy fields above (mTLS included), to compare updates cheaply. */
  readonly policyKey: string;
  readonly connectTimeoutMs: number;
}

/**
 * Validates a decoded Cluster (proto field names, see protos.ts). Never throws; returns every problem found.
 * Accepted: `type: EDS` with `eds_cluster_config.eds_config` = `ads` or `self`; `lb_policy` ROUND_ROBIN, RANDOM,
 * LEAST_REQUEST or RING_HASH, or a `load_balancing_policy` (gRFC A52) whose first supported entry wins (round_robin,
 * random, least_request, ring_hash, TypedStruct weft.lb.v1.PeakEwma); circuit_breakers (DEFAULT priority, with
 * retry_budget) and outlier_detection (cluster-policy.ts); `connect_timeout` (default 5 s); mTLS, from
 * `transport_socket` or `transport_socket_matches` (upstream-tls.ts).
 * Refused, with the reason: other discovery types (STATIC, STRICT_DNS, LOGICAL_DNS, cluster_type/aggregate) and
 * LB policies Weft has no picker for — silently balancing differently from what the control plane asked would be
 * worse than a visible NACK.
 */
export function decodeCluster(cluster: ProtoObject): Result<ClusterResource> {
  const errors: string[] = [];
  const name = str(cluster, 'name');
  const discovery = str(cluster, 'cluster_discovery_type');
  const type = discovery === 'type' ? str(cluster, 'type') : discovery === 'cluster_type' ? 'cluster_type' : 'STATIC';
  let edsServiceName = name;
  if (type !== 'EDS') {
    errors.push(`type: ${type} is not supported (only EDS)`);
  } else {
    const eds = obj(cluster, 'eds_cluster_config');
    const source = obj(eds, 'eds_config');
    if (obj(source, 'ads') === undefined && obj(source, 'self') === undefined) {
      errors.push('eds_cluster_config.eds_config: must be ads or self (this client only speaks ADS)');
    }
    edsServiceName = str(eds, 'service_name') || name;
  }

  const policy = decodeClusterPolicy(cluster, errors);
  const tls = decodeUpstreamTls(cluster, errors);

  const timeout = durationMs(cluster, 'connect_timeout');
  if (isError(timeout)) errors.push(timeout.error);
  if (timeout === 0) errors.push('connect_timeout: must be greater than 0');

  if (errors.length > 0) return fail(errors);
  return ok(
    Object.freeze({
      name,
      edsServiceName,
      lbPolicy: policy.lb.kind,
      lb: policy.lb,
      circuitBreaker: policy.circuitBreaker,
      retryBudget: policy.retryBudget,
      outlierDetection: policy.outlierDetection,
      zoneAware: policy.zoneAware,
      tls,
      policyKey: tls === undefined ? policyKey(policy) : `${policyKey(policy)}|tls:${JSON.stringify(tls, (_k, v: unknown) => (v instanceof RegExp ? v.source : v))}`,
      connectTimeoutMs: typeof timeout === 'number' ? timeout : DEFAULT_CONNECT_TIMEOUT_MS,
    }),
  );
}
