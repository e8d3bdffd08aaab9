// Decodes the telemetry fields of an HttpConnectionManager (`tracing.random_sampling`, `access_log` with its filters)
// into a TelemetryPolicy, refusing what Weft cannot honour (docs/xds-mapping.md "Telemetry").
import { NO_TELEMETRY, type AccessLogFilter, type TelemetryPolicy } from '../../telemetry-policy.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, list, obj, str } from './common.js';

const LOGGERS: ReadonlySet<string> = new Set([TYPE_URL.stdoutAccessLog, TYPE_URL.stderrAccessLog, TYPE_URL.fileAccessLog]);

/**
 * The TelemetryPolicy of `hcm` (a decoded HttpConnectionManager); `field` names it in errors, which are pushed to
 * `errors` (the Listener is then refused). Loggers: stdout, stderr and file (Weft writes to the sink the process chose
 * in createMesh({ accessLog }); a file logger's `path` is not followed). Filters: status_code_filter, duration_filter,
 * and_filter, or_filter; any other filter is refused (logging more or less than configured would mislead).
 */
export function decodeHcmTelemetry(hcm: ProtoObject, field: string, errors: string[]): TelemetryPolicy {
  const before = errors.length;
  let samplingPercent: number | undefined;
  const tracing = obj(hcm, 'tracing');
  if (tracing !== undefined) {
    const random = obj(tracing, 'random_sampling');
    const value = random === undefined ? 100 : Number(random['value'] ?? 0);
    if (!Number.isFinite(value) || value < 0 || value > 100) errors.push(`${field}.tracing.random_sampling.value: ${value} is not a percentage (0..100)`);
    else samplingPercent = value;
  }
  let accessLog: (AccessLogFilter | undefined)[] | undefined;
  list(hcm, 'access_log').forEach((entry, i) => {
    const at = `${field}.access_log[${i}]`;
    const type = anyTypeUrl(obj(entry, 'typed_config'));
    if (!LOGGERS.has(type)) {
      errors.push(`${at}.typed_config: logger '${type || str(entry, 'name')}' is not supported (stdout, stderr or file)`);
      return;
    }
    const f = obj(entry, 'filter');
    const filter = f === undefined ? undefined : decodeFilter(f, `${at}.filter`, errors);
    (accessLog ??= []).push(filter);
  });
  if (errors.length > before) return NO_TELEMETRY;
  if (samplingPercent === undefined && accessLog === undefined) return NO_TELEMETRY;
  return Object.freeze({
    samplingPercent,
    accessLog: accessLog === undefined ? undefined : Object.freeze(accessLog),
    key: JSON.stringify([samplingPercent, accessLog]),
  });
}

function decodeFilter(f: ProtoObject, field: string, errors: string[]): AccessLogFilter | undefined {
  const which = str(f, 'filter_specifier');
  switch (which) {
    case 'status_code_filter':
    case 'duration_filter': {
      const comparison = obj(obj(f, which), 'comparison');
      const op = str(comparison, 'op') || 'EQ';
      const value = Number(obj(comparison, 'value')?.['default_value'] ?? 0);
      if (op !== 'EQ' && op !== 'GE' && op !== 'LE') {
        errors.push(`${field}.${which}.comparison.op: '${op}' is not supported`);
        return undefined;
      }
      return Object.freeze({ kind: which === 'status_code_filter' ? 'status' : 'duration', op, value });
    }
    case 'and_filter':
    case 'or_filter': {
      const filters = list(obj(f, which), 'filters').map((x, i) => decodeFilter(x, `${field}.${which}.filters[${i}]`, errors));
      if (filters.length < 2) errors.push(`${field}.${which}.filters: needs at least 2 filters`);
      return Object.freeze({ kind: which === 'and_filter' ? 'and' : 'or', filters: Object.freeze(filters.filter((x): x is AccessLogFilter => x !== undefined)) });
    }
    default:
      errors.push(`${field}: filter '${which || 'none'}' is not supported (status_code_filter, duration_filter, and_filter, or_filter)`);
      return undefined;
  }
}
