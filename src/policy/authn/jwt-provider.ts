// Verifies tokens for one JWT provider with jose (issuer, audience, expiry, algorithms pinned to the keys), and caches
// verified tokens until they expire so a repeated token costs one Map lookup.
import type { JWTPayload } from 'jose';
import type { JwtProvider } from '../../discovery/inbound-policy.js';
import { isHmacAlgorithm } from '../../discovery/jwk-kinds.js';
import { ASYMMETRIC_ALGORITHMS, createKeySource, JwksUnavailableError, loadJose, type KeySource, type KeySourceOptions } from './jwks.js';

/** Why a token was refused: the reason codes a 401 carries (docs/errors.md WEFT_ERR_UNAUTHENTICATED). */
export type JwtFailureReason =
  | 'jwt_missing'
  | 'jwt_malformed'
  | 'jwt_alg_not_allowed'
  | 'jwt_expired'
  | 'jwt_not_yet_valid'
  | 'jwt_audience_mismatch'
  | 'jwt_issuer_mismatch'
  | 'jwt_bad_signature'
  | 'jwt_unknown_kid'
  | 'jwt_claims_invalid'
  | 'jwt_invalid'
  | 'jwks_unavailable';

/** The outcome of verifying one token. */
export type VerifyOutcome =
  | { readonly ok: true; readonly payload: Readonly<JWTPayload> }
  | { readonly ok: false; readonly reason: JwtFailureReason; readonly detail: string };

/** Most verified tokens remembered per provider; past it the oldest is forgotten. */
export const VERIFIED_CACHE_MAX = 10_000;
/** How long a verified token without `exp` is remembered (ms). */
export const NO_EXP_CACHE_MS = 60_000;

/** A provider compiled for verification. */
export interface CompiledProvider {
  readonly spec: JwtProvider;
  /**
   * The outcome of `token` known without verifying (sync): the cached success if it was verified before and has not
   * expired, or `jwt_issuer_mismatch` when its `iss` is not this provider's (read from the payload without checking
   * the signature, as Envoy picks a provider by issuer; remembered per token). Else undefined: call verify().
   */
  cached(token: string): VerifyOutcome | undefined;
  /** Verifies `token` (caching a success until `exp`). Never rejects: failures are outcomes with a reason. */
  verify(token: string): Promise<VerifyOutcome>;
  /** Starts fetching remote keys now, so the first request does not wait for them. */
  prefetch(onError: (e: unknown) => void): void;
}

