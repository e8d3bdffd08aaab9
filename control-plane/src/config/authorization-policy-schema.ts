// Schema and types of Weft's `AuthorizationPolicy` kind (weft.dev/v1alpha1), shaped like Istio's: who may call a
// Service (`from`), what (`to`) and under which conditions (`when`). Translated to Envoy RBAC (translate/inbound-rbac.ts).
import { z } from 'zod';
import { HEADER_NAME_PATTERN } from './schema.js';
import { serviceTargetRefSchema, wildcardList, type ServiceTargetRef } from './inbound-schema.js';

/** `from[].source`: who the caller is. Every field set must hold (AND); within a field any entry may match (OR). */
export interface AuthorizationSource {
  /** Caller SPIFFE IDs (`spiffe://` may be left out, as Istio does: `weft.local/ns/default/sa/checkout`). */
  readonly principals?: readonly string[];
  readonly notPrincipals?: readonly string[];
  /** Namespaces of the caller's SPIFFE ID (in the mesh's trust domain). */
  readonly namespaces?: readonly string[];
  readonly notNamespaces?: readonly string[];
  /** `<iss>/<sub>` of the caller's verified JWT (`*` = any verified token). */
  readonly requestPrincipals?: readonly string[];
  readonly notRequestPrincipals?: readonly string[];
}

/** `to[].operation`: what is called. Every field set must hold (AND). */
export interface AuthorizationOperation {
  /** HTTP methods (a gRPC call is `POST`). */
  readonly methods?: readonly string[];
  readonly notMethods?: readonly string[];
  /** Paths without the query: exact, prefix `/api/*`, suffix `*.json`, `*` (gRPC: `/pkg.Service/Method`). */
  readonly paths?: readonly string[];
  readonly notPaths?: readonly string[];
}

/** `when[]`: a condition on a request attribute; every condition of a rule must hold. */
export interface AuthorizationCondition {
  /** `request.headers[<name>]`, `request.auth.claims[<name>]` (nested: `[a.b]` or `[a][b]`), `request.auth.principal`, `source.principal`, `source.namespace`. */
  readonly key: string;
  readonly values?: readonly string[];
  readonly notValues?: readonly string[];
}

/** One rule: it matches when any `from`, any `to` and every `when` match (an empty part matches everything). */
export interface AuthorizationRule {
  readonly from: readonly { readonly source: AuthorizationSource }[];
  readonly to: readonly { readonly operation: AuthorizationOperation }[];
  readonly when: readonly AuthorizationCondition[];
}

/** `spec` of an AuthorizationPolicy. */
export interface AuthorizationPolicySpec {
  /** The Service whose servers enforce it; absent = every workload in the mesh. */
  readonly targetRef?: ServiceTargetRef;
  /** ALLOW (default) or DENY. DENY wins; once an ALLOW policy applies, requests it does not allow are refused. */
  readonly action: 'ALLOW' | 'DENY';
  /** No rules: an ALLOW policy allows nothing, a DENY policy denies nothing (as Istio). */
  readonly rules: readonly AuthorizationRule[];
}

/** The `when` keys Weft supports, as patterns. */
export const CONDITION_KEYS = [
  'request.headers[<name>]',
  'request.auth.claims[<name>]',
  'request.auth.principal',
  'source.principal',
  'source.namespace',
] as const;

const HEADER_KEY = /^request\.headers\[([^\]]+)\]$/;
const CLAIM_KEY = /^request\.auth\.claims((?:\[[^\][]+\])+)$/;

/** What a `when` key reads. */
export type ConditionKey =
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'claim'; readonly path: readonly string[] }
  | { readonly kind: 'request-principal' | 'source-principal' | 'source-namespace' };

