// A process's workload identity: enrols with a bootstrap token, renews at about half the certificate lifetime with a
// new key, keeps the last good certificate until it expires, and tracks the trust bundle (SDS, else the CA's answers).
import crypto, { X509Certificate } from 'node:crypto';
import { ERROR_CODES, MeshError, isMeshError } from '../core/errors.js';
import { SYSTEM_CLOCK, type TimerClock } from '../core/clock.js';
import { NOOP_LOGGER, type Logger } from '../core/logger.js';
import type { Disposable } from '../core/watch.js';
import { ASSERTION_TTL_MS, createWorkloadAssertion } from './assertion.js';
import { parseCertificates, serialOf, validityMs, verifyChain } from './chain.js';
import { createCsr, generateWorkloadKey, type KeyPair } from './csr.js';
import type { EnrolCredential, Enroller, SignResult } from './enrolment-client.js';
import { spiffeIdOfSans } from './spiffe.js';
import { claimsOf } from './token-claims.js';
import { describeTokenSource, readToken, type TokenSource } from './token-source.js';

/** First retry delay after a failed enrolment or renewal (ms). */
export const RETRY_INITIAL_MS = 1_000;
/** Longest retry delay (ms). */
export const RETRY_MAX_MS = 30_000;
/** Renewal happens at this fraction of the lifetime, ± RENEW_JITTER. */
export const RENEW_AT_FRACTION = 0.5;
/** Jitter of the renewal point, as a fraction of the lifetime (spreads a fleet's renewals). */
export const RENEW_JITTER = 0.1;

/** A certificate this process holds, with its key and the roots it trusts. Immutable; a new object on every change. */
export interface WorkloadCertificate {
  readonly spiffeId: string;
  /** PEM, leaf first, concatenated (what TLS `cert` takes). */
  readonly certificateChainPem: string;
  /** PKCS#8 PEM (what TLS `key` takes). Never sent anywhere. */
  readonly privateKeyPem: string;
  readonly privateKey: crypto.KeyObject;
  /** Every trusted root, PEM, concatenated (what TLS `ca` takes). */
  readonly trustBundlePem: string;
  readonly chain: readonly X509Certificate[];
  readonly trustBundle: readonly X509Certificate[];
  /** Lower-case hex. */
  readonly serialNumber: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
}

/** Where the identity stands (`mesh.status().identity`). */
export interface IdentityStatus {
  /** `enrolling` before the first certificate, `ready` while one is valid, `expired` after it lapsed unrenewed,
   * `failed` when enrolment was refused and no certificate is held, `closed` after close(). */
  readonly state: 'enrolling' | 'ready' | 'expired' | 'failed' | 'closed';
  /** The identity held, or the one the token claims while enrolling. */
  readonly spiffeId: string | undefined;
  readonly serialNumber: string | undefined;
  readonly notAfterMs: number | undefined;
  readonly lastRenewalAtMs: number | undefined;
  readonly nextRenewalAtMs: number | undefined;
  /** Certificates obtained (the first enrolment counts). */
  readonly renewals: number;
  /** The last enrolment or renewal failure, cleared by the next success. */
  readonly lastError: string | undefined;
  readonly trustBundle: { readonly roots: number; readonly source: 'sds' | 'enrolment' | 'none' };
}

/** The timers WorkloadIdentity uses (injectable: tests drive renewal with a fake clock). */
export type IdentityClock = TimerClock;

/**
 * The real clock: Date.now() and unref'd setTimeout, re-armed for waits past setTimeout's ~24.8-day limit (a
 * certificate lifetime may be up to 90 days: its expiry and renewal timers are that long).
 */
export const REAL_CLOCK: IdentityClock = SYSTEM_CLOCK;

/** Options of WorkloadIdentity. */
export interface WorkloadIdentityOptions {
  /** This process's mesh service: the token must grant it. */
  readonly service: string;
  readonly token: TokenSource;
  /** Sends a CSR to the CA (IdentityClient.sign in production). */
  readonly enrol: Enroller;
  readonly clock?: IdentityClock;
  /** Random source in [0, 1) for jitter (default Math.random). */
  readonly random?: () => number;
  readonly logger?: Logger;
}

/**
 * One workload identity. Starts enrolling at construction. Never throws after construction and never rejects except
 * whenReady(); every failure is logged, kept in status().lastError, and retried with backoff (1 s doubling to 30 s,
 * ±20 %; never sooner than a retry-after the CA sent, spread up to 10 % after it), while the last good certificate keeps serving until it expires. onChange listeners run synchronously when a
 * certificate or the trust bundle changes (with undefined when the certificate expires), never after close().
 */
