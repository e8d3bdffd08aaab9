// Decodes and validates an inbound (server) Listener: its filter chains, each one HttpConnectionManager whose HTTP
// filters (jwt_authn, RBAC, local_ratelimit, router) and inline routes make a server's InboundPolicy.
import type {
  InboundChain,
  InboundHttpFilter,
  InboundPolicy,
  InboundRoute,
  InboundVirtualHost,
  TokenBucketSpec,
} from '../../inbound-policy.js';
import type { HeaderMatcher } from '../../mesh-state.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, bool, fail, isError, list, obj, ok, str, strings, type Result } from './common.js';
import { decodeJwtAuthn } from './jwt-authn.js';
import { decodeLocalRateLimit, decodeLocalRateLimitOverride } from './local-ratelimit.js';
import { decodeRbacFilter } from './rbac.js';
import { decodeRouteMatch } from './route-configuration.js';
import { decodeHcmTelemetry } from './telemetry.js';
import { NO_TELEMETRY, type TelemetryPolicy } from '../../telemetry-policy.js';

/** A validated inbound Listener: the policy a server enforces. */
export interface InboundListenerResource {
  readonly kind: 'inbound';
  readonly name: string;
  readonly policy: InboundPolicy;
}

/** filter_chain_match fields a chain may set (others would select connections Weft cannot tell apart: refused). */
const CHAIN_MATCH_FIELDS = ['destination_port', 'prefix_ranges', 'direct_source_prefix_ranges', 'source_prefix_ranges', 'source_ports', 'server_names'];

/**
 * Validates a decoded server Listener (proto field names) into an InboundListenerResource. Never throws; returns
 * every problem. Rules: no `api_listener`; at least one filter chain (or a default one); each chain holds exactly one
 * network filter, an HttpConnectionManager with an inline `route_config` whose routes all use
 * `non_forwarding_action`; its `http_filters` end with the router; jwt_authn, RBAC and local_ratelimit configs are
 * decoded (rbac.ts, jwt-authn.ts, local-ratelimit.ts: a bad one is refused even when `is_optional`, since Weft would
 * enforce it); any other filter is refused unless `is_optional` (then ignored). A chain with `transport_socket` or
 * `transport_protocol: tls` takes only TLS connections. Per-route `RBACPerRoute` overrides are refused.
 */
export function decodeInboundListener(listener: ProtoObject): Result<InboundListenerResource> {
  const errors: string[] = [];
  const name = str(listener, 'name');
  if (obj(listener, 'api_listener') !== undefined) errors.push('api_listener: an inbound Listener is a server Listener (filter_chains), not an api_listener');
  if (list(listener, 'listener_filters').length > 0) errors.push('listener_filters: not supported');
  const telemetries: TelemetryPolicy[] = [];
  const chains = list(listener, 'filter_chains').map((c, i) => decodeChain(c, `filter_chains[${i}]`, errors, telemetries));
  const fallback = obj(listener, 'default_filter_chain');
  const defaultChain = fallback === undefined ? undefined : decodeChain(fallback, 'default_filter_chain', errors, telemetries);
  if (chains.length === 0 && defaultChain === undefined) errors.push('filter_chains: empty (a server needs at least one filter chain)');
  if (errors.length > 0) return fail(errors);
  // Telemetry is per server, not per connection: the first chain's HCM decides (Weft's control plane writes the same on all).
  const policy: InboundPolicy = Object.freeze({ listener: name, chains: Object.freeze(chains as InboundChain[]), defaultChain, telemetry: telemetries[0] ?? NO_TELEMETRY });
  return ok(Object.freeze({ kind: 'inbound', name, policy }));
}

