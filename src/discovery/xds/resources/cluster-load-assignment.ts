// Decodes and validates an Envoy ClusterLoadAssignment (EDS) into the routable endpoints of a cluster.
import { isIP } from 'node:net';
import type { ProtoObject } from '../protos.js';
import type { Endpoint } from '../../mesh-state.js';
import { fail, list, num, obj, ok, str, UINT32_MAX, wrapped, type Result } from './common.js';
import { TRANSPORT_SOCKET_MATCH_KEY } from '../../../identity/mtls-wire.js';

/** A validated ClusterLoadAssignment: its routable endpoints (frozen). */
export interface ClusterLoadAssignmentResource {
  /** `cluster_name`: the EDS service name it answers. */
  readonly name: string;
  /** HEALTHY and UNKNOWN endpoints of every priority, in configuration order (`priority` set on those above 0). */
  readonly endpoints: readonly Endpoint[];
}

/**
 * Validates a decoded ClusterLoadAssignment (proto field names, see protos.ts). Never throws; returns every problem.
 * Refused (as gRFC A27 / grpc-js-xds): an address that is not an IP literal, a port given by name or outside
 * 1-65535, the same address:port twice, an explicit endpoint weight of 0, a priority N with no priority N-1, a
 * locality twice in one priority, a priority's total locality weight above UINT32_MAX.
 * Only HEALTHY and UNKNOWN endpoints are kept (the others are dropped, not errors). Endpoints of priorities above 0
 * carry their `priority`; the balancer uses the most preferred priority that has an available endpoint (failover).
 * Locality weights are not applied (Envoy ignores them too unless locality-weighted balancing is on); a missing
 * locality is read as the empty locality rather than refused, to accept control planes that omit it.
 */
export function decodeClusterLoadAssignment(cla: ProtoObject): Result<ClusterLoadAssignmentResource> {
  const errors: string[] = [];
  const endpoints: Endpoint[] = [];
  const seenAddresses = new Set<string>();
  const seenLocalities = new Set<string>();
  const priorityWeights = new Map<number, number>();
  list(cla, 'endpoints').forEach((group, i) => {
    const field = `endpoints[${i}]`;
    const priority = num(group, 'priority');
    const loc = obj(group, 'locality');
    const locality = Object.freeze({ region: str(loc, 'region'), zone: str(loc, 'zone'), subZone: str(loc, 'sub_zone') });
    const localityKey = JSON.stringify([priority, locality.region, locality.zone, locality.subZone]);
    if (seenLocalities.has(localityKey)) errors.push(`${field}.locality: appears twice in priority ${priority}`);
    seenLocalities.add(localityKey);
    priorityWeights.set(priority, (priorityWeights.get(priority) ?? 0) + (wrapped<number>(group, 'load_balancing_weight') ?? 0));

    list(group, 'lb_endpoints').forEach((lb, j) => {
      const at = `${field}.lb_endpoints[${j}]`;
      if (str(lb, 'host_identifier') === 'endpoint_name') {
        errors.push(`${at}.endpoint_name: named endpoints are not supported`);
        return;
      }
      const socket = obj(obj(obj(lb, 'endpoint'), 'address'), 'socket_address');
      if (socket === undefined) {
        errors.push(`${at}.endpoint.address.socket_address: not set`);
        return;
      }
      const address = str(socket, 'address');
      const port = num(socket, 'port_value');
      const before = errors.length;
      if (isIP(address) === 0) errors.push(`${at}.endpoint.address.socket_address.address: '${address}' is not an IP address`);
      if (str(socket, 'port_specifier') !== 'port_value') {
        errors.push(`${at}.endpoint.address.socket_address: port must be a port_value`);
      } else if (!Number.isInteger(port) || port < 1 || port > 65535) {
        errors.push(`${at}.endpoint.address.socket_address.port_value: ${port} is not a port (1-65535)`);
      }
      const key = `${address.includes(':') ? `[${address}]` : address}:${port}`;
      if (seenAddresses.has(key)) errors.push(`${at}.endpoint.address: ${key} is a duplicate`);
      seenAddresses.add(key);
      const weight = wrapped<number>(lb, 'load_balancing_weight');
      if (weight === 0) errors.push(`${at}.load_balancing_weight: must be at least 1`);
      if (errors.length > before) return;
      const health = str(lb, 'health_status') || 'UNKNOWN';
      if (health !== 'HEALTHY' && health !== 'UNKNOWN') return;
      const match = transportSocketMatch(lb);
      endpoints.push(Object.freeze({ address, port, weight: weight ?? 1, locality, health, ...(priority > 0 && { priority }), ...(match && { transportSocketMatch: match }) }));
    });
  });
  for (const [priority, total] of priorityWeights) {
    if (total > UINT32_MAX) errors.push(`endpoints: priority ${priority} has a total weight above UINT32_MAX`);
    if (priority > 0 && !priorityWeights.has(priority - 1)) {
      errors.push(`endpoints: priority ${priority} is used but priority ${priority - 1} is not`);
    }
  }
  if (errors.length > 0) return fail(errors);
  return ok(Object.freeze({ name: str(cla, 'cluster_name'), endpoints: Object.freeze(endpoints) }));
}

/** The string fields of an endpoint's `metadata.filter_metadata['envoy.transport_socket_match']`, if any (frozen). */
function transportSocketMatch(lb: ProtoObject): Readonly<Record<string, string>> | undefined {
  const fields = obj(obj(obj(obj(lb, 'metadata'), 'filter_metadata'), TRANSPORT_SOCKET_MATCH_KEY), 'fields') as Record<string, { stringValue?: unknown }> | undefined;
  if (fields === undefined) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (typeof v?.stringValue === 'string') out[k] = v.stringValue;
  return Object.keys(out).length > 0 ? Object.freeze(out) : undefined;
}
