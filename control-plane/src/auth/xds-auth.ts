// Authenticates callers of the xDS port (ADS streams, registry calls): a bootstrap token or a workload assertion in
// `authorization: Bearer`, or nothing at all from a loopback peer while `--xds-auth loopback-plaintext` (the default).
import { isIP } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { ASSERTION_AUDIENCE, ASSERTION_MAX_SKEW_MS } from '../../../src/identity/assertion.js';
import { MAX_CHAIN_LENGTH } from '../../../src/identity/chain.js';
import { derToPem } from '../../../src/identity/pem.js';
import { parseSpiffeId, type WorkloadId } from '../../../src/identity/spiffe.js';
import type { CertificateAuthority } from '../ca/authority.js';
import type { BootstrapTokens } from './bootstrap-tokens.js';

/** `--xds-auth`: accept unauthenticated loopback callers (default; grpc-js-xds cannot send credentials), or nobody unauthenticated. */
export type XdsAuthMode = 'loopback-plaintext' | 'required';
/** Every XdsAuthMode, for flag validation. */
export const XDS_AUTH_MODES: readonly XdsAuthMode[] = ['loopback-plaintext', 'required'];

/** Who is calling: an authenticated workload, or an anonymous loopback peer. */
export type XdsCaller =
  | { readonly authenticated: false; readonly peer: string }
  | { readonly authenticated: true; readonly peer: string; readonly spiffeId: string; readonly id: WorkloadId; readonly via: 'bootstrap-token' | 'workload-assertion' };

/** The outcome of authenticating one call or stream. */
export type XdsAuthResult = { readonly ok: true; readonly caller: XdsCaller } | { readonly ok: false; readonly error: string };

/** Most verified workload assertions remembered (each is reused by its workload for up to a minute). */
export const MAX_CACHED_ASSERTIONS = 1024;

/** Options of XdsAuthenticator. */
export interface XdsAuthOptions {
  readonly mode: XdsAuthMode;
  readonly ca: CertificateAuthority;
  readonly tokens: BootstrapTokens;
  readonly nowMs?: () => number;
  readonly logger?: Logger;
}

/**
 * Decides who an xDS-port call comes from. A credential that is present is always checked (a bad one is refused even
 * from loopback: it is never silently downgraded to anonymous). Refusals are logged with the peer and the reason.
 * Never throws.
 */
export class XdsAuthenticator {
  readonly mode: XdsAuthMode;
  readonly #ca: CertificateAuthority;
  readonly #tokens: BootstrapTokens;
  readonly #nowMs: () => number;
  readonly #logger: Logger;
  /** Verified assertions: a registry keep-alive repeats the same one every few seconds; verifying costs ~1 ms. */
  readonly #verified = new Map<string, { readonly caller: XdsCaller; readonly untilMs: number; readonly bundle: readonly unknown[] }>();

  constructor(options: XdsAuthOptions) {
    this.mode = options.mode;
    this.#ca = options.ca;
    this.#tokens = options.tokens;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#logger = options.logger ?? NOOP_LOGGER;
  }

  /** Authenticates a call from `peer` (grpc-js `call.getPeer()`) carrying `metadata`; `what` names it in logs. */
  async authenticate(metadata: grpc.Metadata, peer: string, what: string): Promise<XdsAuthResult> {
    const header = metadata.get('authorization')[0];
    const refuse = (error: string): XdsAuthResult => {
      this.#logger.warn('xds-auth: caller refused', { peer, call: what, reason: error });
      return { ok: false, error };
    };
    if (header === undefined) {
      if (this.mode === 'loopback-plaintext' && isLoopbackPeer(peer)) return { ok: true, caller: { authenticated: false, peer } };
      return refuse(
        this.mode === 'required'
          ? 'this control plane requires credentials (--xds-auth required): send authorization: Bearer <bootstrap token or workload assertion>'
          : `unauthenticated xDS is accepted from loopback only and ${peer} is not loopback: send authorization: Bearer <bootstrap token or workload assertion>`,
      );
    }
    const m = /^Bearer\s+(\S+)$/i.exec(typeof header === 'string' ? header.trim() : '');
    if (!m) return refuse("the authorization metadata is not 'Bearer <token>'");
    const credential = m[1]!;
    let header0: Record<string, unknown>;
    try {
      header0 = decodeProtectedHeader(credential) as Record<string, unknown>;
    } catch {
      return refuse('the bearer credential is not a JWT');
    }
    if (Array.isArray(header0['x5c'])) return this.#assertion(credential, header0['x5c'], peer, refuse);
    const checked = await this.#tokens.check(credential);
    if (!checked.ok) return refuse(checked.error);
    return { ok: true, caller: { authenticated: true, peer, spiffeId: checked.grant.spiffeId, id: checked.grant.id, via: 'bootstrap-token' } };
  }

