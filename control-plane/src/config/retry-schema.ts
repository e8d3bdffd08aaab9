// Schema of Gateway API HTTPRoute retries (GEP-1731 `rules[].retry`), per-try timeouts (`timeouts.backendRequest`)
// and Weft's opt-in annotation for retrying non-idempotent methods.
import { z } from 'zod';
import { parseGatewayDurationMs } from './duration.js';
import { gatewayDuration, positiveGatewayDuration } from './schema.js';

/** HTTPRoute annotation that lets rules retry POST/PATCH/CONNECT: `"true"` (every rule) or rule indices (`"0,2"`). */
export const RETRY_NON_IDEMPOTENT_ANNOTATION = 'retry.weft.dev/non-idempotent';

/** Weft's default number of retries when `retry.attempts` is omitted (Envoy's num_retries default). */
export const DEFAULT_RETRY_ATTEMPTS = 1;

/** `rules[].retry` (GEP-1731 HTTPRouteRetry). */
export interface HTTPRouteRetry {
  /** Response statuses that are retried (400..599); connection failures and resets are always retried. */
  readonly codes: readonly number[];
  /** Retries after the first attempt (Gateway API "attempts": how many times a request is retried). Default 1. */
  readonly attempts?: number;
  /** Minimum wait between attempts (the backoff base; the cap is 10×), a Gateway API duration. Default 25ms. */
  readonly backoff?: string;
}

/** `rules[].retry` schema. */
export const httpRouteRetrySchema = z.strictObject({
  codes: z.array(z.number().int().min(400, { error: 'must be an HTTP error status (400..599)' }).max(599, { error: 'must be an HTTP error status (400..599)' })).max(32).default([]),
  attempts: z.number().int().min(0).max(100).optional(),
  backoff: positiveGatewayDuration.optional(),
});

/** `timeouts` of an HTTPRoute rule (Gateway API HTTPRouteTimeouts). */
export interface HTTPRouteTimeouts {
  /** Whole-request timeout across every attempt; `0s` means none. */
  readonly request?: string;
  /** Timeout of each attempt to a backend (Envoy per_try_timeout); `0s` means none. At most `request`. */
  readonly backendRequest?: string;
}

/** `timeouts` schema of an HTTPRoute rule: `backendRequest` must not exceed `request` (Gateway API rule). */
export const httpTimeoutsSchema = z
  .strictObject({ request: gatewayDuration.optional(), backendRequest: gatewayDuration.optional() })
  .superRefine((t, ctx) => {
    if (t.request === undefined || t.backendRequest === undefined) return;
    const request = parseGatewayDurationMs(t.request) ?? 0;
    const backend = parseGatewayDurationMs(t.backendRequest) ?? 0;
    if (request > 0 && backend > request) {
      ctx.addIssue({ code: 'custom', path: ['backendRequest'], message: `must not be longer than timeouts.request (${t.request})` });
    }
  });

/**
 * Which rules of a route (of `ruleCount`) opt into retrying non-idempotent methods, from the annotation value:
 * `"true"` = all, `"false"`/absent = none, else a comma list of rule indices. Returns the indices, or an error.
 */
export function nonIdempotentRules(value: string | undefined, ruleCount: number): ReadonlySet<number> | { error: string } {
  if (value === undefined || value.trim() === '' || value.trim() === 'false') return new Set();
  if (value.trim() === 'true') return new Set(Array.from({ length: ruleCount }, (_, i) => i));
  const out = new Set<number>();
  for (const part of value.split(',')) {
    const t = part.trim();
    const n = Number(t);
    if (!/^\d+$/.test(t) || n >= ruleCount) {
      return { error: `"${t}" is not a rule index of this route (0..${ruleCount - 1}); use "true" for every rule or indices like "0,2"` };
    }
    out.add(n);
  }
  return out;
}

/** gRPC status names a GRPCRoute `retry` may list: those Envoy's `retry_on` and gRFC A44 (grpc-js-xds) retry on. */
export const GRPC_RETRY_CODES = ['CANCELLED', 'DEADLINE_EXCEEDED', 'INTERNAL', 'RESOURCE_EXHAUSTED', 'UNAVAILABLE'] as const;

/** One of GRPC_RETRY_CODES. */
export type GrpcRetryCode = (typeof GRPC_RETRY_CODES)[number];

/** `rules[].retry` of a GRPCRoute (Weft extension, modelled on GEP-1731 with gRPC status names for `codes`). */
export interface GRPCRouteRetry {
  /** gRPC statuses that are retried (at least one). */
  readonly codes: readonly GrpcRetryCode[];
  /** Retries after the first attempt. Default 1; clients that follow gRFC A6 (grpc-js) make at most 5 attempts. */
  readonly attempts?: number;
  /** Backoff base (the cap is 10×), a Gateway API duration. Default 25ms. */
  readonly backoff?: string;
}

/** `rules[].retry` schema of a GRPCRoute. */
export const grpcRouteRetrySchema = z.strictObject({
  codes: z.array(z.enum(GRPC_RETRY_CODES)).min(1, { error: `needs at least one gRPC status (${GRPC_RETRY_CODES.join(', ')})` }).max(5),
  attempts: z.number().int().min(0).max(100).optional(),
  backoff: positiveGatewayDuration.optional(),
});