function decodeChain(chain: ProtoObject, field: string, errors: string[], telemetries: TelemetryPolicy[]): InboundChain | undefined {
  const before = errors.length;
  const match = obj(chain, 'filter_chain_match');
  for (const key of CHAIN_MATCH_FIELDS) {
    const v = match?.[key];
    if ((Array.isArray(v) && v.length > 0) || (key === 'destination_port' && obj(match, key) !== undefined)) {
      errors.push(`${field}.filter_chain_match.${key}: not supported (Weft picks chains by transport_protocol only)`);
    }
  }
  const transport = str(match, 'transport_protocol');
  if (transport !== '' && transport !== 'tls' && transport !== 'raw_buffer') {
    errors.push(`${field}.filter_chain_match.transport_protocol: '${transport}' is not supported (tls or raw_buffer)`);
  }
  // The chain's TLS: a DownstreamTlsContext (Weft terminates TLS with its workload certificate, requiring the client's).
  const socket = obj(chain, 'transport_socket');
  const socketType = anyTypeUrl(obj(socket, 'typed_config'));
  const tls = socket !== undefined && !socketType.endsWith('raw_buffer.v3.RawBuffer');
  if (tls && socketType !== TYPE_URL.downstreamTlsContext) {
    errors.push(`${field}.transport_socket: '${str(socket, 'name') || socketType}' is not supported (only a TLS DownstreamTlsContext, or raw_buffer)`);
  }
  const filters = list(chain, 'filters');
  if (filters.length !== 1) {
    errors.push(`${field}.filters: must hold exactly one network filter, an HttpConnectionManager (has ${filters.length})`);
    return undefined;
  }
  const hcm = obj(filters[0], 'typed_config');
  if (anyTypeUrl(hcm) !== TYPE_URL.httpConnectionManager) {
    errors.push(`${field}.filters[0].typed_config: type '${anyTypeUrl(hcm)}' is not an HttpConnectionManager`);
    return undefined;
  }
  const at = `${field}.filters[0].typed_config`;
  const httpFilters = decodeHttpFilters(hcm ?? {}, `${at}.http_filters`, errors);
  telemetries.push(decodeHcmTelemetry(hcm ?? {}, at, errors));
  if (str(hcm, 'route_specifier') !== 'route_config') {
    errors.push(`${at}: needs an inline route_config (rds is not supported for inbound Listeners)`);
    return undefined;
  }
  const rateLimitNames = new Set(httpFilters.filter((f) => f.kind === 'local-ratelimit').map((f) => f.name));
  const virtualHosts = decodeRoutes(obj(hcm, 'route_config') ?? {}, `${at}.route_config`, rateLimitNames, errors);
  if (errors.length > before) return undefined;
  return Object.freeze({
    name: str(chain, 'name'),
    tlsOnly: transport === 'tls' || tls,
    plaintextOnly: transport === 'raw_buffer',
    filters: Object.freeze(httpFilters),
    virtualHosts: Object.freeze(virtualHosts),
  });
}

function decodeHttpFilters(hcm: ProtoObject, field: string, errors: string[]): InboundHttpFilter[] {
  const filters = list(hcm, 'http_filters');
  const out: InboundHttpFilter[] = [];
  const names = new Set<string>();
  if (filters.length === 0) errors.push(`${field}: empty; the router filter must be present and last`);
  filters.forEach((f, i) => {
    const at = `${field}[${i}]`;
    const name = str(f, 'name');
    if (names.has(name)) errors.push(`${at}.name: duplicate filter name '${name}'`);
    names.add(name);
    const config = obj(f, 'typed_config');
    const type = anyTypeUrl(config);
    const last = i === filters.length - 1;
    if (type === TYPE_URL.router) {
      if (!last) errors.push(`${at}: the router filter must be the last filter`);
      return;
    }
    if (last) errors.push(`${at}: the last filter must be the router, not '${type}'`);
    const decoded = decodeHttpFilter(config ?? {}, type, name, `${at}.typed_config`);
    if (decoded === 'unknown') {
      if (!bool(f, 'is_optional')) errors.push(`${at}: filter '${name}' of type '${type}' is not supported and not is_optional`);
    } else if (decoded === undefined) return; // an RBAC filter without rules enforces nothing
    else if ('errors' in decoded) errors.push(...decoded.errors);
    else out.push(decoded);
  });
  return out;
}

