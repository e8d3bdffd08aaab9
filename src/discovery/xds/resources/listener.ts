// Decodes and validates a client-side Envoy Listener (api_listener + HttpConnectionManager) into the route source it names.
import type { FaultFilter } from '../../mesh-state.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, bool, fail, list, obj, ok, str, type Result } from './common.js';
import { decodeHttpFault } from './fault.js';
import { decodeRouteConfiguration, type RouteConfigResource } from './route-configuration.js';
import { decodeHcmTelemetry } from './telemetry.js';
import type { TelemetryPolicy } from '../../telemetry-policy.js';

/** A validated client Listener: where its routes come from, and the HTTP filters it runs (router last). */
export interface ListenerResource {
  readonly name: string;
  /** RouteConfiguration to fetch over RDS; undefined when the routes are inline. */
  readonly routeConfigName: string | undefined;
  /** Routes carried inline in the HCM (`route_config`); undefined when they come over RDS. */
  readonly inlineRouteConfig: RouteConfigResource | undefined;
  /** Type URLs of the HTTP filters, in order, without the ignored optional ones; the router is always last. */
  readonly httpFilters: readonly string[];
  /** The HCM's fault filters (Envoy HTTPFault, gRFC A33) in chain order, with their filter-level config. */
  readonly faultFilters: readonly FaultFilter[];
  /** The HCM's `tracing` and `access_log` (telemetry.ts); NO_TELEMETRY when it has neither. */
  readonly telemetry: TelemetryPolicy;
}

/** TypedStruct wrappers: the filter's real type is the `type_url` field inside. */
const TYPED_STRUCT_URLS = new Set(['type.googleapis.com/xds.type.v3.TypedStruct', 'type.googleapis.com/udpa.type.v1.TypedStruct']);

/**
 * HTTP filter types a client Listener may carry. The router must be last. The fault filter (gRFC A33) is decoded into
 * `faultFilters` and applied by the SDK's fault layer. Any other filter is refused unless marked `is_optional`.
 */
export const KNOWN_CLIENT_HTTP_FILTERS: ReadonlySet<string> = new Set([
  TYPE_URL.router,
  TYPE_URL.httpFault,
]);

/**
 * Validates a decoded Listener (proto field names, see protos.ts). Never throws; returns every problem found.
 * Rules (as grpc-js-xds, gRFC A27/A39): `api_listener.api_listener` must be an HttpConnectionManager; HCM routes come
 * from `rds` whose `config_source` is `ads` or `self`, or from an inline `route_config` (validated like RDS);
 * `http_filters` must end with the router and contain it only there; filter names are unique; a filter whose type
 * is not in KNOWN_CLIENT_HTTP_FILTERS is an error unless `is_optional` (then it is ignored).
 */
export function decodeListener(listener: ProtoObject): Result<ListenerResource> {
  const errors: string[] = [];
  const hcm = obj(obj(listener, 'api_listener'), 'api_listener');
  if (hcm === undefined) return fail(['api_listener: not set (a client Listener needs an api_listener)']);
  const hcmType = anyTypeUrl(hcm);
  if (hcmType !== TYPE_URL.httpConnectionManager) {
    return fail([`api_listener.api_listener: type '${hcmType}' is not an HttpConnectionManager`]);
  }
  const field = 'api_listener.api_listener';
  const faultFilters: FaultFilter[] = [];
  const httpFilters = decodeFilters(hcm, `${field}.http_filters`, errors, faultFilters);
  const telemetry = decodeHcmTelemetry(hcm, field, errors);

  let routeConfigName: string | undefined;
  let inlineRouteConfig: RouteConfigResource | undefined;
  const specifier = str(hcm, 'route_specifier');
  if (specifier === 'rds') {
    const rds = obj(hcm, 'rds');
    const source = obj(rds, 'config_source');
    if (obj(source, 'ads') === undefined && obj(source, 'self') === undefined) {
      errors.push(`${field}.rds.config_source: must be ads or self (this client only speaks ADS)`);
    }
    routeConfigName = str(rds, 'route_config_name');
    if (routeConfigName === '') errors.push(`${field}.rds.route_config_name: must not be empty`);
  } else if (specifier === 'route_config') {
    const inline = decodeRouteConfiguration(obj(hcm, 'route_config') ?? {});
    if (inline.ok) inlineRouteConfig = inline.value;
    else errors.push(...inline.errors.map((e) => `${field}.route_config.${e}`));
  } else {
    errors.push(`${field}: route specifier '${specifier || 'none'}' is not supported (use rds or route_config)`);
  }
  if (errors.length > 0) return fail(errors);
  return ok(
    Object.freeze({
      name: str(listener, 'name'),
      routeConfigName,
      inlineRouteConfig,
      httpFilters: Object.freeze(httpFilters),
      faultFilters: faultFilters.length === 0 ? NO_FAULT_FILTERS : Object.freeze(faultFilters),
      telemetry,
    }),
  );
}

