// Bootstrap tokens: ES256 JWTs the operator issues per service (`weft token create`) so a new process can enrol.
// Signed by a control-plane key persisted in `<state-dir>/tokens/`; each use is counted in the TokenLedger.
import crypto, { randomUUID, type KeyObject } from 'node:crypto';
import path from 'node:path';
import { SignJWT, calculateJwkThumbprint, decodeProtectedHeader, exportJWK, jwtVerify } from 'jose';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { DEFAULT_NAMESPACE, formatSpiffeId, parseSpiffeId, type WorkloadId } from '../../../src/identity/spiffe.js';
import { PRIVATE_FILE_MODE, readIfExists, writeFileAtomic } from '../ca/secure-files.js';
import { TokenLedger, type UseLedger } from './token-ledger.js';

/** `iss` of every bootstrap token. */
export const TOKEN_ISSUER = 'weft-control-plane';
/** `aud` of every bootstrap token: the identity service. */
export const TOKEN_AUDIENCE = 'weft-identity';
/** Default token lifetime: 1 h. */
export const DEFAULT_TOKEN_TTL_MS = 3_600_000;
/** Longest token lifetime: 30 days. */
export const MAX_TOKEN_TTL_MS = 30 * 86_400_000;
/** Most uses one token may allow. */
export const MAX_TOKEN_USES = 10_000;
/** File of the token signing key inside `<state-dir>/tokens/`. */
export const TOKEN_KEY_FILE = 'signing-key.pem';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** What `weft token create` asks for. */
export interface TokenRequest {
  readonly service: string;
  /** Default `default`. */
  readonly namespace?: string;
  /** Default 1 h; at most 30 days. */
  readonly ttlMs?: number;
  /** Default 1. */
  readonly uses?: number;
}

/** A token as issued (the token itself is shown once and not stored). */
export interface IssuedToken {
  readonly token: string;
  readonly jti: string;
  readonly spiffeId: string;
  readonly expiresAtMs: number;
  readonly uses: number;
}

/** What a valid token grants. */
export interface TokenGrant {
  readonly jti: string;
  readonly spiffeId: string;
  readonly id: WorkloadId;
  readonly expiresAtMs: number;
  readonly uses: number;
}

/** Why a token was refused; `error` is one sentence for logs and the caller. */
export type TokenFailure = { readonly ok: false; readonly reason: 'malformed' | 'expired' | 'signature' | 'claims' | 'replayed' | 'unavailable'; readonly error: string };

/** A token check: the grant, or why not. */
export type TokenCheck = { readonly ok: true; readonly grant: TokenGrant } | TokenFailure;

/** Options of BootstrapTokens.open. */
export interface BootstrapTokensOptions {
  /** State dir: the key and used-token counts live in `<stateDir>/tokens/`. `false` keeps both in memory. */
  readonly stateDir: string | false;
  readonly trustDomain: string;
  /** Clock (ms since epoch; default Date.now): expiry is judged by it. */
  readonly nowMs?: () => number;
  /** The signing key (PKCS#8 PEM, EC P-256) shared by every replica (etcd); wins over the one in `stateDir`. */
  readonly keyPem?: string;
  /** Where uses are counted (etcd); default the ledger file in `stateDir`. */
  readonly ledger?: UseLedger;
}

/** Issues, checks and consumes bootstrap tokens. check() never throws; create() throws WEFT_ERR_INVALID_ARG. */
export class BootstrapTokens {
  readonly trustDomain: string;
  readonly #key: KeyObject;
  readonly #publicKey: KeyObject;
  readonly #kid: string;
  readonly #ledger: UseLedger;
  readonly #nowMs: () => number;

  private constructor(trustDomain: string, key: KeyObject, kid: string, ledger: UseLedger, nowMs: () => number) {
    this.trustDomain = trustDomain;
    this.#key = key;
    this.#publicKey = crypto.createPublicKey(key);
    this.#kid = kid;
    this.#ledger = ledger;
    this.#nowMs = nowMs;
  }

  /** Loads (or creates, 0600) the signing key and the ledger. Rejects with WEFT_ERR_IDENTITY naming an unusable file. */
  static async open(options: BootstrapTokensOptions): Promise<BootstrapTokens> {
    const nowMs = options.nowMs ?? Date.now;
    const dir = options.stateDir === false ? undefined : path.join(options.stateDir, 'tokens');
    let key: KeyObject | undefined;
    const file = options.keyPem !== undefined ? 'the shared token signing key' : dir === undefined ? undefined : path.join(dir, TOKEN_KEY_FILE);
    const pem = options.keyPem ?? (dir === undefined ? undefined : await readIfExists(path.join(dir, TOKEN_KEY_FILE)));
    if (pem !== undefined) {
      try {
        key = crypto.createPrivateKey(pem);
        if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an EC P-256 key');
      } catch (e: unknown) {
        throw new MeshError(ERROR_CODES.IDENTITY, `the token signing key ${file} is unusable (${e instanceof Error ? e.message : String(e)}); restore it, or delete it to make a new one (every token issued so far then stops working)`, { nonRetryable: true });
      }
    } else if (dir !== undefined) {
      key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      await writeFileAtomic(path.join(dir, TOKEN_KEY_FILE), key.export({ type: 'pkcs8', format: 'pem' }) as string, PRIVATE_FILE_MODE);
    }
    key ??= crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const kid = await calculateJwkThumbprint(await exportJWK(crypto.createPublicKey(key)));
    return new BootstrapTokens(options.trustDomain, key, kid, options.ledger ?? (await TokenLedger.open(dir, nowMs)), nowMs);
  }