  async #assertion(jwt: string, x5c: unknown[], peer: string, refuse: (error: string) => XdsAuthResult): Promise<XdsAuthResult> {
    // A hit holds only while the assertion, its iat window and its certificate are valid and the bundle is unchanged.
    const hit = this.#verified.get(jwt);
    if (hit !== undefined && this.#nowMs() < hit.untilMs && hit.bundle === this.#ca.trustBundle()) return { ok: true, caller: { ...hit.caller, peer } };
    if (x5c.length === 0 || x5c.some((c) => typeof c !== 'string')) return refuse('the workload assertion x5c header must be a non-empty list of base64 certificates');
    if (x5c.length > MAX_CHAIN_LENGTH) return refuse(`the workload assertion x5c header holds ${x5c.length} certificates; at most ${MAX_CHAIN_LENGTH} (the leaf and its intermediates) are accepted`);
    const chain = (x5c as string[]).map((b64) => derToPem(Buffer.from(b64, 'base64'), 'CERTIFICATE'));
    const verified = this.#ca.verify(chain);
    if (!verified.ok) return refuse(`workload assertion refused: ${verified.error}`);
    const nowMs = this.#nowMs();
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(jwt, verified.value.leaf.publicKey, { audience: ASSERTION_AUDIENCE, algorithms: ['ES256'], requiredClaims: ['sub', 'iat', 'exp'], currentDate: new Date(nowMs) }));
    } catch (e: unknown) {
      return refuse(`workload assertion refused: ${e instanceof Error ? e.message : String(e)}`);
    }
    const iatMs = Number(payload['iat']) * 1000;
    if (!(Math.abs(nowMs - iatMs) <= ASSERTION_MAX_SKEW_MS)) {
      const ageS = Math.round((nowMs - iatMs) / 1000);
      return refuse(`workload assertion refused: issued ${ageS >= 0 ? `${ageS} s ago` : `${-ageS} s in the future`} (at most ${ASSERTION_MAX_SKEW_MS / 1000} s either way; check the clocks)`);
    }
    if (payload['sub'] !== verified.value.spiffeId) return refuse(`workload assertion refused: sub '${String(payload['sub'])}' is not the certificate's identity ${verified.value.spiffeId}`);
    const id = parseSpiffeId(verified.value.spiffeId)!;
    const caller: XdsCaller = { authenticated: true, peer, spiffeId: verified.value.spiffeId, id, via: 'workload-assertion' };
    if (this.#verified.size >= MAX_CACHED_ASSERTIONS) this.#verified.clear();
    const untilMs = Math.min(Number(payload['exp']) * 1000, iatMs + ASSERTION_MAX_SKEW_MS, Date.parse(verified.value.leaf.validTo));
    this.#verified.set(jwt, { caller, untilMs, bundle: this.#ca.trustBundle() });
    return { ok: true, caller };
  }
}

/** True when grpc-js's `getPeer()` string (`ip:port`, IPv6 unbracketed) names a loopback address. */
export function isLoopbackPeer(peer: string): boolean {
  const m = /^\[?(.*?)\]?:(\d+)$/.exec(peer);
  let host = m ? m[1]! : peer;
  if (host.startsWith('::ffff:')) host = host.slice(7);
  if (isIP(host) === 4) return host.startsWith('127.');
  return isIP(host) === 6 && (host === '::1' || host === '0:0:0:0:0:0:0:1');
}
