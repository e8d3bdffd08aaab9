// Translates a validated MeshConfig plus the live endpoint registry into Envoy xDS v3 resources, exactly as
// docs/xds-mapping.md specifies. Pure and deterministic: same input, deep-equal output in a stable order.
import { concurrencyLimits, destinationPolicies, faultInjections, mtlsModeOf, routes, services, type RouteResource } from '../config/mesh-config.js';
import type { DestinationPolicySpec } from '../config/destination-policy-schema.js';
import type { MeshConfig, RegisteredEndpoint, XdsResource, XdsResources } from '../model.js';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { addHashPolicies, clusterPolicyFields, hashPolicyOf } from './cluster-policy.js';
import { buildLoadAssignment } from './endpoints.js';
import { faultHttpFilter, usesFault } from './fault.js';
import { inboundListeners } from './inbound-listener.js';
import { DEFAULT_NAMESPACE, DEFAULT_TRUST_DOMAIN, formatSpiffeId } from '../../../src/identity/spiffe.js';
import { clusterMtlsFields } from './mtls.js';
import { clusterName, compareStrings, deepFreeze, durationFromMs, listenerNames, routerHttpFilter } from './names.js';
import { buildRouteConfiguration } from './routes.js';
import { hcmTelemetryFields, telemetryFor } from './telemetry.js';
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';

/** Connect timeout of every Cluster. */
export const CONNECT_TIMEOUT_MS = 5000;

/** Options of translate. */
export interface TranslateOptions {
  /** Trust domain of the mesh's SPIFFE IDs (AuthorizationPolicy namespaces); default DEFAULT_TRUST_DOMAIN. */
  readonly trustDomain?: string;
}

/**
 * Translates `config` and `endpoints` into every resource the control plane serves:
 * - a Listener `<svc>` and `<svc>:<port>` per declared port, each an api_listener HCM with RDS (via ADS) to the
 *   RouteConfiguration `<svc>` and the router filter;
 * - a RouteConfiguration per Service (see buildRouteConfiguration);
 * - a Cluster `<svc>:<port>` per declared port (EDS via ADS, 5 s connect timeout, the DestinationPolicy of the Service
 *   or ROUND_ROBIN; a RingHash key becomes the hash_policy of every route to it; mTLS to the Service's SPIFFE ID by its
 *   PeerAuthentication, see mtls.ts);
 * - a ClusterLoadAssignment per Cluster (see buildLoadAssignment), possibly with no endpoints;
 * - the inbound Listeners: `weft/inbound` (mesh-wide policies) and `weft/inbound/<svc>` per Service, with its
 *   AuthorizationPolicies, RequestAuthentications and LocalRateLimit (see inbound-listener.ts).
 * Registered endpoints of Services not in `config` (or naming a port it does not declare) are ignored.
 * Each map is sorted by resource name; every resource carries `'@type'` and is deeply frozen.
 * Expects a config that validateConfig accepted; does not throw for one.
 */
export function translate(config: MeshConfig, endpoints: readonly RegisteredEndpoint[], options: TranslateOptions = {}): XdsResources {
  const trustDomain = options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
  const svcs = [...services(config)].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const byName = new Map(svcs.map((s) => [s.metadata.name, s]));
  const attached = attachments(routes(config));
  const faults = new Map(faultInjections(config).map((f) => [f.metadata.name, f]));
  const extensions = { faults, limits: new Map(concurrencyLimits(config).map((l) => [l.metadata.name, l])) };
  const policies = new Map(destinationPolicies(config).map((p) => [p.spec.targetRef.name, p.spec]));
  const hashByCluster = new Map<string, Record<string, unknown>>();
  for (const svc of svcs) {
    const hash = hashPolicyOf(policies.get(svc.metadata.name));
    if (hash !== undefined) for (const port of svc.spec.ports) hashByCluster.set(clusterName(svc.metadata.name, port.port), hash);
  }

  const listeners: XdsResource[] = [];
  const routeConfigs: XdsResource[] = [];
  const clusters: XdsResource[] = [];
  for (const svc of svcs) {
    const name = svc.metadata.name;
    const routesOfSvc = attached.get(name) ?? [];
    const fault = usesFault(routesOfSvc);
    // With routes attached, every Listener of the Service shares its RouteConfiguration (the rules name the ports);
    // without, a per-port Listener gets a default route to its own port (the port the caller addressed).
    const perPort = routesOfSvc.length === 0 && svc.spec.ports.length > 1;
    const telemetry = hcmTelemetryFields(telemetryFor(config, name));
    for (const listener of listenerNames(name, svc.spec)) {
      const port = perPort && listener !== name ? Number(listener.slice(name.length + 1)) : undefined;
      listeners.push(buildListener(listener, port === undefined || port === svc.spec.ports[0]!.port ? name : listener, fault, telemetry));
    }
    routeConfigs.push(addHashPolicies(buildRouteConfiguration(svc, routesOfSvc, byName, extensions), hashByCluster));
    if (perPort) {
      for (const p of svc.spec.ports.slice(1)) routeConfigs.push(addHashPolicies(buildRouteConfiguration(svc, [], byName, extensions, p.port), hashByCluster));
    }
    const spiffeId = formatSpiffeId({ trustDomain, namespace: svc.metadata.namespace ?? DEFAULT_NAMESPACE, service: name });
    const mtls = clusterMtlsFields(mtlsModeOf(config, name), spiffeId);
    for (const port of svc.spec.ports) {
      clusters.push({ ...buildCluster(clusterName(name, port.port), policies.get(name), svc.spec.trafficDistribution === 'PreferClose'), ...mtls });
    }
  }
  listeners.push(...inboundListeners(config, { trustDomain }));
  return {
    [TYPE_URL.listener]: byResourceName(listeners, (r) => r['name']),
    [TYPE_URL.routeConfiguration]: byResourceName(routeConfigs, (r) => r['name']),
    [TYPE_URL.cluster]: byResourceName(clusters, (r) => r['name']),
    [TYPE_URL.clusterLoadAssignment]: translateEndpoints(config, endpoints),
    // SDS secrets come from the CA, not from configuration: the control plane adds the trust bundle (ca/trust-bundle.ts).
    [TYPE_URL.secret]: new Map(),
  };
}