  /** Signs a token granting `spiffe://<trust domain>/ns/<namespace>/sa/<service>`. Throws WEFT_ERR_INVALID_ARG naming the field. */
  async create(request: TokenRequest): Promise<IssuedToken> {
    const bad = (message: string): never => {
      throw new MeshError(ERROR_CODES.INVALID_ARG, message, { nonRetryable: true });
    };
    if (typeof request.service !== 'string' || !DNS_LABEL.test(request.service)) bad(`service: '${String(request.service)}' is not a DNS label (lower-case letters, digits and '-')`);
    const namespace = request.namespace ?? DEFAULT_NAMESPACE;
    if (typeof namespace !== 'string' || !DNS_LABEL.test(namespace)) bad(`namespace: '${String(namespace)}' is not a DNS label`);
    const ttlMs = request.ttlMs ?? DEFAULT_TOKEN_TTL_MS;
    if (!Number.isFinite(ttlMs) || ttlMs < 1_000 || ttlMs > MAX_TOKEN_TTL_MS) bad(`ttl: must be between 1s and 30 days, got ${ttlMs} ms`);
    const uses = request.uses ?? 1;
    if (!Number.isInteger(uses) || uses < 1 || uses > MAX_TOKEN_USES) bad(`uses: must be an integer from 1 to ${MAX_TOKEN_USES}, got ${String(uses)}`);
    const spiffeId = formatSpiffeId({ trustDomain: this.trustDomain, namespace, service: request.service });
    const nowS = Math.floor(this.#nowMs() / 1000);
    const expS = nowS + Math.ceil(ttlMs / 1000);
    const jti = randomUUID();
    const token = await new SignJWT({ uses })
      .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: this.#kid })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject(spiffeId)
      .setIssuedAt(nowS)
      .setExpirationTime(expS)
      .setJti(jti)
      .sign(this.#key);
    return { token, jti, spiffeId, expiresAtMs: expS * 1000, uses };
  }

  /**
   * Checks `token` without consuming it: ES256 signature by this control plane's key, `iss`, `aud`, not expired, `sub` a
   * SPIFFE ID of this trust domain, and uses left, or an earlier use for the public key with thumbprint `key` (a CSR
   * asked again after its answer was lost). Never throws.
   */
  async check(token: string, key?: string): Promise<TokenCheck> {
    if (typeof token !== 'string' || token.split('.').length !== 3) return { ok: false, reason: 'malformed', error: 'the bootstrap token is not a JWT (three dot-separated parts)' };
    let kid: unknown;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch {
      return { ok: false, reason: 'malformed', error: 'the bootstrap token header cannot be decoded' };
    }
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await jwtVerify(token, this.#publicKey, {
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        algorithms: ['ES256'],
        requiredClaims: ['sub', 'exp', 'jti'],
        currentDate: new Date(this.#nowMs()),
      }));
    } catch (e: unknown) {
      const code = (e as { code?: string }).code ?? '';
      const message = e instanceof Error ? e.message : String(e);
      if (code === 'ERR_JWT_EXPIRED') return { ok: false, reason: 'expired', error: `the bootstrap token expired (${message}); create a new one with weft token create` };
      if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JOSE_ALG_NOT_ALLOWED') {
        const other = typeof kid === 'string' && kid !== this.#kid ? ` (key id ${kid}; this control plane's is ${this.#kid})` : '';
        return { ok: false, reason: 'signature', error: `the bootstrap token is not signed by this control plane's token key${other}: ${message}` };
      }
      if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') return { ok: false, reason: 'claims', error: `the bootstrap token's claims are not valid: ${message}` };
      return { ok: false, reason: 'malformed', error: `the bootstrap token is not valid: ${message}` };
    }
    const sub = payload['sub'];
    const id = typeof sub === 'string' ? parseSpiffeId(sub) : undefined;
    if (id === undefined || id.trustDomain !== this.trustDomain) {
      return { ok: false, reason: 'claims', error: `the bootstrap token's sub '${String(sub)}' is not a SPIFFE ID of trust domain ${this.trustDomain}` };
    }
    const uses = typeof payload['uses'] === 'number' && Number.isInteger(payload['uses']) && payload['uses'] >= 1 ? payload['uses'] : 1;
    const jti = String(payload['jti']);
    const grant: TokenGrant = { jti, spiffeId: sub as string, id, expiresAtMs: Number(payload['exp']) * 1000, uses };
    const used = this.#ledger.used(jti);
    if (used >= uses && !(key !== undefined && this.#ledger.usedFor(jti, key))) return { ok: false, reason: 'replayed', error: `the bootstrap token ${jti} for ${grant.spiffeId} was already used (${used} of ${uses} use${uses === 1 ? '' : 's'}): replayed?` };
    return { ok: true, grant };
  }

  /**
   * Counts one use of a checked token for the key with thumbprint `key` (a repeat for the same key is not counted);
   * resolves once it is on disk. Refuses `replayed` when none is left.
   */
  async consume(grant: TokenGrant, key?: string): Promise<TokenCheck> {
    const result = await this.#ledger.consume(grant.jti, grant.uses, grant.expiresAtMs, key);
    if (result.ok) return { ok: true, grant };
    return { ok: false, reason: result.reason === 'exhausted' ? 'replayed' : 'unavailable', error: result.error };
  }

  /** Waits for a ledger write in flight. */
  close(): Promise<void> {
    return this.#ledger.flush();
  }
}
