// Gateway API durations (GEP-2257): `2s`, `500ms`, `1m30s`; validation and conversion to milliseconds.

/** GEP-2257: one to four `<1-5 digits><h|m|s|ms>` components. https://gateway-api.sigs.k8s.io/geps/gep-2257/ */
export const GATEWAY_DURATION_PATTERN = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

const UNIT_MS = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 } as const;

/**
 * Converts a GEP-2257 duration to milliseconds (components are summed, as Go's time.ParseDuration does:
 * `1m30s` = 90000). Returns undefined if `text` is not a GEP-2257 duration. `0s` gives 0.
 */
export function parseGatewayDurationMs(text: string): number | undefined {
  if (!GATEWAY_DURATION_PATTERN.test(text)) return undefined;
  let totalMs = 0;
  for (const m of text.matchAll(/([0-9]+)(ms|h|m|s)/g)) {
    totalMs += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  }
  return totalMs;
}
