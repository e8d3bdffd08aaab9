// Decodes the Envoy HTTP fault filter config (HTTPFault, gRFC A33) found in an HCM filter or a typed_per_filter_config.
import type { FaultPolicy, HeaderMatcher, PerMillion } from '../../mesh-state.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, durationMs, isError, list, num, obj, str, strings, wrapped } from './common.js';
import { decodeHeaderMatcher } from './route-configuration.js';

/** Parts per million of each FractionalPercent denominator. */
const PER_MILLION: Readonly<Record<string, number>> = { HUNDRED: 10_000, TEN_THOUSAND: 100, MILLION: 1 };

/** A FaultPolicy that injects nothing (an HTTPFault with neither delay nor abort). */
export const NO_FAULT: FaultPolicy = Object.freeze({ delay: undefined, abort: undefined, headers: Object.freeze([]), maxActiveFaults: undefined });

/** Decodes an envoy.type.v3.FractionalPercent into parts per million (capped at 1e6), or a reason. */
function perMillion(p: ProtoObject | undefined, field: string): PerMillion | { error: string } {
  if (p === undefined) return { error: `${field}: not set (a fault needs a percentage)` };
  const factor = unitOf(p);
  if (factor === undefined) return { error: `${field}.denominator: '${str(p, 'denominator')}' is not supported` };
  return Math.min(1_000_000, num(p, 'numerator') * factor);
}

/** Parts per million of one unit of a FractionalPercent's numerator. */
function unitOf(p: ProtoObject | undefined): number | undefined {
  return PER_MILLION[str(p, 'denominator') || 'HUNDRED'];
}

/**
 * Validates an HTTPFault (proto field names; `'@type'` must be the HTTPFault type URL) into a FaultPolicy, or returns
 * every problem. Never throws. Refused, because applying them partly would fault more calls than configured:
 * `upstream_cluster`, `downstream_nodes`. Ignored (as grpc-js-xds does): `response_rate_limit` and the `*_runtime`
 * keys. See https://github.com/grpc/proposal/blob/master/A33-Fault-Injection.md
 */
export function decodeHttpFault(config: ProtoObject, field: string): FaultPolicy | { errors: string[] } {
  const errors: string[] = [];
  const type = anyTypeUrl(config);
  if (type !== TYPE_URL.httpFault) return { errors: [`${field}: type '${type}' is not an HTTPFault`] };
  let delay: FaultPolicy['delay'];
  const d = obj(config, 'delay');
  if (d !== undefined) {
    const share = perMillion(obj(d, 'percentage'), `${field}.delay.percentage`);
    const specifier = str(d, 'fault_delay_secifier'); // sic: Envoy's oneof name
    if (isError(share)) errors.push(share.error);
    else if (specifier === 'fixed_delay') {
      const ms = durationMs(d, 'fixed_delay');
      if (isError(ms)) errors.push(`${field}.delay.${ms.error}`);
      else delay = Object.freeze({ kind: 'fixed', delayMs: ms ?? 0, perMillion: share });
    } else if (specifier === 'header_delay') delay = Object.freeze({ kind: 'header', perMillion: share, unitPerMillion: unitOf(obj(d, 'percentage'))! });
    else errors.push(`${field}.delay: needs fixed_delay or header_delay`);
  }
  let abort: FaultPolicy['abort'];
  const a = obj(config, 'abort');
  if (a !== undefined) {
    const share = perMillion(obj(a, 'percentage'), `${field}.abort.percentage`);
    const kind = str(a, 'error_type');
    if (isError(share)) errors.push(share.error);
    else if (kind === 'http_status') {
      const status = num(a, 'http_status');
      if (!(status >= 200 && status < 600)) errors.push(`${field}.abort.http_status: ${status} is not in [200, 600)`);
      else abort = Object.freeze({ kind: 'http', httpStatus: status, perMillion: share });
    } else if (kind === 'grpc_status') abort = Object.freeze({ kind: 'grpc', grpcStatus: num(a, 'grpc_status'), perMillion: share });
    else if (kind === 'header_abort') abort = Object.freeze({ kind: 'header', perMillion: share, unitPerMillion: unitOf(obj(a, 'percentage'))! });
    else errors.push(`${field}.abort: needs http_status, grpc_status or header_abort`);
  }
  const headers: HeaderMatcher[] = [];
  list(config, 'headers').forEach((h, i) => {
    const m = decodeHeaderMatcher(h, `${field}.headers[${i}]`);
    if (isError(m)) errors.push(m.error);
    else headers.push(m);
  });
  if (str(config, 'upstream_cluster') !== '') errors.push(`${field}.upstream_cluster: not supported`);
  if (strings(config, 'downstream_nodes').length > 0) errors.push(`${field}.downstream_nodes: not supported`);
  if (errors.length > 0) return { errors };
  const max = wrapped<number>(config, 'max_active_faults');
  if (delay === undefined && abort === undefined && max === undefined && headers.length === 0) return NO_FAULT;
  return Object.freeze({ delay, abort, headers: Object.freeze(headers), maxActiveFaults: max });
}

/**
 * Decodes the HTTPFault entries of a `typed_per_filter_config` map (route or virtual host) by filter name; other
 * filters' entries are left alone. Returns undefined when there is none. Problems are pushed to `errors`.
 */
export function decodeFaultOverrides(
  holder: ProtoObject,
  field: string,
  errors: string[],
): ReadonlyMap<string, FaultPolicy> | undefined {
  const map = obj(holder, 'typed_per_filter_config');
  if (map === undefined) return undefined;
  let out: Map<string, FaultPolicy> | undefined;
  for (const [name, value] of Object.entries(map)) {
    if (typeof value !== 'object' || value === null) continue;
    let config = value as ProtoObject;
    // envoy.config.route.v3.FilterConfig wraps a config to mark it optional; look inside.
    if (anyTypeUrl(config) === 'type.googleapis.com/envoy.config.route.v3.FilterConfig') config = obj(config, 'config') ?? {};
    if (anyTypeUrl(config) !== TYPE_URL.httpFault) continue;
    const policy = decodeHttpFault(config, `${field}.typed_per_filter_config['${name}']`);
    if ('errors' in policy) errors.push(...policy.errors);
    else (out ??= new Map()).set(name, policy);
  }
  return out;
}
