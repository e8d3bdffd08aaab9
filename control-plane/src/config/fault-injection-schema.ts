// Schema and types of Weft's `FaultInjection` kind (weft.dev/v1alpha1), attached to an HTTPRoute or GRPCRoute rule by
// an ExtensionRef filter (rule-filters-schema.ts). Translated to the Envoy HTTP fault filter.
import { z } from 'zod';
import { gatewayDuration, headerMatchSchema, type HeaderMatch } from './schema.js';

/** A share of requests, 0..100 with at most 4 decimals (Envoy's finest denominator is a million). */
export const percentageSchema = z
  .number()
  .min(0)
  .max(100)
  .refine((p) => Math.abs(p * 10_000 - Math.round(p * 10_000)) < 1e-6, {
    error: 'must have at most 4 decimals (Envoy counts faults per million requests)',
  });

/** `spec.delay`: hold matching requests for `fixedDelay` before sending them. */
export interface FaultDelaySpec {
  /** Gateway API duration (`200ms`, `2s`). */
  readonly fixedDelay: string;
  /** 0..100; default 100. */
  readonly percentage: number;
}

/** `spec.abort`: answer matching requests locally with an HTTP status or a gRPC status (exactly one). */
export interface FaultAbortSpec {
  /** 200..599. */
  readonly httpStatus?: number;
  /** gRPC status code 0..16. */
  readonly grpcStatus?: number;
  /** 0..100; default 100. */
  readonly percentage: number;
}

/** `spec` of a FaultInjection. */
export interface FaultInjectionSpec {
  readonly delay?: FaultDelaySpec;
  readonly abort?: FaultAbortSpec;
  /** Only requests matching every one of these get faults; default none (every request of the rule). */
  readonly headers: readonly HeaderMatch[];
  /** At most this many faulted requests at once in each client process; default unlimited. */
  readonly maxActiveFaults?: number;
}

const delaySchema = z.strictObject({
  fixedDelay: gatewayDuration,
  percentage: percentageSchema.default(100),
});

const abortSchema = z
  .strictObject({
    httpStatus: z.number().int().min(200).max(599).optional(),
    grpcStatus: z.number().int().min(0).max(16).optional(),
    percentage: percentageSchema.default(100),
  })
  .superRefine((a, ctx) => {
    if ((a.httpStatus === undefined) === (a.grpcStatus === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of httpStatus (200-599) and grpcStatus (0-16)' });
    }
  });

/** `spec` schema of a FaultInjection (header regexes are checked in validate.ts). */
export const faultInjectionSpecSchema: z.ZodType<FaultInjectionSpec> = z
  .strictObject({
    delay: delaySchema.optional(),
    abort: abortSchema.optional(),
    headers: z.array(headerMatchSchema).max(16).default([]),
    maxActiveFaults: z.number().int().min(0).max(0xffffffff).optional(),
  })
  .superRefine((s, ctx) => {
    if (s.delay === undefined && s.abort === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs a delay, an abort, or both (a FaultInjection with neither does nothing)' });
    }
  });
