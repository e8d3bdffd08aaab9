// Builds a Service's RouteConfiguration from the HTTPRoutes and GRPCRoutes attached to it, in Gateway API
// precedence order (docs/xds-mapping.md "RouteConfiguration").
import type { GRPCRouteMatch, GRPCRouteRule } from '../config/grpc-route-schema.js';
import type { HTTPRouteMatch, HTTPRouteRule } from '../config/http-route-schema.js';
import { parseGatewayDurationMs } from '../config/duration.js';
import type { ConcurrencyLimitResource, FaultInjectionResource, RouteResource, ServiceResource } from '../config/mesh-config.js';
import type { BackendRef, HeaderMatch } from '../config/schema.js';
import type { XdsResource } from '../model.js';
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { FAULT_FILTER_NAME, faultHeaderMatchers, httpFaultConfig, ruleFault } from './fault.js';
import { grpcRetryPolicyFor, nonIdempotentRuleSet, retryPolicyFor } from './retry.js';
import { concurrencyLimitStruct } from './concurrency-limit.js';
import { filterRef } from '../config/rule-filters-schema.js';
import { grpcMethodPattern } from '../config/regex.js';
import { clusterName, compareStrings, defaultRouteName, durationFromMs, routeName } from './names.js';

/** How specific a match is, in the order Gateway API ranks matches (earlier fields weigh more). */
export interface MatchPrecedence {
  /** 0 Exact path, 1 RegularExpression path, 2 PathPrefix (and every prefix-like gRPC match). */
  readonly pathRank: 0 | 1 | 2;
  /** Within prefixes: longer first (characters of the prefix; a gRPC method-only match counts 1.5, `/` counts 1). */
  readonly prefixLength: number;
  readonly hasMethod: boolean;
  readonly headerCount: number;
  readonly queryCount: number;
}

/** One Gateway API match, ready to be placed among the others. */
interface Candidate {
  readonly precedence: MatchPrecedence;
  readonly kind: string;
  readonly routeName: string;
  readonly rule: number;
  readonly match: number;
  /** The Envoy routes it becomes (two for a PathPrefix other than `/`), in order. */
  readonly routes: readonly ProtoObject[];
}

/**
 * Orders two matches by Gateway API precedence: Exact path, then RegularExpression, then PathPrefix (longer first);
 * then a method match; more header matches; more query matches; then route name, kind, rule index, match index.
 */
export function comparePrecedence(
  a: { precedence: MatchPrecedence; routeName: string; kind: string; rule: number; match: number },
  b: { precedence: MatchPrecedence; routeName: string; kind: string; rule: number; match: number },
): number {
  const p = a.precedence;
  const q = b.precedence;
  return (
    p.pathRank - q.pathRank ||
    q.prefixLength - p.prefixLength ||
    Number(q.hasMethod) - Number(p.hasMethod) ||
    q.headerCount - p.headerCount ||
    q.queryCount - p.queryCount ||
    compareStrings(a.routeName, b.routeName) ||
    compareStrings(a.kind, b.kind) ||
    a.rule - b.rule ||
    a.match - b.match
  );
}

/**
 * The RouteConfiguration named after `service`: one virtual host (`domains: ['*']`) whose routes are every match
 * of every rule of `attached`, in precedence order; or, with nothing attached, one `prefix: /` route to the
 * Service's own cluster of `port` (default its first port; then the configuration is named `<service>:<port>`, for
 * the per-port Listener, so `http://payments:9090` and `weft:///payments:9090` reach port 9090). `services` resolves
 * backendRefs (the config is validated: every one exists); `extensions` resolves rule filters by name
 * (FaultInjection, see translate/fault.ts; ConcurrencyLimit, see translate/concurrency-limit.ts).
 */
