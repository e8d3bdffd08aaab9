// Typed views of a validated configuration: resource types per kind, accessors, and building a MeshConfig value.
import type { ConfigResource, MeshConfig } from '../model.js';
import type { ConcurrencyLimitSpec } from './concurrency-limit-schema.js';
import type { AuthorizationPolicySpec } from './authorization-policy-schema.js';
import type { DestinationPolicySpec } from './destination-policy-schema.js';
import type { MtlsMode, PeerAuthenticationSpec } from './peer-authentication-schema.js';
import type { FaultInjectionSpec } from './fault-injection-schema.js';
import type { GRPCRouteSpec } from './grpc-route-schema.js';
import type { HTTPRouteSpec } from './http-route-schema.js';
import { resourceKey } from './kinds.js';
import type { LocalRateLimitSpec } from './local-rate-limit-schema.js';
import type { RequestAuthenticationSpec } from './request-authentication-schema.js';
import type { ServiceSpec } from './service-schema.js';
import type { TelemetrySpec } from './telemetry-schema.js';

/** A validated Service. */
export type ServiceResource = ConfigResource<'Service', ServiceSpec>;
/** A validated HTTPRoute. */
export type HTTPRouteResource = ConfigResource<'HTTPRoute', HTTPRouteSpec>;
/** A validated GRPCRoute. */
export type GRPCRouteResource = ConfigResource<'GRPCRoute', GRPCRouteSpec>;
/** A validated FaultInjection. */
export type FaultInjectionResource = ConfigResource<'FaultInjection', FaultInjectionSpec>;
/** A validated ConcurrencyLimit. */
export type ConcurrencyLimitResource = ConfigResource<'ConcurrencyLimit', ConcurrencyLimitSpec>;
/** A validated PeerAuthentication. */
export type PeerAuthenticationResource = ConfigResource<'PeerAuthentication', PeerAuthenticationSpec>;
/** A validated DestinationPolicy. */
export type DestinationPolicyResource = ConfigResource<'DestinationPolicy', DestinationPolicySpec>;
/** A validated AuthorizationPolicy. */
export type AuthorizationPolicyResource = ConfigResource<'AuthorizationPolicy', AuthorizationPolicySpec>;
/** A validated RequestAuthentication. */
export type RequestAuthenticationResource = ConfigResource<'RequestAuthentication', RequestAuthenticationSpec>;
/** A validated LocalRateLimit. */
export type LocalRateLimitResource = ConfigResource<'LocalRateLimit', LocalRateLimitSpec>;
/** A validated Telemetry. */
export type TelemetryResource = ConfigResource<'Telemetry', TelemetrySpec>;
/** A validated route of either kind. */
export type RouteResource = HTTPRouteResource | GRPCRouteResource;

/** What the accessors accept: a MeshConfig or a plain list of resources. */
export type ResourceSet = MeshConfig | readonly ConfigResource[];

function list(config: ResourceSet): readonly ConfigResource[] {
  return 'resources' in config ? config.resources : config;
}

/**
 * Per frozen resource list (a MeshConfig's), each accessor's answer, computed once: translate asks per Service, so a
 * scan of the whole list on every call made a rebuild quadratic in the size of the mesh. A list that is not frozen may
 * still change, so it is scanned every time.
 */
const BY_KIND = new WeakMap<readonly ConfigResource[], Map<string, readonly ConfigResource[]>>();

/** The resources of `config` that `test` accepts, in the set's order; `key` names the test in the memo (BY_KIND). */
function ofKind<T extends ConfigResource>(config: ResourceSet, key: string, test: (r: ConfigResource) => r is T): readonly T[] {
  const all = list(config);
  if (!Object.isFrozen(all)) return all.filter(test);
  let memo = BY_KIND.get(all);
  if (memo === undefined) BY_KIND.set(all, (memo = new Map()));
  let found = memo.get(key);
  if (found === undefined) memo.set(key, (found = Object.freeze(all.filter(test))));
  return found as readonly T[];
}

/** Every Service, in the set's order (sorted by name in a MeshConfig). */
export function services(config: ResourceSet): readonly ServiceResource[] {
  return ofKind(config, 'Service', (r): r is ServiceResource => r.kind === 'Service');
}

/** Per frozen Service list (services() of a MeshConfig), the first Service of each name. */
const SERVICE_BY_NAME = new WeakMap<readonly ServiceResource[], ReadonlyMap<string, ServiceResource>>();

/** The first Service named `name`, or undefined: one lookup in a MeshConfig (indexed once), a scan of a plain list. */
export function serviceNamed(config: ResourceSet, name: string): ServiceResource | undefined {
  const all = services(config);
  if (!Object.isFrozen(all)) return all.find((s) => s.metadata.name === name);
  let index = SERVICE_BY_NAME.get(all);
  if (index === undefined) {
    const byName = new Map<string, ServiceResource>();
    for (const s of all) if (!byName.has(s.metadata.name)) byName.set(s.metadata.name, s);
    SERVICE_BY_NAME.set(all, (index = byName));
  }
  return index.get(name);
}

