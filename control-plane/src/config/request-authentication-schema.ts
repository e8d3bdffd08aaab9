// Schema and types of Weft's `RequestAuthentication` kind (weft.dev/v1alpha1), shaped like Istio's: which JWT issuers a
// Service accepts and how their tokens are verified. Translated to Envoy jwt_authn (translate/inbound-jwt.ts).
import { z } from 'zod';
import { parseJwks } from '../../../src/discovery/xds/resources/jwt-authn.js';
import { parseGatewayDurationMs } from './duration.js';
import { gatewayDuration, HEADER_NAME_PATTERN } from './schema.js';
import { serviceTargetRefSchema, type ServiceTargetRef } from './inbound-schema.js';

/** Where a token is read from: a header and the prefix before the token (`Bearer `). */
export interface JwtHeaderLocation {
  readonly name: string;
  readonly prefix: string;
}

/** One issuer a Service accepts tokens from. */
export interface JwtRuleSpec {
  /** The token's required `iss`. */
  readonly issuer: string;
  /** Accepted `aud` values; empty = the audience is not checked. */
  readonly audiences: readonly string[];
  /** Where the keys are fetched from (https, or http on loopback); exactly one of jwksUri and jwks. */
  readonly jwksUri?: string;
  /** Inline JWK Set (as YAML, or a JSON string as Istio writes it), public keys only. */
  readonly jwks?: { readonly keys: readonly Readonly<Record<string, unknown>>[] };
  /** Default `[{ name: authorization, prefix: "Bearer " }]`. */
  readonly fromHeaders: readonly JwtHeaderLocation[];
  /** Keep the token header for the handler (default false: it is removed once verified, as Istio does). */
  readonly forwardOriginalToken: boolean;
  /** Allowed clock difference for exp/nbf (duration, default 60s). */
  readonly clockSkew: string;
  /** JWKS fetch timeout (default 5s). */
  readonly timeout: string;
  /** How long fetched keys are used before they are fetched again (default 10m). */
  readonly cacheDuration: string;
}

/** `spec` of a RequestAuthentication. */
export interface RequestAuthenticationSpec {
  /** The Service whose servers verify tokens; absent = every workload in the mesh. */
  readonly targetRef?: ServiceTargetRef;
  readonly jwtRules: readonly JwtRuleSpec[];
}

const jwksSchema = z.union([z.string(), z.looseObject({ keys: z.array(z.record(z.string(), z.unknown())) })]).transform((value, ctx) => {
  const parsed = parseJwks(typeof value === 'string' ? value : JSON.stringify(value));
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: `is not a usable JWK Set: ${parsed.error}` });
    return z.NEVER;
  }
  return { keys: parsed };
});

const headerSchema = z.strictObject({
  name: z.string().min(1).max(256).regex(HEADER_NAME_PATTERN, { error: 'must be an HTTP header name' }).transform((h) => h.toLowerCase()),
  prefix: z.string().max(64).default(''),
});

const jwtRuleSchema = z
  .strictObject({
    issuer: z.string().min(1, { error: 'must not be empty (the token\'s "iss")' }).max(1024),
    audiences: z.array(z.string().min(1).max(1024)).max(64).default([]),
    jwksUri: z
      .url({ error: 'must be an absolute URL' })
      .refine((u) => /^https:\/\//i.test(u) || /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:|\/|$)/i.test(u), {
        error: 'must be https (plain http only on loopback: keys fetched in the clear could be replaced)',
      })
      .optional(),
    jwks: jwksSchema.optional(),
    fromHeaders: z.array(headerSchema).min(1).max(8).default([{ name: 'authorization', prefix: 'Bearer ' }]),
    forwardOriginalToken: z.boolean().default(false),
    clockSkew: gatewayDuration.default('60s'),
    timeout: gatewayDuration.default('5s'),
    cacheDuration: gatewayDuration.default('10m'),
  })
  .superRefine((r, ctx) => {
    if ((r.jwksUri === undefined) === (r.jwks === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'needs exactly one of jwksUri (fetched) and jwks (inline keys)' });
    }
    if ((parseGatewayDurationMs(r.clockSkew) ?? 0) > 300_000) ctx.addIssue({ code: 'custom', path: ['clockSkew'], message: 'must be at most 5m' });
    if ((parseGatewayDurationMs(r.timeout) ?? 0) === 0) ctx.addIssue({ code: 'custom', path: ['timeout'], message: 'must be more than 0' });
    if ((parseGatewayDurationMs(r.cacheDuration) ?? 0) < 1000) ctx.addIssue({ code: 'custom', path: ['cacheDuration'], message: 'must be at least 1s' });
  });

/** `spec` schema of a RequestAuthentication. */
export const requestAuthenticationSpecSchema: z.ZodType<RequestAuthenticationSpec> = z.strictObject({
  targetRef: serviceTargetRefSchema.optional(),
  jwtRules: z.array(jwtRuleSchema).min(1, { error: 'needs at least one jwtRule (an issuer to accept)' }).max(32),
}) as z.ZodType<RequestAuthenticationSpec>;
