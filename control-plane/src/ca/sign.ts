// The enrolment decision, apart from gRPC: who the caller proves to be (bootstrap token or current certificate),
// whether the CSR asks for exactly that identity, and the certificate the CA signs for it. Every refusal is logged.
import crypto from 'node:crypto';
import type { Logger } from '../../../src/core/logger.js';
import { parseCsr } from '../../../src/identity/csr.js';
import type { BootstrapTokens } from '../auth/bootstrap-tokens.js';
import type { CertificateAuthority } from './authority.js';
import type { RateLimiter } from './rate-limiter.js';

/** What the enrolment decision needs. */
export interface SignDeps {
  readonly ca: CertificateAuthority;
  readonly tokens: BootstrapTokens;
  readonly limiter: RateLimiter;
  readonly logger: Logger;
}

/** How the caller proves who it is. */
export type SignCredential =
  | { readonly kind: 'bootstrap-token'; readonly token: string }
  | { readonly kind: 'renewal'; readonly chainPem: readonly string[]; readonly signature: Uint8Array }
  | { readonly kind: 'none' };

/** One Sign request, decoded. */
export interface SignInput {
  readonly csr: string;
  readonly credential: SignCredential;
  /** The caller's address, for logs. */
  readonly peer: string;
}

/** The answer to a Sign that succeeded (weft.identity.v1.SignResponse). */
export interface SignAnswer {
  readonly certificateChain: readonly string[];
  readonly trustBundle: readonly string[];
  readonly spiffeId: string;
  readonly expiresAtMs: number;
  readonly serial: string;
}

/** gRPC status names a refusal maps to (docs in proto/weft/identity/v1/identity.proto). */
export type SignRefusalCode = 'INVALID_ARGUMENT' | 'UNAUTHENTICATED' | 'PERMISSION_DENIED' | 'RESOURCE_EXHAUSTED' | 'UNAVAILABLE' | 'FAILED_PRECONDITION';

/** A Sign outcome; `message` tells the caller what to fix. */
export type SignOutcome =
  | { readonly ok: true; readonly value: SignAnswer }
  | { readonly ok: false; readonly code: SignRefusalCode; readonly message: string; readonly retryAfterMs?: number };

/**
 * Decides one Sign: CSR well formed (size-capped), credential valid (a presented chain is size-capped before it is
 * parsed), CSR names no identity but the granted one, then the signing rate limit, then (for a token) counts its use
 * durably and issues. The rate limit is taken only by requests the CA is about to sign, so unauthenticated or refused
 * calls cannot use up the budget legitimate workloads enrol with. The token is consumed only when everything else
 * passed, so a bad CSR or a busy CA does not burn it. Never throws.
 */
export async function signWorkloadCsr(deps: SignDeps, input: SignInput): Promise<SignOutcome> {
  const { ca, tokens, limiter, logger } = deps;
  const refuse = (code: SignRefusalCode, message: string, fields: Record<string, unknown> = {}, retryAfterMs?: number): SignOutcome => {
    logger.warn('identity: CSR refused', { peer: input.peer, code, reason: message, credential: input.credential.kind, ...fields });
    return retryAfterMs === undefined ? { ok: false, code, message } : { ok: false, code, message, retryAfterMs };
  };
  const csr = parseCsr(input.csr);
  if (!csr.ok) return refuse('INVALID_ARGUMENT', csr.error);

  let granted: string;
  let via: Record<string, unknown>;
  let grant: Parameters<BootstrapTokens['consume']>[0] | undefined;
  let keyId: string | undefined;
  const credential = input.credential;
  if (credential.kind === 'bootstrap-token') {
    keyId = keyThumbprint(csr.value.publicKey);
    const checked = await tokens.check(credential.token, keyId);
    if (!checked.ok) return refuse('UNAUTHENTICATED', checked.error, { tokenCheck: checked.reason });
    grant = checked.grant;
    granted = grant.spiffeId;
    via = { jti: grant.jti };
  } else if (credential.kind === 'renewal') {
    if (credential.chainPem.length === 0) return refuse('INVALID_ARGUMENT', 'renewal.certificate_chain is empty; send the current certificate chain, leaf first');
    const verified = ca.verify(credential.chainPem);
    if (!verified.ok) {
      const what = verified.reason === 'malformed' ? 'INVALID_ARGUMENT' : 'UNAUTHENTICATED';
      return refuse(what, `renewal refused: ${verified.error}${verified.reason === 'expired' ? '; an expired certificate cannot be renewed, enrol again with a bootstrap token' : ''}`, { chainCheck: verified.reason });
    }
    let signed = false;
    try {
      signed = crypto.verify('sha256', csr.value.der, verified.value.leaf.publicKey, credential.signature);
    } catch {
      signed = false;
    }
    if (!signed) return refuse('UNAUTHENTICATED', `renewal refused: the proof signature does not verify with the key of the certificate for ${verified.value.spiffeId}`);
    granted = verified.value.spiffeId;
    via = { renewing: verified.value.leaf.serialNumber.toLowerCase() };
  } else {
    return refuse('UNAUTHENTICATED', 'no credential: send a bootstrap_token (first certificate) or a renewal proof (current certificate)');
  }

  const other = csr.value.uriSans.filter((uri) => uri !== granted);
  if (other.length > 0) {
    return refuse(
      'PERMISSION_DENIED',
      `the CSR asks for ${other.join(', ')} but the ${credential.kind === 'renewal' ? 'current certificate' : 'bootstrap token'} grants ${granted}; the CA signs only the granted identity`,
      { granted, requested: other, ...via },
    );
  }
  // Only now, for a request the CA is about to sign: everything above is cheap and bounded (CSR ≤ 16 KiB, chain ≤ 5
  // certificates), and counting it would let anyone on the network spend the legitimate workloads' budget.
  const admission = limiter.take();
  if (!admission.ok) {
    return refuse('RESOURCE_EXHAUSTED', `CSR signing is limited to ${limiter.ratePerSecond} per second on this control plane; retry in ${admission.retryAfterMs} ms`, { granted, ...via }, admission.retryAfterMs);
  }
  if (grant !== undefined) {
    const consumed = await tokens.consume(grant, keyId);
    if (!consumed.ok) return refuse(consumed.reason === 'unavailable' ? 'UNAVAILABLE' : 'UNAUTHENTICATED', consumed.error, { granted, ...via });
  }
  let issued;
  try {
    issued = ca.issue(csr.value.publicKey, granted);
  } catch (e: unknown) {
    return refuse('FAILED_PRECONDITION', e instanceof Error ? e.message : String(e), { granted });
  }
  logger.info('identity: certificate issued', { spiffeId: granted, serial: issued.serial, notAfter: new Date(issued.notAfterMs).toISOString(), peer: input.peer, via: credential.kind, ...via });
  return {
    ok: true,
    value: { certificateChain: issued.chainPem, trustBundle: ca.trustBundlePem(), spiffeId: granted, expiresAtMs: issued.notAfterMs, serial: issued.serial },
  };
}

/**
 * The key's RFC 7638 JWK thumbprint (SHA-256, hex): which key a bootstrap token's use went to. Through JWK, as the CA
 * reads keys, because OpenSSL's DER export costs ~20× more.
 */
function keyThumbprint(key: crypto.KeyObject): string {
  const jwk = key.export({ format: 'jwk' });
  const canonical = jwk.kty === 'EC' ? JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }) : JSON.stringify(jwk);
  return crypto.createHash('sha256').update(canonical).digest('hex');
}
