// Schema and types of Gateway API `GRPCRoute` (gateway.networking.k8s.io/v1) in mesh (GAMMA) form,
// plus two Weft extensions Gateway API's GRPCRoute does not have: `rules[].timeouts.request` and `rules[].retry`.
import { z } from 'zod';
import {
  backendRefSchema,
  headerMatchSchema,
  parentRefSchema,
  timeoutsSchema,
  type BackendRef,
  type HeaderMatch,
  type ParentRef,
  type RouteTimeouts,
} from './schema.js';
import { ruleFiltersSchema, type RouteRuleFilter } from './rule-filters-schema.js';
import { grpcRouteRetrySchema, type GRPCRouteRetry } from './retry-schema.js';

/** Gateway API's pattern for an exact gRPC service name (`pkg.Service`), case-insensitive. */
export const GRPC_SERVICE_PATTERN = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
/** Gateway API's pattern for an exact gRPC method name. */
export const GRPC_METHOD_PATTERN = /^[A-Za-z_][A-Za-z_0-9]*$/;

/** `matches[].method`: at least one of `service` and `method`. `RegularExpression` values are RE2 patterns. */
export interface GRPCMethodMatch {
  /** Default Exact. */
  readonly type: 'Exact' | 'RegularExpression';
  readonly service?: string;
  readonly method?: string;
}

/** One match: every condition in it must hold. */
export interface GRPCRouteMatch {
  readonly method?: GRPCMethodMatch;
  /** Header (metadata) conditions. Default none. */
  readonly headers: readonly HeaderMatch[];
}

/** One rule. */
export interface GRPCRouteRule {
  /** At least one (an omitted or empty list means one match that matches every call). */
  readonly matches: readonly GRPCRouteMatch[];
  readonly backendRefs: readonly BackendRef[];
  /** Weft extension (not in Gateway API's GRPCRoute): a deadline for the whole call. */
  readonly timeouts?: RouteTimeouts;
  /** Weft extension (Gateway API's GRPCRoute has no retries): retry calls that ended with one of `codes`. */
  readonly retry?: GRPCRouteRetry;
  /** Gateway API ExtensionRef filters: at most one FaultInjection and one ConcurrencyLimit per rule. */
  readonly filters?: readonly RouteRuleFilter[];
}

/** `spec` of a GRPCRoute. */
export interface GRPCRouteSpec {
  readonly parentRefs: readonly ParentRef[];
  readonly rules: readonly GRPCRouteRule[];
}

const methodMatchSchema = z
  .strictObject({
    type: z.enum(['Exact', 'RegularExpression']).default('Exact'),
    service: z.string().min(1).max(1024).optional(),
    method: z.string().min(1).max(1024).optional(),
  })
  .superRefine((m, ctx) => {
    if (m.service === undefined && m.method === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs a service, a method, or both' });
      return;
    }
    if (m.type !== 'Exact') return;
    if (m.service !== undefined && !GRPC_SERVICE_PATTERN.test(m.service)) {
      ctx.addIssue({
        code: 'custom',
        path: ['service'],
        message: 'must be a fully qualified gRPC service name such as "pkg.v1.Payments" (use type: RegularExpression for patterns)',
      });
    }
    if (m.method !== undefined && !GRPC_METHOD_PATTERN.test(m.method)) {
      ctx.addIssue({
        code: 'custom',
        path: ['method'],
        message: 'must be a gRPC method name such as "Charge" (use type: RegularExpression for patterns)',
      });
    }
  });

const matchSchema = z.strictObject({
  method: methodMatchSchema.optional(),
  headers: z.array(headerMatchSchema).max(16).default([]),
});

const ruleSchema = z.strictObject({
  matches: z
    .array(matchSchema)
    .max(64)
    .optional()
    .transform((m): GRPCRouteMatch[] => (m === undefined || m.length === 0 ? [{ headers: [] }] : m)),
  backendRefs: z
    .array(backendRefSchema)
    .min(1, { error: 'needs at least one backendRef (Weft has no filter-only rules)' })
    .max(16),
  timeouts: timeoutsSchema.optional(),
  retry: grpcRouteRetrySchema.optional(),
  filters: ruleFiltersSchema,
});

/** `spec` schema of a GRPCRoute (references, regexes and weights are checked in validate.ts). */
export const grpcRouteSpecSchema: z.ZodType<GRPCRouteSpec> = z.strictObject({
  parentRefs: z.array(parentRefSchema).min(1, { error: 'needs at least one parentRef (the Service it routes)' }).max(32),
  rules: z.array(ruleSchema).min(1, { error: 'needs at least one rule' }).max(16),
});