export function buildRouteConfiguration(
  service: ServiceResource,
  attached: readonly RouteResource[],
  services: ReadonlyMap<string, ServiceResource>,
  extensions: RuleExtensions = {},
  port?: number,
): XdsResource {
  const name = port === undefined ? service.metadata.name : `${service.metadata.name}:${port}`;
  let routes: ProtoObject[];
  if (attached.length === 0) {
    const firstPort = port ?? service.spec.ports[0]!.port;
    routes = [
      {
        name: defaultRouteName(service.metadata.name),
        match: { prefix: '/' },
        route: { weighted_clusters: { clusters: [{ name: clusterName(service.metadata.name, firstPort), weight: { value: 1 } }] } },
      },
    ];
  } else {
    const candidates = attached.flatMap((r) => candidatesOf(r, services, extensions));
    candidates.sort(comparePrecedence);
    routes = candidates.flatMap((c) => c.routes);
  }
  return {
    '@type': TYPE_URL.routeConfiguration,
    name,
    virtual_hosts: [{ name, domains: ['*'], routes }],
  };
}

/** The resources rule filters may name, by name: what ExtensionRef filters resolve to. */
export interface RuleExtensions {
  readonly faults?: ReadonlyMap<string, FaultInjectionResource>;
  readonly limits?: ReadonlyMap<string, ConcurrencyLimitResource>;
}

function candidatesOf(route: RouteResource, services: ReadonlyMap<string, ServiceResource>, extensions: RuleExtensions): Candidate[] {
  const faults = extensions.faults ?? new Map<string, FaultInjectionResource>();
  const out: Candidate[] = [];
  const optIn = nonIdempotentRuleSet(route);
  route.spec.rules.forEach((rule, i) => {
    const action = routeAction(rule.backendRefs, rule.timeouts?.request, services);
    const retryPolicy = route.kind === 'HTTPRoute' ? retryPolicyFor(rule as HTTPRouteRule, optIn.has(i)) : grpcRetryPolicyFor(rule as GRPCRouteRule);
    if (retryPolicy !== undefined) action['retry_policy'] = retryPolicy;
    const fault = ruleFault(rule.filters, faults)?.spec;
    // Weft's route metadata (docs/xds-mapping.md): the non-idempotent retry opt-in and the rule's concurrency limit.
    const limitName = filterRef(rule.filters, 'ConcurrencyLimit');
    const limit = limitName === undefined ? undefined : extensions.limits?.get(limitName);
    const fields: Record<string, ProtoObject> = {};
    if (optIn.has(i)) fields['retryNonIdempotent'] = { boolValue: true };
    if (limit !== undefined) fields['concurrencyLimit'] = concurrencyLimitStruct(limit.spec, `${route.kind}/${route.metadata.name}/rules/${i}`);
    const metadata = Object.keys(fields).length > 0 ? { filter_metadata: { weft: { fields } } } : undefined;
    const perFilter = fault === undefined ? undefined : { [FAULT_FILTER_NAME]: httpFaultConfig(fault) };
    rule.matches.forEach((m, j) => {
      const name = routeName(route.kind, route.metadata.name, i, j);
      const { precedence, paths, headers, queryParameters } =
        route.kind === 'HTTPRoute' ? httpMatch(m as HTTPRouteMatch) : grpcMatch(m as GRPCRouteMatch);
      const routes = paths.flatMap((path): ProtoObject[] => {
        const match: ProtoObject = { ...path };
        if (headers.length > 0) match['headers'] = headers;
        if (queryParameters.length > 0) match['query_parameters'] = queryParameters;
        if (fault === undefined || perFilter === undefined) return [{ name, match, route: action }];
        if (fault.headers.length === 0) return [{ name, match, route: action, typed_per_filter_config: perFilter }];
        // A header-gated fault becomes a route of its own just before the plain one: every client then applies it
        // only to matching requests, including grpc-js-xds, which ignores HTTPFault.headers (gRFC A33 defers them).
        const gated = { ...match, headers: [...headers, ...faultHeaderMatchers(fault.headers)] };
        return [{ name, match: gated, route: action, typed_per_filter_config: perFilter }, { name, match, route: action }];
      });
      if (metadata !== undefined) for (const r of routes) r['metadata'] = metadata;
      out.push({ precedence, kind: route.kind, routeName: route.metadata.name, rule: i, match: j, routes });
    });
  });
  return out;
}

interface TranslatedMatch {
  readonly precedence: MatchPrecedence;
  /** Path specifiers of the Envoy RouteMatch (`path`, `prefix` or `safe_regex`), one Envoy route each. */
  readonly paths: readonly ProtoObject[];
  readonly headers: readonly ProtoObject[];
  readonly queryParameters: readonly ProtoObject[];
}

