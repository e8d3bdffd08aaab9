// Decodes a route's concurrency limit from Weft's route metadata (`filter_metadata.weft.concurrencyLimit`, a Struct)
// into a validated ConcurrencyLimitPolicy. See docs/xds-mapping.md "Concurrency limits".
import type { ConcurrencyLimitPolicy } from '../../mesh-state.js';
import type { ProtoObject } from '../protos.js';
import { obj } from './common.js';
import { WEFT_METADATA_KEY } from './retry-policy.js';

/** Route.metadata.filter_metadata['weft'].concurrencyLimit. */
export const CONCURRENCY_LIMIT_FIELD = 'concurrencyLimit';

/** Envoy's defaults for the gradient controller's fields, in Weft's units. */
export const ADAPTIVE_DEFAULTS = Object.freeze({
  percentile: 50,
  updateIntervalMs: 100,
  maxConcurrency: 1000,
  minRttIntervalMs: 60_000,
  minRttRequests: 50,
  minConcurrency: 3,
  bufferPercent: 25,
  jitterPercent: 10,
});

/** A google.protobuf.Value as protobufjs decodes it (camelCase members for its built-in types). */
type StructValue = { numberValue?: number; stringValue?: string; boolValue?: boolean; structValue?: { fields?: Record<string, StructValue> } };

/** The plain value of a protobuf Value (numbers, strings, booleans and nested structs; lists are not used here). */
function plain(v: StructValue | undefined): unknown {
  if (v === undefined) return undefined;
  if (v.numberValue !== undefined) return v.numberValue;
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.structValue !== undefined) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v.structValue.fields ?? {})) out[k] = plain(x);
    return out;
  }
  return undefined;
}

/**
 * The route's concurrency limit, undefined when its metadata has none. Problems (a missing scope, a non-positive or
 * fractional limit, a percentage out of 0..100) go to `errors` with `field` (the route is then refused, NACK).
 * Shape: `{ scope, maxConcurrency }` (fixed) or `{ scope, adaptive: { percentile?, updateIntervalMs?, maxConcurrency?,
 * minRttIntervalMs?, minRttRequests?, minConcurrency?, bufferPercent?, jitterPercent? } }` (Envoy's defaults fill
 * what is absent). Never throws.
 */
export function decodeConcurrencyLimit(route: ProtoObject, field: string, errors: string[]): ConcurrencyLimitPolicy | undefined {
  const struct = obj(obj(obj(route, 'metadata'), 'filter_metadata'), WEFT_METADATA_KEY);
  const fields = obj(struct, 'fields') as Record<string, StructValue> | undefined;
  const raw = plain(fields?.[CONCURRENCY_LIMIT_FIELD]);
  if (raw === undefined) return undefined;
  const at = `${field}.metadata.filter_metadata.${WEFT_METADATA_KEY}.${CONCURRENCY_LIMIT_FIELD}`;
  if (typeof raw !== 'object' || raw === null) {
    errors.push(`${at}: must be a struct`);
    return undefined;
  }
  const spec = raw as Record<string, unknown>;
  const scope = spec['scope'];
  if (typeof scope !== 'string' || scope === '') {
    errors.push(`${at}.scope: must be a non-empty string (the rule whose calls share the limit)`);
    return undefined;
  }
  const before = errors.length;
  const int = (value: unknown, name: string, min: number, max: number): number => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      errors.push(`${at}.${name}: must be an integer in [${min}, ${max}], got ${JSON.stringify(value)}`);
      return min;
    }
    return value;
  };
  const adaptive = spec['adaptive'];
  if (adaptive === undefined) {
    const maxConcurrency = int(spec['maxConcurrency'], 'maxConcurrency', 1, 0xffffffff);
    return errors.length > before ? undefined : Object.freeze({ kind: 'fixed', scope, maxConcurrency });
  }
  if (typeof adaptive !== 'object' || adaptive === null) {
    errors.push(`${at}.adaptive: must be a struct`);
    return undefined;
  }
  const a = adaptive as Record<string, unknown>;
  const d = ADAPTIVE_DEFAULTS;
  const policy = {
    kind: 'adaptive' as const,
    scope,
    percentile: int(a['percentile'] ?? d.percentile, 'adaptive.percentile', 1, 100),
    updateIntervalMs: int(a['updateIntervalMs'] ?? d.updateIntervalMs, 'adaptive.updateIntervalMs', 1, 3_600_000),
    maxConcurrency: int(a['maxConcurrency'] ?? d.maxConcurrency, 'adaptive.maxConcurrency', 1, 0xffffffff),
    minRttIntervalMs: int(a['minRttIntervalMs'] ?? d.minRttIntervalMs, 'adaptive.minRttIntervalMs', 0, 86_400_000),
    minRttRequests: int(a['minRttRequests'] ?? d.minRttRequests, 'adaptive.minRttRequests', 1, 100_000),
    minConcurrency: int(a['minConcurrency'] ?? d.minConcurrency, 'adaptive.minConcurrency', 1, 0xffffffff),
    bufferPercent: int(a['bufferPercent'] ?? d.bufferPercent, 'adaptive.bufferPercent', 0, 100),
    jitterPercent: int(a['jitterPercent'] ?? d.jitterPercent, 'adaptive.jitterPercent', 0, 100),
  };
  if (errors.length === before && policy.minConcurrency > policy.maxConcurrency) {
    errors.push(`${at}.adaptive.minConcurrency: ${policy.minConcurrency} is above maxConcurrency ${policy.maxConcurrency}`);
  }
  return errors.length > before ? undefined : Object.freeze(policy);
}
