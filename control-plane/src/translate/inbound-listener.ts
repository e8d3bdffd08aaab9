// The inbound Listener of a service: what its servers enforce (docs/xds-mapping.md "Inbound Listener"). One builder for
// Weft SDK servers (`weft/inbound/<service>`) and gRFC A36 xDS servers (the same content at their bound address).
import {
  authorizationPolicies,
  localRateLimits,
  requestAuthentications,
  mtlsModeOf,
  services,
  type AuthorizationPolicyResource,
  type LocalRateLimitResource,
  type RequestAuthenticationResource,
  type ResourceSet,
} from '../config/mesh-config.js';
import type { XdsResource } from '../model.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { inboundListenerName } from '../../../src/discovery/inbound-policy.js';
import { buildJwtAuthnConfig } from './inbound-jwt.js';
import { rateLimitHttpFilter, rateLimitRoutes } from './inbound-ratelimit.js';
import { buildRbacConfig, type RbacOptions } from './inbound-rbac.js';
import { compareStrings, routerHttpFilter } from './names.js';
import { inboundChains } from './mtls.js';
import { hcmTelemetryFields, telemetryFor } from './telemetry.js';

/** Name of the inbound Listener that holds only mesh-wide policies (workloads of Services not in the config get it). */
export const MESH_INBOUND_LISTENER = 'weft/inbound';
/** Name of the plaintext filter chain, the inbound route config and its virtual host. */
export const INBOUND_NAME = 'weft-inbound';
/** HCM filter name of the RBAC filter of DENY policies (the two RBAC filters differ: grpc-js-xds refuses duplicates). */
export const RBAC_DENY_FILTER = 'envoy.filters.http.rbac/deny';
/** HCM filter name of the RBAC filter of ALLOW policies. */
export const RBAC_ALLOW_FILTER = 'envoy.filters.http.rbac/allow';
/** HCM filter name of jwt_authn. */
export const JWT_AUTHN_FILTER_NAME = 'envoy.filters.http.jwt_authn';

/** The IP and port an xDS-enabled server bound, as its Listener's `address.socket_address` must repeat them. */
export interface ListeningAddress {
  /** An IPv4 or IPv6 literal, as written in the name (IPv6 without brackets; not normalized). */
  readonly ip: string;
  /** 1..65535. */
  readonly port: number;
}

/**
 * A filter chain before its HCM is put in: a name and, for TLS chains, `filter_chain_match` and `transport_socket`
 * (the mTLS work passes those; every chain gets the same HCM).
 */
export interface FilterChainSpec {
  readonly name: string;
  readonly filter_chain_match?: ProtoObject;
  readonly transport_socket?: ProtoObject;
}

/** The one plaintext chain every inbound Listener has until PeerAuthentication adds TLS chains. */
export const PLAINTEXT_CHAINS: readonly FilterChainSpec[] = Object.freeze([Object.freeze({ name: INBOUND_NAME })]);

/** The inbound policies that apply to one workload. */
export interface InboundPolicySet {
  /** Sorted by name. */
  readonly authorization: readonly AuthorizationPolicyResource[];
  /** Sorted by name. */
  readonly authentication: readonly RequestAuthenticationResource[];
  /** The Service's own LocalRateLimit, else the mesh-wide one, else none. */
  readonly rateLimit: LocalRateLimitResource | undefined;
}

/** Options of the inbound translation. */
export type InboundOptions = Pick<RbacOptions, 'trustDomain'>;

/** The policies that apply to `service` (those without targetRef plus its own); undefined service = mesh-wide only. */
export function policiesFor(config: ResourceSet, service: string | undefined): InboundPolicySet {
  const applies = (ref: { name: string } | undefined) => ref === undefined || ref.name === service;
  const byName = <T extends { metadata: { name: string } }>(list: readonly T[]) => [...list].sort((a, b) => compareStrings(a.metadata.name, b.metadata.name));
  const limits = localRateLimits(config);
  return {
    authorization: byName(authorizationPolicies(config).filter((p) => applies(p.spec.targetRef))),
    authentication: byName(requestAuthentications(config).filter((p) => applies(p.spec.targetRef))),
    rateLimit: (service !== undefined ? limits.find((l) => l.spec.targetRef?.name === service) : undefined) ?? limits.find((l) => l.spec.targetRef === undefined),
  };
}

