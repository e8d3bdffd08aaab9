// The decoded telemetry settings of a Listener's HttpConnectionManager (trace sampling and access-log filters), as
// MeshState carries them for a client target and for a server's inbound policy. src/telemetry/ acts on them.

/** An Envoy AccessLogFilter, the subset Weft decodes: status code and duration comparisons joined by and / or. */
export type AccessLogFilter =
  | { readonly kind: 'status' | 'duration'; readonly op: 'EQ' | 'GE' | 'LE'; readonly value: number }
  | { readonly kind: 'and' | 'or'; readonly filters: readonly AccessLogFilter[] };

/** Telemetry of one HCM. Immutable; `key` is equal for equal settings (so an unchanged policy keeps its identity). */
export interface TelemetryPolicy {
  /** `tracing.random_sampling` (0..100) when `tracing` is set (Envoy's default 100 when only `tracing` is); undefined = no decision. */
  readonly samplingPercent: number | undefined;
  /**
   * Access logging: undefined = off (no `access_log`). Otherwise one entry per `access_log` logger: a request is logged
   * once when any entry's filter matches (an entry without a filter matches every request).
   */
  readonly accessLog: readonly (AccessLogFilter | undefined)[] | undefined;
  /** Stable text of the settings, for equality. */
  readonly key: string;
}

/** The policy of an HCM with neither `tracing` nor `access_log`. */
export const NO_TELEMETRY: TelemetryPolicy = Object.freeze({ samplingPercent: undefined, accessLog: undefined, key: '' });

/** True when `filter` matches a request that ended with `status` (HTTP status; 0 = none) after `durationMs`. Pure. */
export function accessLogFilterMatches(filter: AccessLogFilter | undefined, status: number, durationMs: number): boolean {
  if (filter === undefined) return true;
  switch (filter.kind) {
    case 'and':
      return filter.filters.every((f) => accessLogFilterMatches(f, status, durationMs));
    case 'or':
      return filter.filters.some((f) => accessLogFilterMatches(f, status, durationMs));
    default: {
      const v = filter.kind === 'status' ? status : durationMs;
      return filter.op === 'EQ' ? Math.floor(v) === filter.value : filter.op === 'GE' ? v >= filter.value : v <= filter.value;
    }
  }
}

/** True when `policy` logs a request with this outcome. */
export function accessLogMatches(policy: TelemetryPolicy, status: number, durationMs: number): boolean {
  const entries = policy.accessLog;
  if (entries === undefined) return false;
  for (const f of entries) if (accessLogFilterMatches(f, status, durationMs)) return true;
  return false;
}