/** Compiles `spec` with its own key source (made, and jose loaded, on first use) and verified-token cache. */
export function compileProvider(spec: JwtProvider, options: KeySourceOptions): CompiledProvider {
  let keySource: Promise<KeySource> | undefined;
  const keysOf = (): Promise<KeySource> => (keySource ??= loadJose().then((jose) => createKeySource(spec.jwks, options, jose)));
  const now = options.nowMs;
  const verified = new Map<string, { readonly outcome: VerifyOutcome; readonly untilMs: number }>();
  // Tokens of other issuers: with several providers on one header every token reaches each of them, and without this
  // the providers it does not belong to would send every request down the async verify path.
  const otherIssuer = new Map<string, VerifyOutcome>();
  const checks = {
    ...(spec.issuer !== '' && { issuer: spec.issuer }),
    ...(spec.audiences.length > 0 && { audience: [...spec.audiences] }),
    clockTolerance: spec.clockSkewSeconds,
  };

  const remember = (token: string, outcome: VerifyOutcome & { ok: true }): void => {
    const exp = outcome.payload.exp;
    const nowMs = now();
    const untilMs = typeof exp === 'number' ? exp * 1000 : nowMs + NO_EXP_CACHE_MS;
    if (untilMs <= nowMs) return;
    if (verified.size >= VERIFIED_CACHE_MAX) verified.delete(verified.keys().next().value!);
    verified.set(token, { outcome, untilMs });
  };

  return {
    spec,
    cached(token) {
      const hit = verified.get(token);
      if (hit !== undefined) {
        if (now() < hit.untilMs) return hit.outcome;
        verified.delete(token);
      }
      if (spec.issuer === '') return undefined;
      const known = otherIssuer.get(token);
      if (known !== undefined) return known;
      const iss = unverifiedIssuer(token);
      if (iss === undefined || iss === spec.issuer) return undefined; // unreadable: verify() says why
      const outcome = fail('jwt_issuer_mismatch', `issuer '${iss}' is not '${spec.issuer}'`);
      if (otherIssuer.size >= VERIFIED_CACHE_MAX) otherIssuer.delete(otherIssuer.keys().next().value!);
      otherIssuer.set(token, outcome);
      return outcome;
    },
    async verify(token) {
      const jose = await loadJose();
      const keys = await keysOf();
      let alg: string | undefined;
      try {
        alg = jose.decodeProtectedHeader(token).alg;
      } catch (e: unknown) {
        return fail('jwt_malformed', message(e));
      }
      if (alg === undefined || alg === 'none') return fail('jwt_alg_not_allowed', `algorithm '${alg ?? 'missing'}' is never accepted`);
      if (isHmacAlgorithm(alg)) return fail('jwt_alg_not_allowed', `algorithm '${alg}' (HMAC, a shared secret) is never accepted; tokens must be signed with an asymmetric key`);
      // Before a remote set is first fetched its algorithms are unknown: allow the asymmetric ones only, never HS*.
      const allowed = keys.algorithms() ?? ASYMMETRIC_ALGORITHMS;
      if (!allowed.has(alg)) {
        return fail('jwt_alg_not_allowed', `algorithm '${alg}' is not one the provider's keys use (${[...allowed].join(', ') || 'none'})`);
      }
      if (spec.issuer !== '') {
        let iss: unknown;
        try {
          iss = jose.decodeJwt(token).iss;
        } catch (e: unknown) {
          return fail('jwt_malformed', message(e));
        }
        if (iss !== spec.issuer) return fail('jwt_issuer_mismatch', `issuer '${String(iss)}' is not '${spec.issuer}'`);
      }
      try {
        const { payload } = await jose.jwtVerify(token, keys.getKey, {
          ...checks,
          algorithms: [...allowed],
          currentDate: new Date(now()),
        });
        const outcome = Object.freeze({ ok: true as const, payload: Object.freeze(payload) });
        remember(token, outcome);
        return outcome;
      } catch (e: unknown) {
        return classify(e);
      }
    },
    prefetch(onError) {
      keysOf().then((keys) => keys.prefetch(onError), onError);
    },
  };
}

/** The `iss` claim of a compact JWS, read without verifying anything; undefined when it cannot be read. */
function unverifiedIssuer(token: string): string | undefined {
  const first = token.indexOf('.');
  const second = first < 0 ? -1 : token.indexOf('.', first + 1);
  if (second < 0) return undefined;
  try {
    const payload: unknown = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString('utf8'));
    if (typeof payload !== 'object' || payload === null) return undefined;
    return String((payload as { iss?: unknown }).iss); // as verify() words it: a missing iss reads 'undefined'
  } catch {
    return undefined;
  }
}

function fail(reason: JwtFailureReason, detail: string): VerifyOutcome {
  return Object.freeze({ ok: false, reason, detail });
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Maps a jose (or key source) error to a reason code. */
function classify(e: unknown): VerifyOutcome {
  if (e instanceof JwksUnavailableError) return fail('jwks_unavailable', e.message);
  const err = e as { code?: unknown; claim?: unknown } | null;
  switch (err?.code) {
    case 'ERR_JWT_EXPIRED':
      return fail('jwt_expired', message(e));
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      if (err.claim === 'aud') return fail('jwt_audience_mismatch', message(e));
      if (err.claim === 'iss') return fail('jwt_issuer_mismatch', message(e));
      if (err.claim === 'nbf' || err.claim === 'iat') return fail('jwt_not_yet_valid', message(e));
      return fail('jwt_claims_invalid', message(e));
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return fail('jwt_bad_signature', message(e));
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return fail('jwt_unknown_kid', message(e));
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return fail('jwt_alg_not_allowed', message(e));
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return fail('jwt_malformed', message(e));
    case 'ERR_JWK_INVALID':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWKS_TIMEOUT':
      return fail('jwks_unavailable', message(e));
    default:
      return fail('jwt_invalid', message(e));
  }
}
