// Translates a ConcurrencyLimit into the `concurrencyLimit` field of Weft's route metadata (a google.protobuf.Value),
// as the SDK's decoder reads it (src/discovery/xds/resources/concurrency-limit.ts; docs/xds-mapping.md).
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { ConcurrencyLimitSpec } from '../config/concurrency-limit-schema.js';
import { parseGatewayDurationMs } from '../config/duration.js';

type Field = string | number | { readonly [key: string]: Field | undefined };

/** A plain object as a protobuf Value (struct of numbers, strings and nested structs); undefined fields are left out. */
function value(v: Field): ProtoObject {
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  const fields: Record<string, ProtoObject> = {};
  for (const [k, x] of Object.entries(v)) if (x !== undefined) fields[k] = value(x);
  return { structValue: { fields } };
}

const ms = (d: string | undefined): number | undefined => (d === undefined ? undefined : parseGatewayDurationMs(d));

/**
 * The route metadata Value of `spec` for the rule `scope` (`HTTPRoute/<name>/rules/<i>`: every Envoy route of the
 * rule shares one limiter): `{ scope, maxConcurrency }` or `{ scope, adaptive: {...} }` with durations in ms and only
 * the fields the user set (the SDK fills Envoy's defaults).
 */
export function concurrencyLimitStruct(spec: ConcurrencyLimitSpec, scope: string): ProtoObject {
  if (spec.adaptive === undefined) return value({ scope, maxConcurrency: spec.maxConcurrency! });
  const a = spec.adaptive;
  const m = a.minRTT;
  return value({
    scope,
    adaptive: {
      maxConcurrency: a.maxConcurrency,
      percentile: a.percentile,
      updateIntervalMs: ms(a.updateInterval),
      minRttIntervalMs: ms(m?.interval),
      minRttRequests: m?.requests,
      minConcurrency: m?.minConcurrency,
      bufferPercent: m?.buffer,
      jitterPercent: m?.jitter,
    },
  });
}
