// Translates Weft FaultInjection resources into the Envoy HTTP fault filter: the HCM filter entry (disabled by
// default) and the per-route HTTPFault override (docs/xds-mapping.md "Fault injection").
import { parseGatewayDurationMs } from '../config/duration.js';
import type { FaultInjectionSpec } from '../config/fault-injection-schema.js';
import type { FaultInjectionResource, RouteResource } from '../config/mesh-config.js';
import type { HeaderMatch } from '../config/schema.js';
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { durationFromMs } from './names.js';
import { filterRef } from '../config/rule-filters-schema.js';

/** The HCM filter name of the fault filter; per-route overrides are keyed by it (`typed_per_filter_config`). */
export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

/** The HCM entry: the fault filter with an empty HTTPFault (no delay, no abort), so only routes that override it fault. */
export function faultHttpFilter(): ProtoObject {
  return { name: FAULT_FILTER_NAME, typed_config: { '@type': TYPE_URL.httpFault } };
}

/**
 * A 0..100 percentage as an Envoy FractionalPercent: per ten thousand when two decimals are enough (`12.5` →
 * 1250/TEN_THOUSAND), else per million (`0.125` → 1250/MILLION). Input has at most 4 decimals (schema).
 */
export function fractionalPercent(percentage: number): ProtoObject {
  const perTenThousand = Math.round(percentage * 100);
  if (Math.abs(percentage * 100 - perTenThousand) < 1e-6) return { numerator: perTenThousand, denominator: 'TEN_THOUSAND' };
  return { numerator: Math.round(percentage * 10_000), denominator: 'MILLION' };
}

/** Envoy HeaderMatchers of a FaultInjection's `headers` (names lower-cased, as route matches). */
export function faultHeaderMatchers(headers: readonly HeaderMatch[]): ProtoObject[] {
  return headers.map((h) => ({
    name: h.name.toLowerCase(),
    string_match: h.type === 'Exact' ? { exact: h.value } : { safe_regex: { regex: h.value } },
  }));
}

/** The per-route HTTPFault of `spec`, with its `'@type'` (the value of `typed_per_filter_config[FAULT_FILTER_NAME]`). */
export function httpFaultConfig(spec: FaultInjectionSpec): ProtoObject {
  const out: ProtoObject = { '@type': TYPE_URL.httpFault };
  if (spec.delay !== undefined) {
    out['delay'] = {
      fixed_delay: durationFromMs(parseGatewayDurationMs(spec.delay.fixedDelay) ?? 0),
      percentage: fractionalPercent(spec.delay.percentage),
    };
  }
  if (spec.abort !== undefined) {
    const abort: ProtoObject = { percentage: fractionalPercent(spec.abort.percentage) };
    if (spec.abort.grpcStatus !== undefined) abort['grpc_status'] = spec.abort.grpcStatus;
    else abort['http_status'] = spec.abort.httpStatus ?? 503;
    out['abort'] = abort;
  }
  if (spec.headers.length > 0) out['headers'] = faultHeaderMatchers(spec.headers);
  if (spec.maxActiveFaults !== undefined) out['max_active_faults'] = { value: spec.maxActiveFaults };
  return out;
}

/** The FaultInjection a rule's filters name, if any (the config is validated: it exists). */
export function ruleFault(
  filters: RouteResource['spec']['rules'][number]['filters'],
  faults: ReadonlyMap<string, FaultInjectionResource>,
): FaultInjectionResource | undefined {
  const name = filterRef(filters, 'FaultInjection');
  return name === undefined ? undefined : faults.get(name);
}

/** True when any rule of `attached` names a FaultInjection (its Listeners then carry the fault filter). */
export function usesFault(attached: readonly RouteResource[]): boolean {
  return attached.some((r) => r.spec.rules.some((rule) => filterRef(rule.filters, 'FaultInjection') !== undefined));
}