function stringMatch(type: HeaderMatch['type'], value: string): ProtoObject {
  return type === 'Exact' ? { exact: value } : { safe_regex: { regex: value } };
}

function headerMatchers(list: readonly HeaderMatch[]): ProtoObject[] {
  return list.map((h) => ({ name: h.name.toLowerCase(), string_match: stringMatch(h.type, h.value) }));
}

/** HTTPRoute match: PathPrefix `/a/b` → `path: /a/b` and `prefix: /a/b/` (path-element semantics; trailing `/` ignored). */
function httpMatch(m: HTTPRouteMatch): TranslatedMatch {
  const headers = headerMatchers(m.headers);
  if (m.method !== undefined) headers.unshift({ name: ':method', string_match: { exact: m.method } });
  const queryParameters = m.queryParams.map((q) => ({ name: q.name, string_match: stringMatch(q.type, q.value) }));
  const common = { hasMethod: m.method !== undefined, headerCount: m.headers.length, queryCount: m.queryParams.length };
  const { type, value } = m.path;
  if (type === 'Exact') {
    return { precedence: { pathRank: 0, prefixLength: 0, ...common }, paths: [{ path: value }], headers, queryParameters };
  }
  if (type === 'RegularExpression') {
    return { precedence: { pathRank: 1, prefixLength: 0, ...common }, paths: [{ safe_regex: { regex: value } }], headers, queryParameters };
  }
  const prefix = value.replace(/\/+$/, '');
  const paths = prefix === '' ? [{ prefix: '/' }] : [{ path: prefix }, { prefix: `${prefix}/` }];
  return { precedence: { pathRank: 2, prefixLength: Math.max(prefix.length, 1), ...common }, paths, headers, queryParameters };
}

/**
 * GRPCRoute match → path of `/<service>/<method>`: both exact → `path`; service only → `prefix: /s/`;
 * method only → `safe_regex: /[^/]+/m`; RegularExpression → `safe_regex: /(?:s)/(?:m)`; no method → `prefix: /`.
 */
function grpcMatch(m: GRPCRouteMatch): TranslatedMatch {
  const headers = headerMatchers(m.headers);
  const common = { hasMethod: false, headerCount: m.headers.length, queryCount: 0 };
  const mm = m.method;
  const result = (pathRank: 0 | 1 | 2, prefixLength: number, path: ProtoObject): TranslatedMatch => ({
    precedence: { pathRank, prefixLength, ...common },
    paths: [path],
    headers,
    queryParameters: [],
  });
  if (mm === undefined) return result(2, 1, { prefix: '/' });
  if (mm.type === 'RegularExpression') {
    return result(1, 0, { safe_regex: { regex: grpcMethodPattern(mm.service, mm.method) } });
  }
  const service = mm.service?.replace(/^\./, '');
  if (service !== undefined && mm.method !== undefined) return result(0, 0, { path: `/${service}/${mm.method}` });
  if (service !== undefined) return result(2, service.length + 1, { prefix: `/${service}/` });
  return result(2, 1.5, { safe_regex: { regex: `/[^/]+/${mm.method!}` } });
}

/** RouteAction: weighted_clusters (weight-0 backends left out, repeats merged) and, if set, the request timeout. */
function routeAction(
  backendRefs: readonly BackendRef[],
  timeout: string | undefined,
  services: ReadonlyMap<string, ServiceResource>,
): ProtoObject {
  const weights = new Map<string, number>();
  for (const ref of backendRefs) {
    if (ref.weight === 0) continue;
    const port = ref.port ?? services.get(ref.name)?.spec.ports[0]?.port;
    if (port === undefined) continue; // unreachable for a validated config
    const cluster = clusterName(ref.name, port);
    weights.set(cluster, (weights.get(cluster) ?? 0) + ref.weight);
  }
  const action: ProtoObject = {
    weighted_clusters: { clusters: [...weights].map(([name, value]) => ({ name, weight: { value } })) },
  };
  const timeoutMs = timeout === undefined ? undefined : parseGatewayDurationMs(timeout);
  if (timeoutMs !== undefined && timeoutMs > 0) {
    action['timeout'] = durationFromMs(timeoutMs);
    action['max_stream_duration'] = { max_stream_duration: durationFromMs(timeoutMs) };
  }
  return action;
}