/** Shared empty list, so listeners without a fault filter compare equal by identity. */
const NO_FAULT_FILTERS: readonly FaultFilter[] = Object.freeze([]);

/** Validates the HCM filter chain; returns the type URLs of the filters kept and collects the fault filters. */
function decodeFilters(hcm: ProtoObject, field: string, errors: string[], faults: FaultFilter[]): string[] {
  const filters = list(hcm, 'http_filters');
  if (filters.length === 0) {
    errors.push(`${field}: empty; the router filter must be present and last`);
    return [];
  }
  const names = new Set<string>();
  const kept: string[] = [];
  filters.forEach((f, i) => {
    const name = str(f, 'name');
    const at = `${field}[${i}]`;
    if (names.has(name)) errors.push(`${at}.name: duplicate filter name '${name}'`);
    names.add(name);
    const optional = bool(f, 'is_optional');
    const config = obj(f, 'typed_config');
    if (config === undefined) {
      if (!optional) errors.push(`${at}: filter '${name}' has no typed_config`);
      return;
    }
    const typeUrl = filterTypeUrl(config);
    const isLast = i === filters.length - 1;
    if (typeUrl === TYPE_URL.router && !isLast) errors.push(`${at}: the router filter must be the last filter`);
    if (isLast && typeUrl !== TYPE_URL.router) errors.push(`${at}: the last filter must be the router, not '${typeUrl}'`);
    if (!KNOWN_CLIENT_HTTP_FILTERS.has(typeUrl)) {
      if (!optional) errors.push(`${at}: filter '${name}' of type '${typeUrl}' is not supported and not is_optional`);
      return;
    }
    if (typeUrl === TYPE_URL.httpFault) {
      if (anyTypeUrl(config) !== TYPE_URL.httpFault) {
        errors.push(`${at}: fault filter config wrapped in a TypedStruct is not supported`);
        return;
      }
      const policy = decodeHttpFault(config, `${at}.typed_config`);
      if ('errors' in policy) errors.push(...policy.errors);
      else faults.push(Object.freeze({ name, policy }));
    }
    kept.push(typeUrl);
  });
  return kept;
}

/** The effective type URL of a filter config, looking inside a TypedStruct wrapper. */
function filterTypeUrl(config: ProtoObject): string {
  const url = anyTypeUrl(config);
  if (!TYPED_STRUCT_URLS.has(url)) return url;
  // xds.type.v3.TypedStruct is loaded (protos.ts): the wrapped type is its decoded `type_url` field.
  const inner = config['type_url'];
  if (typeof inner === 'string' && config['@type'] !== undefined) return inner;
  // udpa.type.v1.TypedStruct's protos are not loaded; its field 1 is the wrapped `type_url` (a length-delimited string).
  const value = config['value'];
  if (!(value instanceof Uint8Array) || value.length < 2 || value[0] !== 0x0a) return url;
  const length = value[1]!;
  return length < 0x80 ? Buffer.from(value.subarray(2, 2 + length)).toString('utf8') : url;
}
