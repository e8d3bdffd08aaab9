// Schema and types of Weft's `LocalRateLimit` kind (weft.dev/v1alpha1): token buckets each server instance of a
// Service keeps, for the whole workload and per route. Translated to Envoy local_ratelimit (translate/inbound-ratelimit.ts).
import { z } from 'zod';
import { parseGatewayDurationMs } from './duration.js';
import { HTTP_METHODS, type HTTPMethod } from './http-route-schema.js';
import { gatewayDuration } from './schema.js';
import { serviceTargetRefSchema, type ServiceTargetRef } from './inbound-schema.js';

/** A token bucket: full at start, `tokensPerFill` added every `fillInterval`, one token per request. */
export interface TokenBucketConfig {
  readonly maxTokens: number;
  /** Default: maxTokens (the bucket refills fully each interval, so `maxTokens` per `fillInterval`). */
  readonly tokensPerFill: number;
  /** Gateway API duration, at least 50ms. */
  readonly fillInterval: string;
}

/** Which requests a per-route limit counts: a path match and optionally one method. */
export interface RateLimitRouteMatch {
  /** `Exact` or `PathPrefix` (path-element prefix, as in HTTPRoute). */
  readonly path: { readonly type: 'Exact' | 'PathPrefix'; readonly value: string };
  readonly method?: HTTPMethod;
}

/** `spec.routes[]`: a limit of its own for matching requests (they do not also take from the default bucket). */
export interface RateLimitRoute {
  readonly match: RateLimitRouteMatch;
  readonly tokenBucket: TokenBucketConfig;
}

/** `spec` of a LocalRateLimit. */
export interface LocalRateLimitSpec {
  /** The Service whose servers enforce it; absent = every workload without a LocalRateLimit of its own. */
  readonly targetRef?: ServiceTargetRef;
  /** The default bucket for requests no route below matches; absent = those are not limited. */
  readonly tokenBucket?: TokenBucketConfig;
  /** Per-route limits, first match wins. */
  readonly routes: readonly RateLimitRoute[];
}

const UINT32 = 0xffffffff;

const tokenBucketSchema = z
  .strictObject({
    maxTokens: z.number().int().min(1).max(UINT32),
    tokensPerFill: z.number().int().min(1).max(UINT32).optional(),
    fillInterval: gatewayDuration,
  })
  .superRefine((b, ctx) => {
    if ((parseGatewayDurationMs(b.fillInterval) ?? 0) < 50) ctx.addIssue({ code: 'custom', path: ['fillInterval'], message: 'must be at least 50ms (as Envoy requires)' });
  })
  .transform((b): TokenBucketConfig => ({ maxTokens: b.maxTokens, tokensPerFill: b.tokensPerFill ?? b.maxTokens, fillInterval: b.fillInterval }));

const pathSchema = z.strictObject({
  type: z.enum(['Exact', 'PathPrefix']).default('PathPrefix'),
  value: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^\/[^?#]*$/, { error: 'must start with "/" and have no "?" or "#"' }),
});

const routeSchema = z.strictObject({
  match: z.strictObject({ path: pathSchema, method: z.enum(HTTP_METHODS).optional() }),
  tokenBucket: tokenBucketSchema,
});

/** `spec` schema of a LocalRateLimit (one per Service, and one without targetRef: checked in validate-inbound.ts). */
export const localRateLimitSpecSchema: z.ZodType<LocalRateLimitSpec> = z
  .strictObject({
    targetRef: serviceTargetRefSchema.optional(),
    tokenBucket: tokenBucketSchema.optional(),
    routes: z.array(routeSchema).max(64).default([]),
  })
  .superRefine((s, ctx) => {
    if (s.tokenBucket === undefined && s.routes.length === 0) ctx.addIssue({ code: 'custom', message: 'needs a tokenBucket, routes, or both' });
  }) as z.ZodType<LocalRateLimitSpec>;
