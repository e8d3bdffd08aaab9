// Translates Telemetry into the standard HttpConnectionManager fields of a Service's client and inbound Listeners:
// `tracing.random_sampling` (type.v3.Percent) and `access_log` (stdout logger with status_code / duration / and / or
// filters). docs/xds-mapping.md "Telemetry".
import { DEFAULT_NAMESPACE } from '../../../src/identity/spiffe.js';
import { serviceNamed, telemetries, type ResourceSet, type TelemetryResource } from '../config/mesh-config.js';
import type { AccessLogComparison, AccessLogFilterExpr, AccessLoggingSpec } from '../config/telemetry-schema.js';
import { telemetryScopes } from '../config/validate-telemetry.js';
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';

/** Type URL of Envoy's stdout access logger config. */
export const STDOUT_ACCESS_LOG_TYPE = 'type.googleapis.com/envoy.extensions.access_loggers.stream.v3.StdoutAccessLog';
/** The access logger name Weft writes (Envoy's well-known name of the stdout logger). */
export const STDOUT_ACCESS_LOG_NAME = 'envoy.access_loggers.stdout';

/** What applies to one Service's traffic once Telemetries are merged field by field (the most specific wins). */
export interface EffectiveTelemetry {
  /** Sampling of new traces, 0..100; undefined = not set (the application's sampler decides). */
  readonly samplingPercent: number | undefined;
  /** The access-log entry in force; undefined or disabled = no access log. */
  readonly accessLogging: AccessLoggingSpec | undefined;
}

/**
 * The Telemetry of `service` (undefined = mesh-wide only): for each of `tracing` and `accessLogging`, the value of the
 * most specific Telemetry that sets it: one naming the Service in targetRefs, else one of its namespace, else the
 * mesh-wide one. Pure.
 */
export function telemetryFor(config: ResourceSet, service: string | undefined): EffectiveTelemetry {
  const all = telemetries(config);
  const namespace = service === undefined ? undefined : (serviceNamed(config, service)?.metadata.namespace ?? DEFAULT_NAMESPACE);
  const at = (scope: string): TelemetryResource | undefined => all.find((t) => telemetryScopes(t).includes(scope));
  const chain = [service !== undefined ? at(`service:${service}`) : undefined, namespace !== undefined ? at(`namespace:${namespace}`) : undefined, at('mesh')].filter(
    (t): t is TelemetryResource => t !== undefined,
  );
  const tracing = chain.find((t) => t.spec.tracing !== undefined)?.spec.tracing?.[0];
  const accessLogging = chain.find((t) => t.spec.accessLogging !== undefined)?.spec.accessLogging?.[0];
  return { samplingPercent: tracing?.randomSamplingPercentage, accessLogging };
}

function comparisonFilter(c: AccessLogComparison): ProtoObject {
  const comparison = { op: c.op, value: { default_value: c.value, runtime_key: `weft.access_log.${c.field === 'response.code' ? 'status' : 'duration'}` } };
  return c.field === 'response.code' ? { status_code_filter: { comparison } } : { duration_filter: { comparison } };
}

/** Envoy AccessLogFilter of a parsed expression (an OR of ANDs; single terms unwrapped). */
export function accessLogFilter(expr: AccessLogFilterExpr): ProtoObject {
  const ands = expr.map((terms) => (terms.length === 1 ? comparisonFilter(terms[0]!) : { and_filter: { filters: terms.map(comparisonFilter) } }));
  return ands.length === 1 ? ands[0]! : { or_filter: { filters: ands } };
}

/** The HCM fields for `t`: `tracing` when a sampling percentage is set, `access_log` when logging is on; else none. */
export function hcmTelemetryFields(t: EffectiveTelemetry): ProtoObject {
  const out: ProtoObject = {};
  if (t.samplingPercent !== undefined) out['tracing'] = { random_sampling: { value: t.samplingPercent } };
  const log = t.accessLogging;
  if (log !== undefined && !log.disabled) {
    out['access_log'] = [
      {
        name: STDOUT_ACCESS_LOG_NAME,
        typed_config: { '@type': STDOUT_ACCESS_LOG_TYPE },
        ...(log.filter !== undefined && { filter: accessLogFilter(log.filter.parsed) }),
      },
    ];
  }
  return out;
}
