// The decoded, immutable inbound policy of a server: the filter chains, HTTP filters (jwt_authn, RBAC, local rate
// limit) and routes of its inbound Listener, as MeshState carries it. src/server/inbound/ compiles it per update.
import type { HeaderMatcher, PathMatcher, StringMatcher } from './mesh-state.js';
import type { TelemetryPolicy } from './telemetry-policy.js';

/** Name prefix of the inbound Listener of a service: `weft/inbound/<service>` (docs/xds-mapping.md "Inbound Listener"). */
export const INBOUND_LISTENER_PREFIX = 'weft/inbound/';

/** The inbound Listener name a server of `service` subscribes to. */
export function inboundListenerName(service: string): string {
  return `${INBOUND_LISTENER_PREFIX}${service}`;
}

/** A matcher on a value of the verified JWT payload (Envoy `type.matcher.v3.ValueMatcher`, the part Weft reads). */
export type ValueMatcher =
  | { readonly kind: 'string'; readonly match: StringMatcher }
  | { readonly kind: 'present' }
  | { readonly kind: 'bool'; readonly value: boolean }
  /** The value is a list and one of its items matches `item` (Envoy `list_match.one_of`). */
  | { readonly kind: 'one-of'; readonly item: ValueMatcher };

/**
 * Envoy `MetadataMatcher` on dynamic metadata. Weft produces one namespace: `envoy.filters.http.jwt_authn`, holding
 * each verified token's payload under its provider's `payload_in_metadata` key; `path` walks from that namespace.
 */
export interface MetadataMatcher {
  readonly filter: string;
  readonly path: readonly string[];
  readonly value: ValueMatcher;
  readonly invert: boolean;
}

/** What a request must be, in an RBAC policy (Envoy `config.rbac.v3.Permission`, the gRFC A41 subset). */
export type PermissionRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'and'; readonly rules: readonly PermissionRule[] }
  | { readonly kind: 'or'; readonly rules: readonly PermissionRule[] }
  | { readonly kind: 'not'; readonly rule: PermissionRule }
  | { readonly kind: 'header'; readonly header: HeaderMatcher }
  /** The path without its query string. */
  | { readonly kind: 'url-path'; readonly path: StringMatcher }
  | { readonly kind: 'destination-port'; readonly port: number }
  | { readonly kind: 'metadata'; readonly metadata: MetadataMatcher };

/** Who a caller must be, in an RBAC policy (Envoy `config.rbac.v3.Principal`, the gRFC A41 subset). */
export type PrincipalRule =
  | { readonly kind: 'any' }
  | { readonly kind: 'and'; readonly rules: readonly PrincipalRule[] }
  | { readonly kind: 'or'; readonly rules: readonly PrincipalRule[] }
  | { readonly kind: 'not'; readonly rule: PrincipalRule }
  /** The peer's verified certificate names a principal matching `principal` (undefined: any verified peer). */
  | { readonly kind: 'authenticated'; readonly principal: StringMatcher | undefined }
  | { readonly kind: 'header'; readonly header: HeaderMatcher }
  | { readonly kind: 'url-path'; readonly path: StringMatcher }
  | { readonly kind: 'metadata'; readonly metadata: MetadataMatcher };

/** One named RBAC policy: it matches when any permission and any principal match. */
export interface RbacPolicy {
  /** The key in the RBAC `policies` map; Weft's control plane writes `AuthorizationPolicy/<name>/rules/<i>`. */
  readonly name: string;
  readonly permissions: readonly PermissionRule[];
  readonly principals: readonly PrincipalRule[];
}

/**
 * An RBAC HTTP filter (Envoy `extensions.filters.http.rbac.v3.RBAC`): DENY refuses a request any policy matches;
 * ALLOW refuses a request no policy matches (so ALLOW with no policies refuses everything).
 */
export interface RbacFilter {
  readonly kind: 'rbac';
  /** The HCM filter name. */
  readonly name: string;
  readonly action: 'ALLOW' | 'DENY';
  /** In policy-name order (Envoy's map has no order; sorting makes the first match stable). */
  readonly policies: readonly RbacPolicy[];
}

/** Where a JWT provider's keys come from. */
export type JwksSource =
  | { readonly kind: 'remote'; readonly uri: string; readonly timeoutMs: number; readonly cacheDurationMs: number }
  /** An inline JWK Set: its `keys` (plain JSON objects, frozen). */
  | { readonly kind: 'local'; readonly keys: readonly Readonly<Record<string, unknown>>[] };

/** Where a token is read from: a header, with a value prefix (`Bearer `) that is stripped. */
export interface JwtHeaderSource {
  /** Lower-case header name. */
  readonly name: string;
  readonly valuePrefix: string;
}

