// Decodes and validates an Envoy Cluster (type EDS over ADS) into the policy Weft applies to its endpoints.
import type { ProtoObject } from '../protos.js';
import { anyTypeUrl, durationMs, fail, isError, list, obj, ok, str, type Result } from './common.js';

/** Envoy's default `connect_timeout` when a Cluster leaves it unset. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** A validated Cluster. */
export interface ClusterResource {
  readonly name: string;
  /** ClusterLoadAssignment to fetch over EDS: `eds_cluster_config.service_name`, or the cluster name. */
  readonly edsServiceName: string;
  readonly lbPolicy: 'round-robin';
  readonly connectTimeoutMs: number;
}

const ROUND_ROBIN_POLICY_URL = 'type.googleapis.com/envoy.extensions.load_balancing_policies.round_robin.v3.RoundRobin';

/**
 * Validates a decoded Cluster (proto field names, see protos.ts). Never throws; returns every problem found.
 * Accepted: `type: EDS` with `eds_cluster_config.eds_config` = `ads` or `self`; `lb_policy: ROUND_ROBIN`, or a
 * `load_balancing_policy` (gRFC A52) whose first supported entry is round_robin; `connect_timeout` (default 5 s).
 * Refused for now, with the reason: other discovery types (STATIC, STRICT_DNS, LOGICAL_DNS, cluster_type/aggregate)
 * and other LB policies (LEAST_REQUEST, RING_HASH, ...) — Weft's balancers only do weighted round robin today, and
 * silently balancing differently from what the control plane asked would be worse than a visible NACK.
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

  const policies = list(obj(cluster, 'load_balancing_policy'), 'policies');
  if (policies.length > 0) {
    const supported = policies.some((p) => anyTypeUrl(obj(obj(p, 'typed_extension_config'), 'typed_config')) === ROUND_ROBIN_POLICY_URL);
    if (!supported) {
      const urls = policies.map((p) => anyTypeUrl(obj(obj(p, 'typed_extension_config'), 'typed_config')) || '?');
      errors.push(`load_balancing_policy: none of [${urls.join(', ')}] is supported (only round_robin)`);
    }
  } else {
    const lbPolicy = str(cluster, 'lb_policy') || 'ROUND_ROBIN';
    if (lbPolicy !== 'ROUND_ROBIN') errors.push(`lb_policy: ${lbPolicy} is not supported (only ROUND_ROBIN)`);
  }

  const timeout = durationMs(cluster, 'connect_timeout');
  if (isError(timeout)) errors.push(timeout.error);
  if (timeout === 0) errors.push('connect_timeout: must be greater than 0');

  if (errors.length > 0) return fail(errors);
  return ok(
    Object.freeze({
      name,
      edsServiceName,
      lbPolicy: 'round-robin' as const,
      connectTimeoutMs: typeof timeout === 'number' ? timeout : DEFAULT_CONNECT_TIMEOUT_MS,
    }),
  );
}
