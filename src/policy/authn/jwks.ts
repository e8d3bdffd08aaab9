// Where a JWT provider's verification keys come from: an inline JWK Set, or a remote one fetched with jose's
// createRemoteJWKSet, kept within a bounded stale window when the JWKS endpoint fails; and which algorithms they allow.
import type { CryptoKey, FlattenedJWSInput, JSONWebKeySet, JWSHeaderParameters, RemoteJWKSet } from 'jose';
import type { JwksSource } from '../../discovery/inbound-policy.js';
import { isHmacAlgorithm, isSymmetricJwk } from '../../discovery/jwk-kinds.js';

/** The jose module (loaded on first use: a process without a JWT policy never pays its ~100 ms import). */
export type Jose = typeof import('jose');

let josePromise: Promise<Jose> | undefined;

/** Loads jose once; every caller shares the promise. */
export function loadJose(): Promise<Jose> {
  josePromise ??= import('jose');
  return josePromise;
}

/** A key resolver as jose's jwtVerify takes it. */
export type GetKey = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** How long keys may be served after the last successful fetch when the endpoint keeps failing (beyond the cache). */
export const JWKS_MAX_STALE_MS = 3_600_000;
/** After a failed fetch, requests use the stale keys without trying the endpoint again for this long (ms). */
export const JWKS_RETRY_AFTER_FAILURE_MS = 10_000;
/** jose's cooldown before an unknown `kid` may trigger another fetch (ms). */
export const JWKS_COOLDOWN_MS = 30_000;

/** The error a key resolver throws when no keys can be had (`jwks_unavailable`). */
export class JwksUnavailableError extends Error {
  override readonly name = 'JwksUnavailableError';
}

/** A source of verification keys for one provider. */
export interface KeySource {
  readonly getKey: GetKey;
  /**
   * The JWS algorithms the current keys allow (from each key's `alg`, else its type and curve); undefined until a
   * remote set has been fetched. Never contains `none`.
   */
  algorithms(): ReadonlySet<string> | undefined;
  /** Starts fetching a remote set now (no-op for inline keys); failures are reported to `onError`, never thrown. */
  prefetch(onError: (e: unknown) => void): void;
}

/** Options of createKeySource. */
export interface KeySourceOptions {
  /** Clock for the stale window (ms since epoch). */
  readonly nowMs: () => number;
  /** fetch used for remote sets (tests); default the global fetch. */
  readonly fetch?: typeof globalThis.fetch;
}

/** Builds the key source of `jwks` with `jose`. Never throws for a valid decoded source; bad keys fail verification later. */
export function createKeySource(jwks: JwksSource, options: KeySourceOptions, jose: Jose): KeySource {
  if (jwks.kind === 'local') {
    const set = { keys: jwks.keys.map((k) => ({ ...k })) } as JSONWebKeySet;
    const local = jose.createLocalJWKSet(set);
    const algs = algorithmsOf(set);
    return { getKey: (h, t) => local(h, t), algorithms: () => algs, prefetch() {} };
  }
  return new RemoteKeys(jwks, options, jose);
}

/**
 * A remote JWK Set: jose fetches and caches it (`cacheDurationMs`; an unknown `kid` refetches after a cooldown).
 * When a fetch fails, the keys of the last successful fetch keep serving for `cacheDurationMs + JWKS_MAX_STALE_MS`
 * after it, and for JWKS_RETRY_AFTER_FAILURE_MS the endpoint is not tried again (so an outage does not make every
 * new token wait for a timeout). Past the stale window, or with no keys ever fetched, verification fails with
 * JwksUnavailableError.
 */
class RemoteKeys implements KeySource {
  readonly #jose: Jose;
  readonly #remote: RemoteJWKSet;
  readonly #cache: { jwks?: JSONWebKeySet; uat?: number } = {};
  readonly #nowMs: () => number;
  readonly #maxStaleMs: number;
  #last: { readonly uat: number; readonly atMs: number; readonly local: GetKey; readonly algs: ReadonlySet<string> } | undefined;
  #failedAtMs = -Infinity;