/** Every HTTPRoute, in the set's order. */
export function httpRoutes(config: ResourceSet): readonly HTTPRouteResource[] {
  return ofKind(config, 'HTTPRoute', (r): r is HTTPRouteResource => r.kind === 'HTTPRoute');
}

/** Every GRPCRoute, in the set's order. */
export function grpcRoutes(config: ResourceSet): readonly GRPCRouteResource[] {
  return ofKind(config, 'GRPCRoute', (r): r is GRPCRouteResource => r.kind === 'GRPCRoute');
}

/** Every HTTPRoute and GRPCRoute, in the set's order. */
export function routes(config: ResourceSet): readonly RouteResource[] {
  return ofKind(config, 'HTTPRoute|GRPCRoute', (r): r is RouteResource => r.kind === 'HTTPRoute' || r.kind === 'GRPCRoute');
}

/** Every FaultInjection, in the set's order. */
export function faultInjections(config: ResourceSet): readonly FaultInjectionResource[] {
  return ofKind(config, 'FaultInjection', (r): r is FaultInjectionResource => r.kind === 'FaultInjection');
}

/** Every ConcurrencyLimit, in the set's order. */
export function concurrencyLimits(config: ResourceSet): readonly ConcurrencyLimitResource[] {
  return ofKind(config, 'ConcurrencyLimit', (r): r is ConcurrencyLimitResource => r.kind === 'ConcurrencyLimit');
}

/** Every PeerAuthentication, in the set's order. */
export function peerAuthentications(config: ResourceSet): readonly PeerAuthenticationResource[] {
  return ofKind(config, 'PeerAuthentication', (r): r is PeerAuthenticationResource => r.kind === 'PeerAuthentication');
}

/**
 * The mTLS mode of `service`'s servers: its own PeerAuthentication, else the mesh-wide one, else DISABLE (mTLS is
 * off until an operator turns it on).
 */
export function mtlsModeOf(config: ResourceSet, service: string): MtlsMode {
  const all = peerAuthentications(config);
  return (all.find((p) => p.spec.targetRef?.name === service) ?? all.find((p) => p.spec.targetRef === undefined))?.spec.mtls.mode ?? 'DISABLE';
}

/** Every DestinationPolicy, in the set's order. */
export function destinationPolicies(config: ResourceSet): readonly DestinationPolicyResource[] {
  return ofKind(config, 'DestinationPolicy', (r): r is DestinationPolicyResource => r.kind === 'DestinationPolicy');
}

/** Every AuthorizationPolicy, in the set's order. */
export function authorizationPolicies(config: ResourceSet): readonly AuthorizationPolicyResource[] {
  return ofKind(config, 'AuthorizationPolicy', (r): r is AuthorizationPolicyResource => r.kind === 'AuthorizationPolicy');
}

/** Every RequestAuthentication, in the set's order. */
export function requestAuthentications(config: ResourceSet): readonly RequestAuthenticationResource[] {
  return ofKind(config, 'RequestAuthentication', (r): r is RequestAuthenticationResource => r.kind === 'RequestAuthentication');
}

/** Every LocalRateLimit, in the set's order. */
export function localRateLimits(config: ResourceSet): readonly LocalRateLimitResource[] {
  return ofKind(config, 'LocalRateLimit', (r): r is LocalRateLimitResource => r.kind === 'LocalRateLimit');
}

/** Every Telemetry, in the set's order. */
export function telemetries(config: ResourceSet): readonly TelemetryResource[] {
  return ofKind(config, 'Telemetry', (r): r is TelemetryResource => r.kind === 'Telemetry');
}

/** The resource `kind/name`, or undefined. */
export function findResource(config: ResourceSet, kind: string, name: string): ConfigResource | undefined {
  return list(config).find((r) => r.kind === kind && r.metadata.name === name);
}

/** The key `Kind/name` of a resource. */
export function keyOf(resource: ConfigResource): string {
  return resourceKey(resource.kind, resource.metadata.name);
}

/** Orders resources by kind, then name (the order of MeshConfig.resources). */
export function compareResources(a: ConfigResource, b: ConfigResource): number {
  return cmp(a.kind, b.kind) || cmp(a.metadata.name, b.metadata.name);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds an immutable MeshConfig: resources sorted by kind then name, the array and every resource deeply frozen
 * (resources are shared, not copied). Does not validate: pass resources that validateConfig accepted.
 */
export function createMeshConfig(resources: readonly ConfigResource[], generation: number): MeshConfig {
  const sorted = [...resources].sort(compareResources).map(deepFreeze);
  return Object.freeze({ generation, resources: Object.freeze(sorted) });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** JSON with object keys sorted, so equal values give equal strings whatever their key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const obj = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]]));
  });
}

/** The content of a resource (apiVersion, kind, metadata, spec; not where it came from), for change detection. */
export function resourceFingerprint(resource: ConfigResource): string {
  const { apiVersion, kind, metadata, spec } = resource;
  return stableJson({ apiVersion, kind, metadata, spec });
}
