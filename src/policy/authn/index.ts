// Request authentication (JWT): providers verified with jose, Envoy jwt_authn requirement semantics.
export { compileJwtAuthn, ProviderPool, type AuthnRequest, type AuthnResult, type CompiledJwtAuthn, type JwtClaims } from './jwt-authn.js';
export { compileProvider, VERIFIED_CACHE_MAX, NO_EXP_CACHE_MS, type CompiledProvider, type JwtFailureReason, type VerifyOutcome } from './jwt-provider.js';
export { algorithmsOf, createKeySource, loadJose, JwksUnavailableError, JWKS_MAX_STALE_MS, JWKS_RETRY_AFTER_FAILURE_MS, type Jose, type KeySource, type KeySourceOptions } from './jwks.js';
