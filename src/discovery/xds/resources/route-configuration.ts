// Decodes and validates an Envoy RouteConfiguration into Weft's compiled virtual hosts and routes (gRFC A28 rules).
import type { ProtoObject } from '../protos.js';
import type {
  HeaderMatcher,
  PathMatcher,
  QueryParamMatcher,
  Route,
  RouteAction,
  StringMatcher,
  VirtualHost,
  WeightedCluster,
} from '../../mesh-state.js';
import {
  bool,
  compileSafeRegex,
  decodeRegexMatcher,
  decodeStringMatcher,
  durationMs,
  fail,
  isError,
  list,
  obj,
  ok,
  str,
  strings,
  UINT32_MAX,
  wrapped,
  type Result,
} from './common.js';
import { decodeFaultOverrides } from './fault.js';
import { decodeConcurrencyLimit } from './concurrency-limit.js';
import { decodeRetryPolicy } from './retry-policy.js';
import { decodeHashPolicies } from './hash-policy.js';

/** A validated RouteConfiguration: its virtual hosts (frozen) and every cluster its routes name. */
export interface RouteConfigResource {
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  /** Every cluster named by a route, in first-seen order, without duplicates. */
  readonly clusterNames: readonly string[];
}

/**
 * Validates a decoded RouteConfiguration (proto field names, see protos.ts). Never throws.
 * Refused (NACK), as grpc-js-xds does: a domain with more than one `*` or a `*` in the middle, an unsupported path
 * specifier, a regex that does not compile, weighted clusters whose weights sum to 0 (or above UINT32_MAX),
 * `cluster_specifier_plugin`, `redirect` and `filter_action` actions; also, because Weft cannot represent them yet,
 * `range_match` headers, `runtime_fraction` and `treat_missing_header_as_empty`.
 * Ignored, as grpc-js-xds does: routes whose action is `route.cluster_header` (skipped), hash/mirror policies
 * (read later by the policy layers). `retry_policy` is decoded by retry-policy.ts (refused when invalid). See https://github.com/grpc/proposal/blob/master/A28-xds-traffic-splitting-and-routing.md
 */
export function decodeRouteConfiguration(rc: ProtoObject): Result<RouteConfigResource> {
  const errors: string[] = [];
  if (obj(rc, 'vhds') !== undefined) errors.push('vhds: on-demand virtual hosts are not supported');
  const clusterNames = new Set<string>();
  const virtualHosts: VirtualHost[] = [];
  list(rc, 'virtual_hosts').forEach((vh, i) => {
    const field = `virtual_hosts[${i}]`;
    const domains: string[] = [];
    for (const domain of strings(vh, 'domains')) {
      const star = domain.indexOf('*');
      if (star !== domain.lastIndexOf('*')) errors.push(`${field}.domains: '${domain}' has more than one wildcard`);
      else if (star > 0 && star < domain.length - 1) errors.push(`${field}.domains: '${domain}' has a wildcard in the middle`);
      domains.push(domain.toLowerCase());
    }
    const routes: Route[] = [];
    list(vh, 'routes').forEach((r, j) => {
      const route = decodeRoute(r, `${field}.routes[${j}]`, errors);
      if (route === undefined) return;
      routes.push(route);
      if (route.action.kind === 'forward') for (const c of route.action.clusters) clusterNames.add(c.cluster);
    });
    const faultOverrides = decodeFaultOverrides(vh, field, errors);
    virtualHosts.push(
      Object.freeze({ name: str(vh, 'name'), domains: Object.freeze(domains), routes: Object.freeze(routes), ...(faultOverrides && { faultOverrides }) }),
    );
  });
  if (errors.length > 0) return fail(errors);
  return ok(
    Object.freeze({ name: str(rc, 'name'), virtualHosts: Object.freeze(virtualHosts), clusterNames: Object.freeze([...clusterNames]) }),
  );
}