/** Reads a `when` key, or explains why it is not one Weft supports. */
export function parseConditionKey(key: string): ConditionKey | { readonly error: string } {
  const header = HEADER_KEY.exec(key);
  if (header) {
    const name = header[1]!;
    return HEADER_NAME_PATTERN.test(name) ? { kind: 'header', name: name.toLowerCase() } : { error: `"${name}" is not an HTTP header name` };
  }
  const claim = CLAIM_KEY.exec(key);
  if (claim) {
    const parts = [...claim[1]!.matchAll(/\[([^\]]+)\]/g)].map((m) => m[1]!);
    // `[a.b]` is nested (a, then b); `[a][b]` spells the same and lets a claim name hold a dot.
    const path = parts.length === 1 ? parts[0]!.split('.') : parts;
    if (path.some((p) => p === '')) return { error: `"${key}" has an empty claim name` };
    return { kind: 'claim', path };
  }
  switch (key) {
    case 'request.auth.principal':
      return { kind: 'request-principal' };
    case 'source.principal':
      return { kind: 'source-principal' };
    case 'source.namespace':
      return { kind: 'source-namespace' };
    default:
      return { error: `"${key}" is not a condition Weft supports (${CONDITION_KEYS.join(', ')})` };
  }
}

const METHOD = z.string().regex(/^[A-Z]+$/, { error: 'must be an upper-case HTTP method such as GET or POST (gRPC calls are POST)' });
const methods = z.array(METHOD).min(1, { error: 'needs at least one method (leave the field out instead)' }).max(32);
const paths = wildcardList('path').refine((l) => l.every((p) => p.startsWith('/') || p.startsWith('*')), {
  error: 'paths start with "/" (or "*" for a suffix or any path)',
});
const requestPrincipals = wildcardList('request principal').refine((l) => l.every((p) => p === '*' || p.includes('/')), {
  error: 'a request principal is "<issuer>/<subject>" (either side may be "*"), or "*" for any verified token',
});

const sourceSchema = z
  .strictObject({
    principals: wildcardList('principal').optional(),
    notPrincipals: wildcardList('principal').optional(),
    namespaces: wildcardList('namespace', 253).optional(),
    notNamespaces: wildcardList('namespace', 253).optional(),
    requestPrincipals: requestPrincipals.optional(),
    notRequestPrincipals: requestPrincipals.optional(),
  })
  .refine((s) => Object.values(s).some((v) => v !== undefined), {
    error: 'a source needs at least one field (leave `from` out to match every caller)',
    when: (payload) => payload.issues.length === 0, // an unknown field was already reported
  });

const operationSchema = z
  .strictObject({ methods: methods.optional(), notMethods: methods.optional(), paths: paths.optional(), notPaths: paths.optional() })
  .refine((o) => Object.values(o).some((v) => v !== undefined), {
    error: 'an operation needs at least one field (leave `to` out to match every request)',
    when: (payload) => payload.issues.length === 0,
  });

const conditionSchema = z
  .strictObject({ key: z.string().min(1), values: wildcardList('value').optional(), notValues: wildcardList('value').optional() })
  .superRefine((c, ctx) => {
    const key = parseConditionKey(c.key);
    if ('error' in key) ctx.addIssue({ code: 'custom', path: ['key'], message: key.error });
    if (c.values === undefined && c.notValues === undefined) ctx.addIssue({ code: 'custom', message: 'needs values, notValues, or both' });
  });

const ruleSchema = z.strictObject({
  from: z.array(z.strictObject({ source: sourceSchema })).max(64).default([]),
  to: z.array(z.strictObject({ operation: operationSchema })).max(64).default([]),
  when: z.array(conditionSchema).max(64).default([]),
});

/** `spec` schema of an AuthorizationPolicy (that targetRef names an existing Service is checked in validate-inbound.ts). */
export const authorizationPolicySpecSchema: z.ZodType<AuthorizationPolicySpec> = z.strictObject({
  targetRef: serviceTargetRefSchema.optional(),
  action: z.enum(['ALLOW', 'DENY'], { error: 'must be ALLOW or DENY (AUDIT and CUSTOM are not supported)' }).default('ALLOW'),
  rules: z.array(ruleSchema).max(256).default([]),
}) as z.ZodType<AuthorizationPolicySpec>;
