// Workload assertions: short-lived JWTs a workload signs with its certificate's key (chain in `x5c`) to authenticate
// its xDS and registry calls to the control plane (docs/security-design.md "xDS clients authenticate").
import crypto, { type KeyObject, type X509Certificate } from 'node:crypto';

/** `aud` of a workload assertion. */
export const ASSERTION_AUDIENCE = 'weft-control-plane';
/** How far `iat` may be from the control plane's clock (ms). */
export const ASSERTION_MAX_SKEW_MS = 60_000;
/** Lifetime of an assertion (ms). */
export const ASSERTION_TTL_MS = 120_000;

/**
 * Signs an assertion for `spiffeId`: ES256 by `privateKey` (a P-256 key), header `x5c` = `chain` (leaf first, standard
 * base64 DER, RFC 7515 §4.1.6), claims `iss` = `sub` = the SPIFFE ID, `aud` ASSERTION_AUDIENCE, `iat`, `exp` = iat + 2 min.
 * Synchronous (node:crypto; about 0.1 ms), so a stream can be opened with a fresh one at any time. Throws for a key
 * that is not ECDSA P-256.
 */
export function createWorkloadAssertion(spiffeId: string, privateKey: KeyObject, chain: readonly X509Certificate[], nowMs: number): string {
  const iat = Math.floor(nowMs / 1000);
  const header = { alg: 'ES256', typ: 'JWT', x5c: chain.map((c) => c.raw.toString('base64')) };
  const claims = { iss: spiffeId, sub: spiffeId, aud: ASSERTION_AUDIENCE, iat, exp: iat + ASSERTION_TTL_MS / 1000 };
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  // JWS ES256 signatures are r || s, 32 bytes each (RFC 7518 §3.4), not DER.
  const signature = crypto.sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

function b64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}