/** Decodes one Route; pushes problems to `errors`; returns undefined for invalid or skipped routes. */
function decodeRoute(r: ProtoObject, field: string, errors: string[]): Route | undefined {
  const before = errors.length;
  const matched = decodeRouteMatch(r, field, errors);
  if (matched === undefined) return undefined;
  const { match, path, headers } = matched;
  if (obj(match, 'grpc') !== undefined) {
    // Envoy's `grpc: {}` match means "content-type starts with application/grpc"; express it as a header matcher.
    const grpcContentType: HeaderMatcher = {
      name: 'content-type',
      match: Object.freeze({ kind: 'prefix', value: 'application/grpc', ignoreCase: false }),
      invert: false,
    };
    headers.push(Object.freeze(grpcContentType));
  }
  const queryParams: QueryParamMatcher[] = [];
  list(match, 'query_parameters').forEach((q, k) => {
    const decoded = decodeQueryMatcher(q, `${field}.match.query_parameters[${k}]`);
    if (isError(decoded)) errors.push(decoded.error);
    else queryParams.push(decoded);
  });
  if (obj(match, 'runtime_fraction') !== undefined) errors.push(`${field}.match.runtime_fraction: not supported`);
  if (list(match, 'dynamic_metadata').length > 0) errors.push(`${field}.match.dynamic_metadata: not supported`);
  if (obj(match, 'tls_context') !== undefined) errors.push(`${field}.match.tls_context: not supported`);

  const action = decodeAction(r, field, errors);
  const faultOverrides = decodeFaultOverrides(r, field, errors);
  const concurrencyLimit = decodeConcurrencyLimit(r, field, errors);
  if (errors.length > before || path === undefined || action === undefined) return undefined;
  if (action === 'skip') return undefined;
  return Object.freeze({
    name: str(r, 'name'),
    path,
    headers: Object.freeze(headers),
    queryParams: Object.freeze(queryParams),
    action,
    ...(faultOverrides && { faultOverrides }),
    ...(concurrencyLimit && { concurrencyLimit }),
  });
}

/**
 * The part of a Route's match every route shares (client routes and a server's inbound routes): the match itself, its
 * path and its header matchers. Pushes problems to `errors`; undefined when the route has no match at all.
 */
export function decodeRouteMatch(
  r: ProtoObject,
  field: string,
  errors: string[],
): { readonly match: ProtoObject; readonly path: PathMatcher | undefined; readonly headers: HeaderMatcher[] } | undefined {
  const match = obj(r, 'match');
  if (match === undefined) {
    errors.push(`${field}.match: not set`);
    return undefined;
  }
  const path = decodePath(match, `${field}.match`, errors);
  const headers: HeaderMatcher[] = [];
  list(match, 'headers').forEach((h, k) => {
    const decoded = decodeHeaderMatcher(h, `${field}.match.headers[${k}]`);
    if (isError(decoded)) errors.push(decoded.error);
    else headers.push(decoded);
  });
  return { match, path, headers };
}