/**
 * The HttpConnectionManager of an inbound Listener for `set`: HTTP filters jwt_authn (`is_optional`, when a
 * RequestAuthentication applies) → RBAC DENY (when a DENY policy applies) → RBAC ALLOW (when an ALLOW policy applies)
 * → local_ratelimit (`is_optional`, when a LocalRateLimit applies) → router; an inline route config whose routes
 * are the per-route rate limits and then `prefix: /`, all `non_forwarding_action`; plus the `telemetry` fields
 * (`tracing`, `access_log`) of the Service's Telemetry. Pure.
 */
export function buildInboundHcm(set: InboundPolicySet, options: RbacOptions, telemetry: ProtoObject = {}): ProtoObject {
  const filters: ProtoObject[] = [];
  const jwt = buildJwtAuthnConfig(set.authentication);
  if (jwt !== undefined) filters.push({ name: JWT_AUTHN_FILTER_NAME, is_optional: true, typed_config: jwt });
  const deny = set.authorization.filter((p) => p.spec.action === 'DENY');
  const allow = set.authorization.filter((p) => p.spec.action === 'ALLOW');
  if (deny.length > 0) filters.push({ name: RBAC_DENY_FILTER, typed_config: buildRbacConfig('DENY', deny, options) });
  if (allow.length > 0) filters.push({ name: RBAC_ALLOW_FILTER, typed_config: buildRbacConfig('ALLOW', allow, options) });
  if (set.rateLimit !== undefined) filters.push(rateLimitHttpFilter(set.rateLimit));
  filters.push(routerHttpFilter());
  const routes = [...(set.rateLimit ? rateLimitRoutes(set.rateLimit) : []), { name: `${INBOUND_NAME}/all`, match: { prefix: '/' }, non_forwarding_action: {} }];
  return {
    '@type': TYPE_URL.httpConnectionManager,
    stat_prefix: INBOUND_NAME,
    route_config: { name: INBOUND_NAME, virtual_hosts: [{ name: INBOUND_NAME, domains: ['*'], routes }] },
    http_filters: filters,
    ...telemetry,
  };
}

/**
 * The inbound Listener `name`: one filter chain per `chains` entry, each holding exactly one network filter, the HCM
 * `hcm`; with `address` (gRFC A36 servers) `address.socket_address` repeats the bound IP and port. No listener
 * filters, no `use_original_dst`, no api_listener. Pure; the result is a fresh object.
 */
export function buildInboundListener(name: string, hcm: ProtoObject, chains: readonly FilterChainSpec[] = PLAINTEXT_CHAINS, address?: ListeningAddress): XdsResource {
  return {
    '@type': TYPE_URL.listener,
    name,
    ...(address !== undefined && { address: { socket_address: { address: address.ip, port_value: address.port } } }),
    filter_chains: chains.map((c) => ({
      ...c,
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm }],
    })),
  };
}

/**
 * The same Listener as `source` (an inbound Listener) under `name`, at `address` when given: how a gRFC A36 server
 * or a workload of an undeclared Service gets its policy. Pure; shares `source`'s nested objects.
 */
export function renameInboundListener(source: XdsResource, name: string, address?: ListeningAddress): XdsResource {
  const { address: _old, ...rest } = source;
  return { ...rest, name, ...(address !== undefined && { address: { socket_address: { address: address.ip, port_value: address.port } } }) };
}

/**
 * Every inbound Listener of `config`: `weft/inbound` (mesh-wide policies only) and `weft/inbound/<service>` for each
 * Service. Issuers of every RequestAuthentication help split `requestPrincipals`. Pure.
 */
export function inboundListeners(config: ResourceSet, options: InboundOptions): XdsResource[] {
  const rbac: RbacOptions = { trustDomain: options.trustDomain, issuers: [...new Set(requestAuthentications(config).flatMap((r) => r.spec.jwtRules.map((j) => j.issuer)))] };
  // mTLS mode (PeerAuthentication): the filter chains; the mesh-wide Listener takes the mesh-wide mode.
  const out = [buildInboundListener(MESH_INBOUND_LISTENER, buildInboundHcm(policiesFor(config, undefined), rbac, hcmTelemetryFields(telemetryFor(config, undefined))), inboundChains(mtlsModeOf(config, '')))];
  for (const svc of services(config)) {
    const name = svc.metadata.name;
    out.push(buildInboundListener(inboundListenerName(name), buildInboundHcm(policiesFor(config, name), rbac, hcmTelemetryFields(telemetryFor(config, name))), inboundChains(mtlsModeOf(config, name))));
  }
  return out;
}
