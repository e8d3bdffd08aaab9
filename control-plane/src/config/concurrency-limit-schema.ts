// Schema and types of Weft's `ConcurrencyLimit` kind (weft.dev/v1alpha1): a cap on a route rule's calls in flight
// from each calling process, fixed or adaptive (Envoy's gradient controller). Attached to a rule by an ExtensionRef
// filter (rule-filters-schema.ts) and carried to clients in route metadata (docs/xds-mapping.md).
import { z } from 'zod';
import { gatewayDuration, positiveGatewayDuration } from './schema.js';

/** `spec.adaptive.minRTT`: how the no-load latency is measured (Envoy min_rtt_calc_params). */
export interface MinRttSpec {
  /** How often it is measured again (Gateway API duration, default 60s; `0s` = once). */
  readonly interval?: string;
  /** Calls measured each time (default 50). */
  readonly requests?: number;
  /** The limit while measuring (default 3). */
  readonly minConcurrency?: number;
  /** % above the no-load latency a call may take before the limit shrinks (default 25). */
  readonly buffer?: number;
  /** % of random spread on `interval` (default 10). */
  readonly jitter?: number;
}

/** `spec.adaptive`: Envoy's gradient controller (GradientControllerConfig); unset fields take Envoy's defaults. */
export interface AdaptiveConcurrencySpec {
  /** The limit's ceiling (default 1000). */
  readonly maxConcurrency?: number;
  /** Latency percentile each update reads (default 50). */
  readonly percentile?: number;
  /** How often the limit is recomputed (Gateway API duration, default 100ms). */
  readonly updateInterval?: string;
  readonly minRTT?: MinRttSpec;
}

/** `spec` of a ConcurrencyLimit: exactly one of a fixed `maxConcurrency` and `adaptive`. */
export interface ConcurrencyLimitSpec {
  readonly maxConcurrency?: number;
  readonly adaptive?: AdaptiveConcurrencySpec;
}

const positive = z.number().int().min(1).max(0xffffffff);
const percent = z.number().int().min(0).max(100);

/** `spec` schema of a ConcurrencyLimit. */
export const concurrencyLimitSpecSchema: z.ZodType<ConcurrencyLimitSpec> = z
  .strictObject({
    maxConcurrency: positive.optional(),
    adaptive: z
      .strictObject({
        maxConcurrency: positive.optional(),
        percentile: z.number().int().min(1).max(100).optional(),
        updateInterval: positiveGatewayDuration.optional(),
        minRTT: z
          .strictObject({
            interval: gatewayDuration.optional(),
            requests: z.number().int().min(1).max(100_000).optional(),
            minConcurrency: positive.optional(),
            buffer: percent.optional(),
            jitter: percent.optional(),
          })
          .optional(),
      })
      .superRefine((a, ctx) => {
        const min = a.minRTT?.minConcurrency ?? 3;
        const max = a.maxConcurrency ?? 1000;
        if (min > max) ctx.addIssue({ code: 'custom', path: ['minRTT', 'minConcurrency'], message: `must not be above maxConcurrency (${max})` });
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    if ((s.maxConcurrency === undefined) === (s.adaptive === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of maxConcurrency (a fixed limit) and adaptive (a limit that follows latency)' });
    }
  }) as z.ZodType<ConcurrencyLimitSpec>;