export class WorkloadIdentity {
  readonly #opts: WorkloadIdentityOptions;
  readonly #clock: IdentityClock;
  readonly #random: () => number;
  readonly #logger: Logger;
  readonly #listeners = new Set<(cert: WorkloadCertificate | undefined) => void>();
  readonly #readyWaiters = new Set<(error: MeshError | undefined) => void>();
  #current: WorkloadCertificate | undefined;
  #held: WorkloadCertificate | undefined; // the latest certificate, also after expiry (renewal falls back to the token)
  #claimedId: string | undefined;
  #sdsBundle: readonly X509Certificate[] | undefined;
  #state: IdentityStatus['state'] = 'enrolling';
  #lastError: string | undefined;
  #permanentError: MeshError | undefined;
  #renewalRefused = false;
  #renewals = 0;
  #failures = 0;
  #lastRenewalAtMs: number | undefined;
  #nextAtMs: number | undefined;
  #timer: { cancel(): void } | undefined;
  #expiryTimer: { cancel(): void } | undefined;
  #inFlight = false;
  #assertion: { readonly value: string; readonly atMs: number; readonly serial: string } | undefined;
  #tokenCache: string | undefined;
  /** The key enrolment with the bootstrap token asks to be signed, kept until a certificate for it arrives. */
  #enrolKey: KeyPair | undefined;

  constructor(options: WorkloadIdentityOptions) {
    this.#opts = options;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#random = options.random ?? Math.random;
    this.#logger = options.logger ?? NOOP_LOGGER;
    if (options.token.kind === 'value') this.#tokenCache = options.token.token;
    this.#schedule(0);
  }

  /** The certificate to present now, or undefined (none yet, or expired). The same object until the next change. */
  current(): WorkloadCertificate | undefined {
    return this.#current;
  }

