// Schema and types of Gateway API `HTTPRoute` (gateway.networking.k8s.io/v1) in mesh (GAMMA) form.
// Field names, defaults and limits follow the Gateway API v1 spec; unsupported fields are refused, not ignored.
import { z } from 'zod';
import {
  backendRefSchema,
  headerMatchSchema,
  parentRefSchema,
  queryParamMatchSchema,
  type BackendRef,
  type HeaderMatch,
  type ParentRef,
} from './schema.js';
import { ruleFiltersSchema, type RouteRuleFilter } from './rule-filters-schema.js';
import { httpRouteRetrySchema, httpTimeoutsSchema, type HTTPRouteRetry, type HTTPRouteTimeouts } from './retry-schema.js';

/** How a path is compared. `PathPrefix` matches whole path elements: `/a` matches `/a` and `/a/b`, not `/ab`. */
export type PathMatchType = 'Exact' | 'PathPrefix' | 'RegularExpression';

/** `matches[].path`. Default `{ type: PathPrefix, value: / }`. */
export interface HTTPPathMatch {
  readonly type: PathMatchType;
  readonly value: string;
}

/** HTTP methods Gateway API lets a match name. */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

/** One of HTTP_METHODS. */
export type HTTPMethod = (typeof HTTP_METHODS)[number];

/** One match: every condition in it must hold. */
export interface HTTPRouteMatch {
  readonly path: HTTPPathMatch;
  /** Header conditions; names are case-insensitive. Default none. */
  readonly headers: readonly HeaderMatch[];
  /** Query parameter conditions; names are case-sensitive. Default none. */
  readonly queryParams: readonly HeaderMatch[];
  readonly method?: HTTPMethod;
}

/** One rule: a request matching any of `matches` goes to `backendRefs`, split by weight. */
export interface HTTPRouteRule {
  /** At least one (an omitted or empty list means one match: PathPrefix `/`). */
  readonly matches: readonly HTTPRouteMatch[];
  readonly backendRefs: readonly BackendRef[];
  /** `request` (all attempts) and `backendRequest` (each attempt). */
  readonly timeouts?: HTTPRouteTimeouts;
  /** GEP-1731 retries; absent = Weft's safe default (only calls that never reached a server, once). */
  readonly retry?: HTTPRouteRetry;
  /** Gateway API ExtensionRef filters: at most one FaultInjection and one ConcurrencyLimit per rule. */
  readonly filters?: readonly RouteRuleFilter[];
}

/** `spec` of an HTTPRoute. */
export interface HTTPRouteSpec {
  readonly parentRefs: readonly ParentRef[];
  readonly rules: readonly HTTPRouteRule[];
}

const DEFAULT_PATH: HTTPPathMatch = { type: 'PathPrefix', value: '/' };

/** Gateway API's rules for Exact and PathPrefix values; undefined when `value` is fine. */
export function checkPathValue(value: string): string | undefined {
  if (!value.startsWith('/')) return 'must start with "/"';
  for (const bad of ['//', '/./', '/../', '%2f', '%2F', '#']) {
    if (value.includes(bad)) return `must not contain "${bad}"`;
  }
  if (value.endsWith('/..') || value.endsWith('/.')) return 'must not end with "/." or "/.."';
  return undefined;
}

const pathMatchSchema = z
  .strictObject({
    type: z.enum(['Exact', 'PathPrefix', 'RegularExpression']).default('PathPrefix'),
    value: z.string().max(1024).default('/'),
  })
  .superRefine((p, ctx) => {
    if (p.type === 'RegularExpression') {
      if (p.value === '') ctx.addIssue({ code: 'custom', path: ['value'], message: 'must not be empty' });
      return;
    }
    const problem = checkPathValue(p.value);
    if (problem) ctx.addIssue({ code: 'custom', path: ['value'], message: problem });
  });

const matchSchema = z.strictObject({
  path: pathMatchSchema.prefault(DEFAULT_PATH),
  headers: z.array(headerMatchSchema).max(16).default([]),
  queryParams: z.array(queryParamMatchSchema).max(16).default([]),
  method: z.enum(HTTP_METHODS).optional(),
});

const defaultMatches = (): HTTPRouteMatch[] => [{ path: { ...DEFAULT_PATH }, headers: [], queryParams: [] }];

const ruleSchema = z.strictObject({
  matches: z
    .array(matchSchema)
    .max(64)
    .optional()
    .transform((m): HTTPRouteMatch[] => (m === undefined || m.length === 0 ? defaultMatches() : m)),
  backendRefs: z
    .array(backendRefSchema)
    .min(1, { error: 'needs at least one backendRef (Weft has no filter-only rules)' })
    .max(16),
  timeouts: httpTimeoutsSchema.optional(),
  retry: httpRouteRetrySchema.optional(),
  filters: ruleFiltersSchema,
});

/** `spec` schema of an HTTPRoute (references, regexes and weights are checked in validate.ts). */
export const httpRouteSpecSchema: z.ZodType<HTTPRouteSpec> = z.strictObject({
  parentRefs: z.array(parentRefSchema).min(1, { error: 'needs at least one parentRef (the Service it routes)' }).max(32),
  rules: z.array(ruleSchema).min(1, { error: 'needs at least one rule' }).max(16),
});