  constructor(source: Extract<JwksSource, { kind: 'remote' }>, options: KeySourceOptions, jose: Jose) {
    this.#jose = jose;
    this.#nowMs = options.nowMs;
    this.#maxStaleMs = source.cacheDurationMs + JWKS_MAX_STALE_MS;
    const fetchImpl = options.fetch;
    this.#remote = jose.createRemoteJWKSet(new URL(source.uri), {
      timeoutDuration: source.timeoutMs,
      cooldownDuration: JWKS_COOLDOWN_MS,
      cacheMaxAge: source.cacheDurationMs,
      [jose.jwksCache]: this.#cache as Record<string, never>,
      ...(fetchImpl !== undefined && { [jose.customFetch]: (url: string, init: RequestInit) => fetchImpl(url, init) }),
    });
  }

  algorithms(): ReadonlySet<string> | undefined {
    this.#noteFetch();
    return this.#last?.algs;
  }

  prefetch(onError: (e: unknown) => void): void {
    this.#remote.reload().then(
      () => this.#noteFetch(),
      (e: unknown) => {
        this.#failedAtMs = this.#nowMs();
        onError(e);
      },
    );
  }

  readonly getKey: GetKey = async (header, token) => {
    const now = this.#nowMs();
    const last = this.#last;
    const usable = last !== undefined && now - last.atMs <= this.#maxStaleMs;
    if (usable && now - this.#failedAtMs < JWKS_RETRY_AFTER_FAILURE_MS) return last.local(header, token);
    try {
      const key = await this.#remote(header, token);
      this.#noteFetch();
      return key;
    } catch (e: unknown) {
      if (!isFetchFailure(e)) throw e; // no matching key, bad key, algorithm: the keys answered
      this.#failedAtMs = now;
      if (usable) return last.local(header, token);
      throw new JwksUnavailableError(`JWKS unavailable: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
  };

  /** Records a new successful fetch (jose writes it to the cache object). */
  #noteFetch(): void {
    const { jwks, uat } = this.#cache;
    if (jwks === undefined || uat === undefined || uat === this.#last?.uat) return;
    const local = this.#jose.createLocalJWKSet(jwks);
    this.#last = { uat, atMs: this.#nowMs(), local: (h, t) => local(h, t), algs: algorithmsOf(jwks) };
  }
}

/** jose errors that mean the endpoint did not answer with a usable set (as opposed to a key decision). */
function isFetchFailure(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  if (code === 'ERR_JWKS_NO_MATCHING_KEY' || code === 'ERR_JWKS_MULTIPLE_MATCHING_KEYS' || code === 'ERR_JOSE_ALG_NOT_ALLOWED') return false;
  if (code === 'ERR_JOSE_NOT_SUPPORTED' || code === 'ERR_JWK_INVALID' || code === 'ERR_JWS_INVALID') return false;
  return true;
}

const RSA_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
const EC_ALGS: Readonly<Record<string, string>> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

/** The algorithms a token may use while a remote key set has not been fetched yet: every asymmetric JWS algorithm. */
export const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([...RSA_ALGS, 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519']);

/**
 * The algorithms a key set allows: each key's `alg` when it has one; otherwise by type: RSA → RS/PS 256-512, EC by
 * curve (P-256 → ES256 ...), OKP Ed25519/Ed448 → EdDSA (and Ed25519). Symmetric keys (`kty` `oct`) and HMAC
 * algorithms (`HS*`) allow nothing, also from a remote set (a shared secret in a public JWKS is not a credential).
 * `none` never. Keys for encryption only (`use: enc`) are skipped.
 */
export function algorithmsOf(set: JSONWebKeySet): ReadonlySet<string> {
  const out = new Set<string>();
  for (const key of set.keys) {
    const k = key as Record<string, unknown>;
    if (k['use'] === 'enc' || isSymmetricJwk(k)) continue;
    if (typeof k['alg'] === 'string') {
      if (isHmacAlgorithm(k['alg'])) continue;
      if (k['alg'] !== 'none') out.add(k['alg']);
      continue;
    }
    if (k['kty'] === 'RSA') for (const a of RSA_ALGS) out.add(a);
    else if (k['kty'] === 'EC' && typeof k['crv'] === 'string' && EC_ALGS[k['crv']]) out.add(EC_ALGS[k['crv']]!);
    else if (k['kty'] === 'OKP' && (k['crv'] === 'Ed25519' || k['crv'] === 'Ed448')) {
      out.add('EdDSA');
      if (k['crv'] === 'Ed25519') out.add('Ed25519');
    }
  }
  return out;
}