/**
 * The ClusterLoadAssignment of every Service port (see buildLoadAssignment), sorted by cluster name and deeply frozen:
 * translate's EDS part, and the only part of translate's output that `endpoints` change. So
 * `{ ...translate(config, old), [CLA]: translateEndpoints(config, endpoints) }` deep-equals
 * `translate(config, endpoints)`, which lets the control plane rebuild only this on an endpoint change. Registered
 * endpoints of Services not in `config` are ignored. Does not throw for a config validateConfig accepted.
 */
export function translateEndpoints(config: MeshConfig, endpoints: readonly RegisteredEndpoint[]): ReadonlyMap<string, XdsResource> {
  const registered = groupByService(endpoints);
  const assignments: XdsResource[] = [];
  for (const svc of services(config)) {
    svc.spec.ports.forEach((_, i) => assignments.push(buildLoadAssignment(svc, i, registered.get(svc.metadata.name) ?? [])));
  }
  return byResourceName(assignments, (r) => r['cluster_name']);
}

/**
 * The Listener `name`: an api_listener whose HCM fetches RouteConfiguration `routeConfig` over ADS (the Service's
 * name, or `<service>:<port>` for a per-port default route).
 * With `fault`, the HCM runs the fault filter (disabled at this level; routes override it) before the router.
 * `telemetry` adds the Service's Telemetry fields (`tracing`, `access_log`: translate/telemetry.ts) to the HCM.
 */
export function buildListener(name: string, routeConfig: string, fault = false, telemetry: ProtoObject = {}): XdsResource {
  const router = routerHttpFilter();
  return {
    '@type': TYPE_URL.listener,
    name,
    api_listener: {
      api_listener: {
        '@type': TYPE_URL.httpConnectionManager,
        stat_prefix: name,
        rds: { route_config_name: routeConfig, config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: fault ? [faultHttpFilter(), router] : [router],
        ...telemetry,
      },
    },
  };
}

/**
 * The EDS Cluster `name` (its endpoints come from the ClusterLoadAssignment of the same name, over ADS), with the
 * balancer, circuit breakers and outlier detection of the Service's DestinationPolicy (cluster-policy.ts).
 */
export function buildCluster(name: string, policy?: DestinationPolicySpec, preferClose = false): XdsResource {
  return {
    '@type': TYPE_URL.cluster,
    name,
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: name },
    connect_timeout: durationFromMs(CONNECT_TIMEOUT_MS),
    ...clusterPolicyFields(policy),
    // trafficDistribution: PreferClose. min_cluster_size 1: prefer the caller's zone however few endpoints there are
    // (Envoy's default 6 would turn it off for small Services); grpc-js-xds ignores common_lb_config.
    ...(preferClose && { common_lb_config: { zone_aware_lb_config: { min_cluster_size: { value: '1' } } } }),
  };
}

/** Routes attached to each Service (by parentRefs), each route once per Service. */
function attachments(list: readonly RouteResource[]): Map<string, RouteResource[]> {
  const out = new Map<string, RouteResource[]>();
  for (const route of list) {
    for (const parent of new Set(route.spec.parentRefs.map((p) => p.name))) {
      const forService = out.get(parent) ?? [];
      forService.push(route);
      out.set(parent, forService);
    }
  }
  return out;
}

function groupByService(endpoints: readonly RegisteredEndpoint[]): Map<string, RegisteredEndpoint[]> {
  const out = new Map<string, RegisteredEndpoint[]>();
  for (const e of endpoints) {
    const list = out.get(e.service) ?? [];
    list.push(e);
    out.set(e.service, list);
  }
  return out;
}

function byResourceName(list: readonly XdsResource[], nameOf: (r: XdsResource) => unknown): ReadonlyMap<string, XdsResource> {
  const entries = list.map((r) => [String(nameOf(r)), deepFreeze(r)] as const);
  entries.sort((a, b) => compareStrings(a[0], b[0]));
  return new Map(entries);
}