function decodeHttpFilter(config: ProtoObject, type: string, name: string, field: string): InboundHttpFilter | undefined | 'unknown' | { errors: string[] } {
  switch (type) {
    case TYPE_URL.rbac:
      return decodeRbacFilter(config, name, field);
    case TYPE_URL.jwtAuthn:
      return decodeJwtAuthn(config, name, field);
    case TYPE_URL.localRateLimit: {
      const bucket = decodeLocalRateLimit(config, field);
      if (bucket !== null && 'errors' in bucket) return bucket;
      return Object.freeze({ kind: 'local-ratelimit', name, bucket: bucket ?? undefined });
    }
    default:
      return 'unknown';
  }
}

function decodeRoutes(rc: ProtoObject, field: string, rateLimitNames: ReadonlySet<string>, errors: string[]): InboundVirtualHost[] {
  return list(rc, 'virtual_hosts').map((vh, i) => {
    const at = `${field}.virtual_hosts[${i}]`;
    checkOverrides(vh, at, rateLimitNames, errors, 'virtual host');
    const routes: InboundRoute[] = [];
    list(vh, 'routes').forEach((r, j) => {
      const route = decodeRoute(r, `${at}.routes[${j}]`, rateLimitNames, errors);
      if (route !== undefined) routes.push(route);
    });
    return Object.freeze({ name: str(vh, 'name'), domains: Object.freeze(strings(vh, 'domains').map((d) => d.toLowerCase())), routes: Object.freeze(routes) });
  });
}

function decodeRoute(r: ProtoObject, field: string, rateLimitNames: ReadonlySet<string>, errors: string[]): InboundRoute | undefined {
  const before = errors.length;
  const matched = decodeRouteMatch(r, field, errors);
  if (matched === undefined) return undefined;
  const { match, path, headers } = matched;
  for (const unsupported of ['query_parameters', 'dynamic_metadata']) {
    if (list(match, unsupported).length > 0) errors.push(`${field}.match.${unsupported}: not supported on inbound routes`);
  }
  if (str(r, 'action') !== 'non_forwarding_action') {
    errors.push(`${field}: action '${str(r, 'action') || 'none'}' is not supported on a server (use non_forwarding_action)`);
  }
  const rateLimits = checkOverrides(r, field, rateLimitNames, errors, 'route');
  if (errors.length > before || path === undefined) return undefined;
  return Object.freeze({ name: str(r, 'name'), path, headers: Object.freeze(headers), ...(rateLimits && { rateLimits }) });
}

/**
 * Reads `typed_per_filter_config`: local_ratelimit overrides (routes only) by filter name; RBAC overrides are refused
 * (they would change who gets in per route); other filters' entries are left alone, as Envoy leaves unknown ones.
 */
function checkOverrides(
  holder: ProtoObject,
  field: string,
  rateLimitNames: ReadonlySet<string>,
  errors: string[],
  where: 'route' | 'virtual host',
): ReadonlyMap<string, TokenBucketSpec | null> | undefined {
  const map = obj(holder, 'typed_per_filter_config');
  if (map === undefined) return undefined;
  let out: Map<string, TokenBucketSpec | null> | undefined;
  for (const [name, value] of Object.entries(map)) {
    if (typeof value !== 'object' || value === null) continue;
    const config = value as ProtoObject;
    const at = `${field}.typed_per_filter_config['${name}']`;
    const inner = anyTypeUrl(config) === TYPE_URL.filterConfig ? obj(config, 'config') : config;
    const type = anyTypeUrl(inner);
    if (type === 'type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBACPerRoute' || type === TYPE_URL.rbac) {
      errors.push(`${at}: per-${where} RBAC overrides are not supported`);
      continue;
    }
    if (!rateLimitNames.has(name) && type !== TYPE_URL.localRateLimit) continue;
    if (where === 'virtual host') {
      errors.push(`${at}: per-virtual-host rate limits are not supported (set them per route)`);
      continue;
    }
    if (!rateLimitNames.has(name)) {
      errors.push(`${at}: no local_ratelimit filter named '${name}' in the HCM`);
      continue;
    }
    const bucket = decodeLocalRateLimitOverride(config, at);
    if (bucket !== null && 'errors' in bucket) errors.push(...bucket.errors);
    else (out ??= new Map()).set(name, bucket);
  }
  return out;
}
