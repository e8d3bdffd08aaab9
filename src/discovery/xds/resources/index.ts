// The five xDS resource types as a table: how to name, decode and expire each, keyed by type URL.
import { TYPE_URL, type ProtoObject, type ResourceTypeUrl } from '../protos.js';
import type { Result } from './common.js';
import { decodeCluster, type ClusterResource } from './cluster.js';
import { decodeClusterLoadAssignment, type ClusterLoadAssignmentResource } from './cluster-load-assignment.js';
import { decodeListener, type ListenerResource } from './listener.js';
import { decodeInboundListener, type InboundListenerResource } from './inbound-listener.js';
import { INBOUND_LISTENER_PREFIX } from '../../inbound-policy.js';
import { decodeRouteConfiguration, type RouteConfigResource } from './route-configuration.js';
import { decodeSecret, type SecretResource } from './secret.js';

export type { Result } from './common.js';
export type { ClusterResource } from './cluster.js';
export type { ClusterLoadAssignmentResource } from './cluster-load-assignment.js';
export type { ListenerResource } from './listener.js';
export type { InboundListenerResource } from './inbound-listener.js';
export type { RouteConfigResource } from './route-configuration.js';
export type { SecretResource } from './secret.js';
export { decodeCluster, DEFAULT_CONNECT_TIMEOUT_MS } from './cluster.js';
export { decodeClusterLoadAssignment } from './cluster-load-assignment.js';
export { decodeListener, KNOWN_CLIENT_HTTP_FILTERS } from './listener.js';
export { decodeInboundListener } from './inbound-listener.js';
export { decodeRouteConfiguration } from './route-configuration.js';
export { decodeSecret, TRUST_BUNDLE_SECRET } from './secret.js';

/** Any validated resource. */
export type DecodedResource = ListenerResource | InboundListenerResource | RouteConfigResource | ClusterResource | ClusterLoadAssignmentResource | SecretResource;

/** True for the decoded inbound (server) Listeners of `weft/inbound/<service>`. */
export function isInboundListener(value: DecodedResource): value is InboundListenerResource {
  return (value as { kind?: unknown }).kind === 'inbound';
}

/** Client Listeners are api_listeners; `weft/inbound/<service>` names a server's inbound Listener. */
function decodeAnyListener(resource: ProtoObject): Result<DecodedResource> {
  const name = nameField(resource);
  return name.startsWith(INBOUND_LISTENER_PREFIX) || `${name}/` === INBOUND_LISTENER_PREFIX ? decodeInboundListener(resource) : decodeListener(resource);
}

/** What the ADS client needs to know about one resource type. */
export interface ResourceType {
  readonly typeUrl: ResourceTypeUrl;
  /** Short name for logs: LDS, RDS, CDS, EDS, SDS. */
  readonly shortName: 'LDS' | 'RDS' | 'CDS' | 'EDS' | 'SDS';
  /** The resource's name (`cluster_name` for a ClusterLoadAssignment). */
  nameOf(resource: ProtoObject): string;
  /** Validates a decoded resource; never throws. */
  decode(resource: ProtoObject): Result<DecodedResource>;
  /**
   * True for LDS and CDS: a State-of-the-World response carries every subscribed resource that exists, so a
   * subscribed one missing from it does not exist. RDS and EDS responses may carry a subset (xDS protocol, gRFC A27).
   */
  readonly allRequiredInSotW: boolean;
}

const nameField = (resource: ProtoObject): string => (typeof resource['name'] === 'string' ? resource['name'] : '');

/** The five resource types, by type URL. SDS is partial like RDS/EDS (Envoy's SDS subscribes by name). */
export const RESOURCE_TYPES: { readonly [K in ResourceTypeUrl]: ResourceType } = Object.freeze({
  [TYPE_URL.listener]: { typeUrl: TYPE_URL.listener, shortName: 'LDS', nameOf: nameField, decode: decodeAnyListener, allRequiredInSotW: true },
  [TYPE_URL.routeConfiguration]: {
    typeUrl: TYPE_URL.routeConfiguration,
    shortName: 'RDS',
    nameOf: nameField,
    decode: decodeRouteConfiguration,
    allRequiredInSotW: false,
  },
  [TYPE_URL.cluster]: { typeUrl: TYPE_URL.cluster, shortName: 'CDS', nameOf: nameField, decode: decodeCluster, allRequiredInSotW: true },
  [TYPE_URL.clusterLoadAssignment]: {
    typeUrl: TYPE_URL.clusterLoadAssignment,
    shortName: 'EDS',
    nameOf: (r: ProtoObject) => (typeof r['cluster_name'] === 'string' ? r['cluster_name'] : ''),
    decode: decodeClusterLoadAssignment,
    allRequiredInSotW: false,
  },
  [TYPE_URL.secret]: { typeUrl: TYPE_URL.secret, shortName: 'SDS', nameOf: nameField, decode: decodeSecret, allRequiredInSotW: false },
});
