// xDS resource names Weft derives from configuration (docs/xds-mapping.md "Names"), and small proto-JSON helpers.
import type { ServiceSpec } from '../config/service-schema.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';

/** Listener names of a Service: `<service>` and `<service>:<port>` for each declared port. */
export function listenerNames(service: string, spec: ServiceSpec): string[] {
  return [service, ...spec.ports.map((p) => `${service}:${p.port}`)];
}

/** Cluster (and ClusterLoadAssignment) name of a Service port: `<service>:<port>`. */
export function clusterName(service: string, port: number): string {
  return `${service}:${port}`;
}

/** Envoy route name of one Gateway API match: `<Kind>/<name>/rules/<i>/matches/<j>` (explain() shows it). */
export function routeName(kind: string, name: string, rule: number, match: number): string {
  return `${kind}/${name}/rules/${rule}/matches/${match}`;
}

/** Name of the route a Service gets when no HTTPRoute or GRPCRoute is attached to it. */
export function defaultRouteName(service: string): string {
  return `Service/${service}/default`;
}

/** The router HTTP filter entry of an HCM; every HCM Weft sends ends with it (clients NACK a router before the end). */
export function routerHttpFilter(): ProtoObject {
  return { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } };
}

/** A google.protobuf.Duration in the proto-JSON form the protos module encodes (64-bit seconds as a string). */
export interface ProtoDuration {
  readonly seconds: string;
  readonly nanos: number;
}

/** Milliseconds → google.protobuf.Duration. */
export function durationFromMs(ms: number): ProtoDuration {
  const whole = Math.floor(ms / 1000);
  return { seconds: String(whole), nanos: Math.round((ms - whole * 1000) * 1_000_000) };
}

/** Freezes `value` and everything reachable from it; returns it. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) deepFreeze(v);
  }
  return value;
}

/** Plain string order (not locale-dependent), for stable output. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