  /** Calls `fn` with every new certificate (or trust bundle), and with undefined when the certificate expires unrenewed. */
  onChange(fn: (cert: WorkloadCertificate | undefined) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  /** Where the identity stands (a fresh frozen object). */
  status(): IdentityStatus {
    const c = this.#current ?? this.#held;
    const bundle = this.#sdsBundle ?? c?.trustBundle;
    return Object.freeze({
      state: this.#state,
      spiffeId: c?.spiffeId ?? this.#claimedId,
      serialNumber: c?.serialNumber,
      notAfterMs: c?.notAfterMs,
      lastRenewalAtMs: this.#lastRenewalAtMs,
      nextRenewalAtMs: this.#nextAtMs,
      renewals: this.#renewals,
      lastError: this.#lastError,
      trustBundle: Object.freeze({ roots: bundle?.length ?? 0, source: this.#sdsBundle ? ('sds' as const) : c ? ('enrolment' as const) : ('none' as const) }),
    });
  }

  /**
   * Resolves once a certificate is held; rejects with WEFT_ERR_IDENTITY when enrolment was refused for good (a bad,
   * used or expired token: the message says which) or after close(). Does not wait for anything else.
   */
  whenReady(): Promise<void> {
    if (this.#current) return Promise.resolve();
    if (this.#permanentError) return Promise.reject(this.#permanentError);
    if (this.#state === 'closed') return Promise.reject(new MeshError(ERROR_CODES.CLOSED, 'workload identity closed', { nonRetryable: true }));
    return new Promise((resolve, reject) => this.#readyWaiters.add((e) => (e ? reject(e) : resolve())));
  }

  /**
   * The bearer credential for xDS and registry calls: a workload assertion signed with the current key (a new one at
   * most every minute), else the bootstrap token, else undefined. Synchronous.
   */
  xdsCredential(): string | undefined {
    const c = this.#current;
    if (c === undefined) return this.#tokenCache;
    const nowMs = this.#clock.nowMs();
    if (this.#assertion?.serial !== c.serialNumber || nowMs - this.#assertion.atMs > ASSERTION_TTL_MS / 2) {
      this.#assertion = { value: createWorkloadAssertion(c.spiffeId, c.privateKey, c.chain, nowMs), atMs: nowMs, serial: c.serialNumber };
    }
    return this.#assertion.value;
  }

  /** Takes the trust bundle from SDS (the control plane's Secret `weft-trust-bundle`): it wins over the CA's answers. */
  setTrustBundle(rootsPem: readonly string[]): void {
    if (this.#state === 'closed') return;
    const parsed = parseCertificates(rootsPem);
    if (!parsed.ok) {
      this.#logger.warn('weft: trust bundle from SDS ignored', { error: parsed.error });
      return;
    }
    this.#sdsBundle = Object.freeze(parsed.value);
    this.#logger.info('weft: trust bundle updated', { roots: parsed.value.length, source: 'sds' });
    if (this.#current) this.#install({ ...this.#current, ...bundleFields(this.#sdsBundle) }, false);
  }

  /** Stops renewing; current() keeps returning the certificate held. Idempotent. */
  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    this.#timer?.cancel();
    this.#expiryTimer?.cancel();
    this.#nextAtMs = undefined;
    this.#listeners.clear();
    this.#settleReady(new MeshError(ERROR_CODES.CLOSED, 'workload identity closed before a certificate was obtained', { nonRetryable: true }));
  }

  get #closed(): boolean {
    return this.#state === 'closed';
  }

  #schedule(delayMs: number): void {
    if (this.#state === 'closed') return;
    this.#timer?.cancel();
    this.#nextAtMs = this.#clock.nowMs() + delayMs;
    this.#timer = this.#clock.setTimer(() => void this.#attempt(), delayMs);
  }

  async #attempt(): Promise<void> {
    if (this.#inFlight || this.#state === 'closed') return;
    this.#inFlight = true;
    this.#nextAtMs = undefined;
    const renewing = this.#held !== undefined && this.#clock.nowMs() < this.#held.notAfterMs && !this.#renewalRefused;
    try {
      const cert = await this.#enrolOnce(renewing);
      if (this.#closed) return;
      this.#renewals++;
      this.#failures = 0;
      this.#lastError = undefined;
      this.#permanentError = undefined;
      this.#renewalRefused = false;
      this.#lastRenewalAtMs = this.#clock.nowMs();
      this.#install(cert, true);
      this.#logger.info(renewing ? 'weft: certificate renewed' : 'weft: certificate obtained', { spiffeId: cert.spiffeId, serial: cert.serialNumber, notAfter: new Date(cert.notAfterMs).toISOString() });
      const lifetimeMs = cert.notAfterMs - this.#clock.nowMs();
      const fraction = RENEW_AT_FRACTION + (this.#random() * 2 - 1) * RENEW_JITTER;
      this.#schedule(Math.max(0, lifetimeMs * fraction));
    } catch (e: unknown) {
      if (this.#closed) return;
      this.#failed(e, renewing);
    } finally {
      this.#inFlight = false;
    }
  }

  /** One enrolment (token) or renewal (proof with the current key): new key, CSR, Sign, checked answer. */
  async #enrolOnce(renewing: boolean): Promise<WorkloadCertificate> {
    let credential: EnrolCredential;
    let expected: string;
    if (renewing) {
      const key = generateWorkloadKey();
      const held = this.#held!;
      expected = held.spiffeId;
      const csr = createCsr(key, expected);
      credential = { kind: 'renewal', chainPem: held.chain.map((c) => c.toString()), signature: crypto.sign('sha256', csr.der, held.privateKey) };
      return this.#checked(await this.#opts.enrol(csr.pem, credential), expected, key);
    }
    const source = this.#opts.token;
    let token: string;
    try {
      token = await readToken(source);
    } catch (e: unknown) {
      throw identityError(e instanceof Error ? e.message : String(e), true);
    }
    this.#tokenCache = token;
    const claims = claimsOf(token);
    if (claims instanceof Error) throw identityError(`${describeTokenSource(source)} is not a bootstrap token: ${claims.message}`, true);
    this.#claimedId = claims.spiffeId;
    if (claims.id.service !== this.#opts.service) {
      throw identityError(`${describeTokenSource(source)} grants ${claims.spiffeId}, but this process is service '${this.#opts.service}'; create a token with \`weft token create --service ${this.#opts.service}\``, true);
    }
    if (claims.expiresAtMs !== undefined && claims.expiresAtMs <= this.#clock.nowMs()) {
      throw identityError(`${describeTokenSource(source)} expired at ${new Date(claims.expiresAtMs).toISOString()}; create a new one with \`weft token create --service ${this.#opts.service}\``, true);
    }
    expected = claims.spiffeId;
    // One key for every enrolment attempt until one succeeds: a CA whose answer was lost signs the same key again for
    // the same token, while a fresh key would find the single-use token spent.
    const key = (this.#enrolKey ??= generateWorkloadKey());
    const csr = createCsr(key, expected);
    const cert = this.#checked(await this.#opts.enrol(csr.pem, { kind: 'bootstrap-token', token }), expected, key);
    this.#enrolKey = undefined;
    return cert;
  }

  /** Checks the CA's answer: parseable, our key, the identity asked for, and a chain to the roots we trust. */
  #checked(result: SignResult, expected: string, key: { privateKey: crypto.KeyObject; publicKey: crypto.KeyObject }): WorkloadCertificate {
    const chain = parseCertificates(result.chainPem);
    const roots = parseCertificates(result.trustBundlePem);
    if (!chain.ok) throw identityError(`the control plane answered an unreadable certificate: ${chain.error}`, false);
    if (!roots.ok) throw identityError(`the control plane answered an unreadable trust bundle: ${roots.error}`, false);
    const leaf = chain.value[0]!;
    const spiffeId = spiffeIdOfSans(leaf.subjectAltName);
    if (spiffeId !== expected) throw identityError(`the control plane answered a certificate for ${spiffeId ?? 'no SPIFFE ID'}, not ${expected}`, false);
    if (!leaf.publicKey.equals(key.publicKey)) throw identityError('the control plane answered a certificate for another key', false);
    const trusted = [...roots.value, ...(this.#sdsBundle ?? [])];
    const verified = verifyChain(chain.value, trusted, this.#clock.nowMs());
    if (!verified.ok) throw identityError(`the certificate the control plane answered does not verify: ${verified.error}`, false);
    const { notBeforeMs, notAfterMs } = validityMs(leaf);
    return {
      spiffeId,
      certificateChainPem: chain.value.map((c) => c.toString()).join(''),
      privateKeyPem: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      privateKey: key.privateKey,
      chain: Object.freeze(chain.value),
      serialNumber: serialOf(leaf),
      notBeforeMs,
      notAfterMs,
      ...bundleFields(this.#sdsBundle ?? Object.freeze(roots.value)),
    };
  }

  #install(cert: WorkloadCertificate, isNew: boolean): void {
    const frozen = Object.freeze(cert);
    this.#current = frozen;
    this.#held = frozen;
    this.#state = 'ready';
    if (isNew) {
      this.#expiryTimer?.cancel();
      this.#expiryTimer = this.#clock.setTimer(() => this.#expire(frozen), Math.max(0, frozen.notAfterMs - this.#clock.nowMs()));
      this.#settleReady(undefined);
    }
    this.#notify(frozen);
  }

  #expire(cert: WorkloadCertificate): void {
    if (this.#current !== cert && this.#current?.serialNumber !== cert.serialNumber) return;
    this.#current = undefined;
    this.#state = 'expired';
    this.#logger.error('weft: workload certificate expired without renewal; mTLS calls fail until a new one is obtained', { spiffeId: cert.spiffeId, serial: cert.serialNumber, lastError: this.#lastError });
    this.#notify(undefined);
  }

  #failed(e: unknown, renewing: boolean): void {
    const error = isMeshError(e, ERROR_CODES.IDENTITY) ? e : identityError(e instanceof Error ? e.message : String(e), false);
    const permanent = error.details['permanent'] === true;
    this.#failures++;
    this.#lastError = error.message;
    if (permanent && renewing) this.#renewalRefused = true; // try the token next (it may still have uses)
    if (permanent && !renewing) {
      // A refused token leaves nothing to try but a new token (a token file is read again at every attempt).
      this.#permanentError = error;
      if (!this.#current) {
        this.#state = 'failed';
        this.#settleReady(error);
      }
    }
    const base = Math.min(RETRY_MAX_MS, RETRY_INITIAL_MS * 2 ** Math.min(this.#failures - 1, 16));
    const jitter = 0.8 + this.#random() * 0.4;
    const pushback = Number(error.details['retryAfterMs']);
    // The CA's retry-after (RESOURCE_EXHAUSTED past --csr-rate) is a floor, spread up to 10 % after it: the processes it
    // refused at one moment must not all come back at one moment (a CSR storm would repeat at every retry-after).
    let delayMs = Math.max(base * jitter, Number.isFinite(pushback) && pushback > 0 ? pushback * (1 + (jitter - 0.8) / 4) : 0);
    if (this.#current) delayMs = Math.min(delayMs, Math.max(0, (this.#current.notAfterMs - this.#clock.nowMs()) / 4));
    if (this.#failures === 1 || this.#failures % 10 === 0 || permanent) {
      this.#logger.warn(renewing ? 'weft: certificate renewal failed; the current certificate keeps serving' : 'weft: enrolment failed', {
        error: error.message,
        failures: this.#failures,
        retryInMs: Math.round(delayMs),
        ...(this.#current ? { expiresAt: new Date(this.#current.notAfterMs).toISOString() } : {}),
      });
    }
    this.#schedule(delayMs);
  }

  #settleReady(error: MeshError | undefined): void {
    for (const w of [...this.#readyWaiters]) w(error);
    this.#readyWaiters.clear();
  }

  #notify(cert: WorkloadCertificate | undefined): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn(cert);
      } catch (e: unknown) {
        this.#logger.error('weft: identity onChange listener threw', { error: String(e) });
      }
    }
  }
}

function bundleFields(bundle: readonly X509Certificate[]): Pick<WorkloadCertificate, 'trustBundle' | 'trustBundlePem'> {
  return { trustBundle: bundle, trustBundlePem: bundle.map((c) => c.toString()).join('') };
}

function identityError(message: string, permanent: boolean): MeshError {
  return new MeshError(ERROR_CODES.IDENTITY, message, { ...(permanent ? { nonRetryable: true } : { retryable: true }), details: { permanent } });
}