/** Decodes the path specifier of a RouteMatch (`case_sensitive` defaults to true and does not apply to regexes). */
export function decodePath(match: ProtoObject, field: string, errors: string[]): PathMatcher | undefined {
  const ignoreCase = wrapped<boolean>(match, 'case_sensitive') === false;
  const specifier = str(match, 'path_specifier');
  switch (specifier) {
    case 'prefix':
      return Object.freeze({ kind: 'prefix', value: str(match, 'prefix'), ignoreCase });
    case 'path':
      return Object.freeze({ kind: 'exact', value: str(match, 'path'), ignoreCase });
    case 'path_separated_prefix': {
      const value = str(match, 'path_separated_prefix');
      if (!value.startsWith('/') || (value.length > 1 && value.endsWith('/')) || /[?#]/.test(value)) {
        errors.push(`${field}.path_separated_prefix: '${value}' must start with '/', not end with '/' and have no '?' or '#'`);
        return undefined;
      }
      return Object.freeze({ kind: 'separated-prefix', value, ignoreCase });
    }
    case 'safe_regex': {
      const value = str(obj(match, 'safe_regex'), 'regex');
      const regex = compileSafeRegex(value);
      if (!(regex instanceof RegExp)) {
        errors.push(`${field}.safe_regex: ${regex.error}`);
        return undefined;
      }
      return Object.freeze({ kind: 'regex', value, regex });
    }
    case '':
      errors.push(`${field}: no path specifier set`);
      return undefined;
    default:
      errors.push(`${field}: path specifier '${specifier}' is not supported`);
      return undefined;
  }
}

/** Decodes a HeaderMatcher, including the legacy `*_match` fields and `present_match: false` (= absent). */
export function decodeHeaderMatcher(h: ProtoObject, field: string): HeaderMatcher | { error: string } {
  const name = str(h, 'name').toLowerCase();
  if (name === '') return { error: `${field}.name: must not be empty` };
  if (bool(h, 'treat_missing_header_as_empty')) return { error: `${field}.treat_missing_header_as_empty: not supported` };
  let invert = bool(h, 'invert_match');
  const specifier = str(h, 'header_match_specifier');
  let match: HeaderMatcher['match'];
  switch (specifier) {
    case 'string_match': {
      const m = decodeStringMatcher(obj(h, 'string_match') ?? {}, `${field}.string_match`);
      if (isError(m)) return m;
      match = m;
      break;
    }
    case 'exact_match':
    case 'prefix_match':
    case 'suffix_match':
    case 'contains_match': {
      const kind = specifier.slice(0, -'_match'.length) as 'exact' | 'prefix' | 'suffix' | 'contains';
      match = { kind, value: str(h, specifier), ignoreCase: false } satisfies StringMatcher;
      break;
    }
    case 'safe_regex_match': {
      const m = decodeRegexMatcher(obj(h, 'safe_regex_match'), `${field}.safe_regex_match`);
      if (isError(m)) return m;
      match = m;
      break;
    }
    case 'present_match':
      match = { kind: 'present' };
      if (!bool(h, 'present_match')) invert = !invert; // present_match: false means "header is absent"
      break;
    case '':
      match = { kind: 'present' }; // Envoy: no specifier = the header must be present
      break;
    default:
      return { error: `${field}.${specifier}: not supported` };
  }
  return Object.freeze({ name, match: Object.freeze(match), invert });
}

/** Decodes a QueryParameterMatcher (`string_match` or `present_match`; neither = present). */
function decodeQueryMatcher(q: ProtoObject, field: string): QueryParamMatcher | { error: string } {
  const name = str(q, 'name');
  if (name === '') return { error: `${field}.name: must not be empty` };
  const specifier = str(q, 'query_parameter_match_specifier');
  if (specifier === 'string_match') {
    const m = decodeStringMatcher(obj(q, 'string_match') ?? {}, `${field}.string_match`);
    return isError(m) ? m : Object.freeze({ name, match: Object.freeze(m) });
  }
  if (specifier === 'present_match' && !bool(q, 'present_match')) {
    return { error: `${field}.present_match: false is not supported` };
  }
  return Object.freeze({ name, match: Object.freeze({ kind: 'present' as const }) });
}

/** Decodes a route's action; 'skip' for routes grpc-js-xds ignores (cluster_header). */
function decodeAction(r: ProtoObject, field: string, errors: string[]): RouteAction | 'skip' | undefined {
  const kind = str(r, 'action');
  switch (kind) {
    case 'route':
      return decodeRouteAction(obj(r, 'route') ?? {}, `${field}.route`, errors, r);
    case 'direct_response': {
      const d = obj(r, 'direct_response') ?? {};
      const status = Number(d['status'] ?? 0);
      if (!Number.isInteger(status) || status < 200 || status > 599) {
        errors.push(`${field}.direct_response.status: ${status} is not an HTTP status (200-599)`);
        return undefined;
      }
      const body = obj(d, 'body');
      const specifier = str(body, 'specifier');
      let text = '';
      if (specifier === 'inline_string') text = str(body, 'inline_string');
      else if (specifier === 'inline_bytes') text = Buffer.from((body?.['inline_bytes'] as Uint8Array | undefined) ?? []).toString('utf8');
      else if (specifier !== '') {
        errors.push(`${field}.direct_response.body.${specifier}: not supported (use inline_string or inline_bytes)`);
        return undefined;
      }
      return Object.freeze({ kind: 'direct', status, body: text });
    }
    case 'non_forwarding_action':
      // Server-side only (gRFC A36); a client that matches such a route fails the call, as grpc does.
      return Object.freeze({ kind: 'direct', status: 503, body: 'route has a non_forwarding_action, which only servers use' });
    case '':
      errors.push(`${field}: no action set`);
      return undefined;
    default:
      errors.push(`${field}.${kind}: action not supported`);
      return undefined;
  }
}

/** Decodes a RouteAction: cluster or weighted_clusters, and the timeout (max_stream_duration wins, gRFC A31). */
function decodeRouteAction(a: ProtoObject, field: string, errors: string[], route: ProtoObject = {}): RouteAction | 'skip' | undefined {
  const specifier = str(a, 'cluster_specifier');
  let clusters: WeightedCluster[];
  switch (specifier) {
    case 'cluster': {
      const name = str(a, 'cluster');
      if (name === '') {
        errors.push(`${field}.cluster: must not be empty`);
        return undefined;
      }
      clusters = [{ cluster: name, weight: 1 }];
      break;
    }
    case 'weighted_clusters': {
      clusters = [];
      let sum = 0;
      list(obj(a, 'weighted_clusters'), 'clusters').forEach((c, k) => {
        const name = str(c, 'name');
        const weight = wrapped<number>(c, 'weight') ?? 0;
        if (name === '') errors.push(`${field}.weighted_clusters.clusters[${k}].name: must not be empty (cluster_header is not supported)`);
        sum += weight;
        if (weight > 0) clusters.push(Object.freeze({ cluster: name, weight }));
      });
      if (sum === 0) {
        errors.push(`${field}.weighted_clusters: the weights sum to 0`);
        return undefined;
      }
      if (sum > UINT32_MAX) {
        errors.push(`${field}.weighted_clusters: the weights sum to more than UINT32_MAX`);
        return undefined;
      }
      break;
    }
    case 'cluster_header':
      return 'skip'; // grpc-js-xds ignores such routes rather than refusing the whole RouteConfiguration
    case '':
      errors.push(`${field}: no cluster specifier set`);
      return undefined;
    default:
      errors.push(`${field}.${specifier}: cluster specifier not supported`);
      return undefined;
  }
  const timeout = durationMs(a, 'timeout');
  const msd = durationMs(obj(a, 'max_stream_duration'), 'max_stream_duration');
  if (isError(timeout)) errors.push(`${field}.${timeout.error}`);
  if (isError(msd)) errors.push(`${field}.max_stream_duration.${msd.error}`);
  const retry = decodeRetryPolicy(route, a, field, errors);
  if (isError(timeout) || isError(msd) || (obj(a, 'retry_policy') !== undefined && retry === undefined)) return undefined;
  // gRFC A31: max_stream_duration, when set, wins over timeout; 0 means "no timeout".
  const chosen = msd !== undefined ? msd : timeout;
  const totalWeight = clusters.reduce((s, c) => s + c.weight, 0);
  const hashPolicy = decodeHashPolicies(a);
  return Object.freeze({
    kind: 'forward',
    clusters: Object.freeze(clusters),
    totalWeight,
    timeoutMs: chosen === 0 ? undefined : chosen,
    ...(retry !== undefined ? { retry } : {}),
    ...(hashPolicy !== undefined ? { hashPolicy } : {}),
  });
}
