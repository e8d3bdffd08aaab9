// What a bootstrap token claims to grant, read (not verified: the control plane verifies) before enrolling.
import { decodeJwt } from 'jose';
import { parseSpiffeId, type WorkloadId } from './spiffe.js';

/** What a token claims to grant (read without verifying it: the control plane verifies). */
export interface TokenClaims {
  readonly spiffeId: string;
  readonly id: WorkloadId;
  readonly expiresAtMs: number | undefined;
}

/** The identity a token claims (its `sub`), or an Error saying why it is not a bootstrap token. */
export function claimsOf(token: string): TokenClaims | Error {
  let payload: Record<string, unknown>;
  try {
    payload = decodeJwt(token);
  } catch {
    return new Error('it is not a JWT; create one with `weft token create --service <name>`');
  }
  const sub = payload['sub'];
  const id = typeof sub === 'string' ? parseSpiffeId(sub) : undefined;
  if (id === undefined) return new Error(`its sub '${String(sub)}' is not a Weft SPIFFE ID (spiffe://<trust domain>/ns/<namespace>/sa/<service>)`);
  return { spiffeId: sub as string, id, expiresAtMs: typeof payload['exp'] === 'number' ? payload['exp'] * 1000 : undefined };
}