/** One issuer's verification rules (Envoy `JwtProvider`). */
export interface JwtProvider {
  /** The key in the `providers` map. */
  readonly name: string;
  /** Required `iss`; '' = any issuer. */
  readonly issuer: string;
  /** Accepted `aud` values; empty = the audience is not checked. */
  readonly audiences: readonly string[];
  readonly jwks: JwksSource;
  /** Where tokens are looked for; Envoy's default (none given) is `authorization: Bearer `. */
  readonly fromHeaders: readonly JwtHeaderSource[];
  /** Keep the token header after verification (Envoy `forward`; false removes it before the handler sees it). */
  readonly forward: boolean;
  /** Dynamic-metadata key under which the verified payload is stored (RBAC metadata matchers read it); '' = none. */
  readonly payloadInMetadata: string;
  readonly clockSkewSeconds: number;
}

/** What a request must present (Envoy `JwtRequirement`, the shapes Weft supports). */
export type JwtRequirement =
  | { readonly kind: 'provider'; readonly provider: string }
  | { readonly kind: 'any'; readonly requirements: readonly JwtRequirement[] }
  | { readonly kind: 'all'; readonly requirements: readonly JwtRequirement[] }
  /** Satisfied when no token is present; a present token must be valid for another branch. */
  | { readonly kind: 'allow-missing' }
  /** Always satisfied: an invalid token is ignored (no claims). */
  | { readonly kind: 'allow-missing-or-failed' };

/** A jwt_authn rule: requests whose path matches `match` must satisfy `requires` (undefined: nothing required). */
export interface JwtRule {
  readonly match: PathMatcher;
  readonly requires: JwtRequirement | undefined;
}

/** A jwt_authn HTTP filter (Envoy `JwtAuthentication`). */
export interface JwtAuthnFilter {
  readonly kind: 'jwt-authn';
  readonly name: string;
  /** By provider name. */
  readonly providers: ReadonlyMap<string, JwtProvider>;
  /** In order; the first rule whose match holds decides. No rule: no token is required (one present is ignored). */
  readonly rules: readonly JwtRule[];
}

/** A token bucket (Envoy `type.v3.TokenBucket`): starts full, gains `tokensPerFill` every `fillIntervalMs`. */
export interface TokenBucketSpec {
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
}

/** A local_ratelimit HTTP filter (Envoy `LocalRateLimit`): the workload's default bucket, if enabled. */
export interface LocalRateLimitFilter {
  readonly kind: 'local-ratelimit';
  readonly name: string;
  /** undefined: no default limit (only routes that configure one are limited). */
  readonly bucket: TokenBucketSpec | undefined;
}

/** One HTTP filter of an inbound HCM that Weft enforces (the router and ignored optional filters are not kept). */
export type InboundHttpFilter = RbacFilter | JwtAuthnFilter | LocalRateLimitFilter;

/** An inbound route: its conditions and per-filter rate-limit overrides (null: the limit is off on this route). */
export interface InboundRoute {
  readonly name: string;
  readonly path: PathMatcher;
  readonly headers: readonly HeaderMatcher[];
  /** local_ratelimit overrides by HCM filter name (`typed_per_filter_config`); absent = none. */
  readonly rateLimits?: ReadonlyMap<string, TokenBucketSpec | null>;
}

/** A virtual host of the inbound route config. */
export interface InboundVirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly InboundRoute[];
}

/** One filter chain: which connections it takes, and the HTTP filters and routes of its HCM. */
export interface InboundChain {
  readonly name: string;
  /** True when the chain takes only TLS connections (`transport_protocol: tls`, or a `transport_socket`). */
  readonly tlsOnly: boolean;
  /** True when the chain takes only plaintext connections (`transport_protocol: raw_buffer`). */
  readonly plaintextOnly: boolean;
  /** Enforced filters in HCM order. */
  readonly filters: readonly InboundHttpFilter[];
  readonly virtualHosts: readonly InboundVirtualHost[];
}

/** A server's inbound policy: the chains of its inbound Listener. Immutable. */
export interface InboundPolicy {
  readonly listener: string;
  /** In Listener order; a connection takes the first whose match fits it. */
  readonly chains: readonly InboundChain[];
  /** Takes connections no chain fits; undefined: such connections are refused. */
  readonly defaultChain: InboundChain | undefined;
  /** Server spans' sampling and access logs (the first chain's HCM `tracing` / `access_log`); absent = none. */
  readonly telemetry?: TelemetryPolicy;
}

/**
 * What discovery knows about a service's inbound policy:
 * - `resolved`: the policy (possibly with no filters: nothing enforced);
 * - `pending`: asked for, not answered yet;
 * - `absent`: the control plane has no inbound Listener for it: no policy, every request passes;
 * - `error`: the inbound Listener was refused (NACKed) and there is no last good one.
 */
export type InboundState =
  | { readonly status: 'resolved'; readonly policy: InboundPolicy }
  | { readonly status: 'pending' }
  | { readonly status: 'absent' }
  | { readonly status: 'error'; readonly message: string };
