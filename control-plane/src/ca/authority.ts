// The control plane's certificate authority: holds the roots (generated or the operator's), issues workload SVIDs,
// checks certificates it issued, and rotates its root with an overlap so no certificate ever stops verifying early.
import crypto, { type KeyObject, type X509Certificate } from 'node:crypto';
import path from 'node:path';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import type { Disposable } from '../../../src/core/watch.js';
import { oneLine, parseCertificates, parsePresentedChain, validityMs, verifyChain, type ChainFailure, type VerifiedChain } from '../../../src/identity/chain.js';
import { DEFAULT_TRUST_DOMAIN, isTrustDomain, parseSpiffeId } from '../../../src/identity/spiffe.js';
import { SYSTEM_CLOCK, type ClockTimer, type RegistryClock } from '../registry/registry.js';
import { loadCaState, rootId, saveCaState, type CaRoot, type CaStateData } from './ca-state.js';
import { buildLeafCertificate, buildRootCertificate, signerOf, type Signer } from './issue.js';
import { loadOperatorCa, type OperatorCaFiles } from './operator-ca.js';

/** Default workload certificate lifetime (`--cert-ttl`): 24 h. */
export const DEFAULT_CERT_TTL_MS = 24 * 3_600_000;
/** Shortest certificate lifetime accepted (1 s: tests; production lifetimes are hours). */
export const MIN_CERT_TTL_MS = 1_000;
/** Longest certificate lifetime accepted: 90 days. */
export const MAX_CERT_TTL_MS = 90 * 86_400_000;
/** Lifetime of a generated root: 10 years. */
export const ROOT_LIFETIME_MS = 3_652 * 86_400_000;
/** How far back a certificate's notBefore is set, so peers with a slightly slow clock accept it. */
export const BACKDATE_MS = 60_000;
/** Added to the certificate lifetime when a previous root's overlap is computed (clock skew, in-flight renewals). */
export const OVERLAP_MARGIN_MS = 10 * 60_000;
/** Default wait between `weft ca rotate` adding a root to the bundle and that root starting to sign: 5 min. */
export const DEFAULT_ACTIVATE_AFTER_MS = 5 * 60_000;
/** Wait before saving again after a save that nobody awaits (a phase change on the timer) failed: 30 s. */
export const SAVE_RETRY_MS = 30_000;

/** Options of CertificateAuthority.open. */
export interface CaOptions {
  /** The control plane's state dir: the CA lives in `<stateDir>/ca/`. `false` keeps it in memory (a restart starts a new CA). */
  readonly stateDir: string | false;
  /** Trust domain of new CAs (default `weft.local`); must match a CA already in the state dir. */
  readonly trustDomain?: string;
  /** Workload certificate lifetime in ms (default 24 h; 1 s .. 90 days). */
  readonly certTtlMs?: number;
  /** Sign with the operator's CA instead of a generated root. */
  readonly operator?: OperatorCaFiles;
  readonly clock?: RegistryClock;
  readonly logger?: Logger;
  /** The state is shared with other replicas (etcd): rotate() starts from the latest and publishes through this. */
  readonly shared?: SharedCaState;
}

/** A CA state shared by several replicas (etcd, docs/security-design.md "Replicas on etcd"). */
export interface SharedCaState {
  /**
   * Runs `change` as the only writer of the shared state, handing it the latest shared state (undefined: none yet),
   * then publishes the CA's state dir, which `change` has saved. Rejects when the state cannot be read or published.
   */
  update<T>(change: (latest: CaStateData | undefined) => Promise<T>): Promise<T>;
}

/** A certificate the CA issued. */
export interface IssuedCertificate {
  /** PEM certificates, leaf first, without the root. */
  readonly chainPem: readonly string[];
  readonly spiffeId: string;
  readonly serial: string;
  readonly notAfterMs: number;
}

/** One root as `weft ca status` shows it. */
export interface CaRootStatus {
  readonly id: string;
  readonly phase: 'active' | 'next' | 'previous';
  readonly origin: 'generated' | 'operator';
  readonly subject: string;
  readonly fingerprint256: string;
  readonly notAfter: string;
  readonly activateAtMs?: number;
  readonly trustedUntilMs?: number;
}

/** The CA as the admin API shows it. */
export interface CaStatus {
  readonly trustDomain: string;
  readonly certTtlMs: number;
  readonly mode: 'generated' | 'operator';
  /** Subject of the certificate that signs (the active root, or the operator's intermediate). */
  readonly signer: string;
  readonly roots: readonly CaRootStatus[];
}

/** The outcome of checking a presented chain: the verified chain, or why not (with a sentence for the caller). */
export type ChainCheck = { readonly ok: true; readonly value: VerifiedChain } | { readonly ok: false; readonly reason: ChainFailure | 'foreign'; readonly error: string };

/** An operator CA ready to sign: its signer and the chain certificates a leaf carries after itself. */
interface OperatorSigner {
  readonly chainPems: readonly string[];
  readonly intermediates: readonly X509Certificate[];
  readonly signer: Signer;
}

/**
 * The CA. Roots in phase `active` sign, `next` ones are already trusted and sign from their activation time on,
 * `previous` ones stay trusted until every certificate they issued has expired. Phase changes happen on a timer,
 * are persisted, and call onChange listeners (the trust bundle is pushed over SDS). Methods never throw except where
 * said; issue() is synchronous.
 */
export class CertificateAuthority {
  readonly trustDomain: string;
  readonly certTtlMs: number;
  readonly #dir: string | undefined;
  readonly #clock: RegistryClock;
  readonly #logger: Logger;
  readonly #operator: OperatorSigner | undefined;
  readonly #shared: SharedCaState | undefined;
  readonly #listeners = new Set<() => void>();
  #roots: CaRoot[];
  #signer: Signer;
  #bundle: readonly X509Certificate[] = [];
  #bundlePem: readonly string[] = [];
  #timer: ClockTimer | undefined;
  #saveRetry: ClockTimer | undefined;
  #saving: Promise<void> = Promise.resolve();
  #closed = false;

  private constructor(init: { trustDomain: string; certTtlMs: number; dir: string | undefined; roots: CaRoot[]; operator: OperatorSigner | undefined } & Pick<CaOptions, 'clock' | 'logger' | 'shared'>) {
    this.trustDomain = init.trustDomain;
    this.certTtlMs = init.certTtlMs;
    this.#dir = init.dir;
    this.#clock = init.clock ?? SYSTEM_CLOCK;
    this.#logger = init.logger ?? NOOP_LOGGER;
    this.#operator = init.operator;
    this.#shared = init.shared;
    this.#roots = init.roots;
    this.#signer = this.#currentSigner();
    this.#refreshBundle();
  }

  /**
   * Opens the CA in `<stateDir>/ca/`, generating a root on first start, or loads the operator's CA. Rejects with
   * WEFT_ERR_INVALID_ARG (bad option or operator files) or WEFT_ERR_IDENTITY (unusable or unwritable CA state).
   */
  static async open(options: CaOptions): Promise<CertificateAuthority> {
    const clock = options.clock ?? SYSTEM_CLOCK;
    const logger = options.logger ?? NOOP_LOGGER;
    const certTtlMs = options.certTtlMs ?? DEFAULT_CERT_TTL_MS;
    if (!Number.isFinite(certTtlMs) || certTtlMs < MIN_CERT_TTL_MS || certTtlMs > MAX_CERT_TTL_MS) {
      throw new MeshError(ERROR_CODES.INVALID_ARG, `--cert-ttl must be between 1s and 90 days, got ${certTtlMs} ms`, { nonRetryable: true });
    }
    if (options.trustDomain !== undefined && !isTrustDomain(options.trustDomain)) {
      throw new MeshError(ERROR_CODES.INVALID_ARG, `--trust-domain '${options.trustDomain}' is not a SPIFFE trust domain (lower-case letters, digits, '.', '-', '_')`, { nonRetryable: true });
    }
    const dir = options.stateDir === false ? undefined : path.join(options.stateDir, 'ca');
    const nowMs = clock.nowMs();
    const stored = dir === undefined ? undefined : await loadCaState(dir);
    if (stored !== undefined && options.trustDomain !== undefined && stored.trustDomain !== options.trustDomain) {
      throw new MeshError(
        ERROR_CODES.IDENTITY,
        `the CA in ${dir} belongs to trust domain '${stored.trustDomain}', not '${options.trustDomain}'; start with --trust-domain ${stored.trustDomain}, or move ${dir} away to start a new CA (every workload then needs a new certificate)`,
        { nonRetryable: true },
      );
    }
    const trustDomain = stored?.trustDomain ?? options.trustDomain ?? DEFAULT_TRUST_DOMAIN;
    let roots = [...(stored?.roots ?? [])];
    let operator: OperatorSigner | undefined;
    if (options.operator !== undefined) {
      const op = await loadOperatorCa(options.operator, nowMs);
      const id = rootId(op.root);
      const retired = roots.filter((r) => r.id !== id && r.phase !== 'previous');
      for (const r of retired) logger.warn('ca: the operator CA replaces a root; it stays trusted for the overlap', { root: r.id, subject: oneLine(r.cert.subject) });
      roots = [
        { id, phase: 'active', origin: 'operator', cert: op.root, pem: op.rootPem },
        ...roots.filter((r) => r.id !== id).map((r) => (r.phase === 'previous' ? r : retire(r, nowMs, certTtlMs))),
      ];
      const intermediates = op.chainPems.flatMap((p) => { const c = parseCertificates(p); return c.ok ? c.value : []; });
      operator = { chainPems: op.chainPems, intermediates, signer: signerOf(op.cert, op.key) };
    } else {
      const active = roots.find((r) => r.phase === 'active');
      if (active?.origin === 'operator') {
        throw new MeshError(
          ERROR_CODES.IDENTITY,
          `the CA in ${dir} signs with an operator-provided CA ('${oneLine(active.cert.subject)}'); start with --ca-cert and --ca-key again, or move ${dir} away to let the control plane generate its own root`,
          { nonRetryable: true },
        );
      }
      if (active === undefined) {
        roots = [generateRoot(trustDomain, nowMs, 'active'), ...roots.filter((r) => r.phase === 'previous')];
        logger.info('ca: generated a new root', { trustDomain, root: roots[0]!.id, dir: dir ?? '(memory only)' });
      }
    }
    const ca = new CertificateAuthority({ trustDomain, certTtlMs, dir, roots, operator, clock, logger, ...(options.shared === undefined ? {} : { shared: options.shared }) });
    ca.#advance(); // phases that came due while the control plane was down
    await ca.#save();
    ca.#schedule();
    return ca;
  }

  /** The roots every workload trusts now (active first, then next, then previous). Frozen; replaced on change. */
  trustBundle(): readonly X509Certificate[] {
    return this.#bundle;
  }

  /** trustBundle() as PEM strings. */
  trustBundlePem(): readonly string[] {
    return this.#bundlePem;
  }

  /**
   * Issues an SVID for `publicKey` carrying `spiffeId`, valid from BACKDATE_MS ago for certTtlMs (never past the signing
   * certificate). `hosts` (DNS names or IP addresses) join the SAN for a server reached by address. Throws
   * WEFT_ERR_IDENTITY when the signing certificate has expired or the id is not in this trust domain.
   */
  issue(publicKey: KeyObject, spiffeId: string, options: { readonly hosts?: readonly string[] } = {}): IssuedCertificate {
    const id = parseSpiffeId(spiffeId);
    if (id === undefined || id.trustDomain !== this.trustDomain) {
      throw new MeshError(ERROR_CODES.IDENTITY, `cannot issue for '${spiffeId}': not a SPIFFE ID in trust domain ${this.trustDomain}`, { nonRetryable: true });
    }
    const nowMs = this.#clock.nowMs();
    const signerNotAfterMs = validityMs(this.#signer.cert).notAfterMs;
    if (nowMs >= signerNotAfterMs) {
      throw new MeshError(ERROR_CODES.IDENTITY, `the CA certificate '${oneLine(this.#signer.cert.subject)}' expired at ${this.#signer.cert.validTo}; give the control plane a valid CA`, { nonRetryable: true });
    }
    const notAfterMs = Math.min(nowMs + this.certTtlMs, signerNotAfterMs);
    const leaf = buildLeafCertificate({ signer: this.#signer, publicKey, spiffeId, ...(options.hosts === undefined ? {} : { hosts: options.hosts }), notBeforeMs: nowMs - BACKDATE_MS, notAfterMs });
    return { chainPem: [leaf.pem, ...(this.#operator?.chainPems ?? [])], spiffeId, serial: leaf.serial, notAfterMs: leaf.notAfterMs };
  }

  /**
   * Checks a chain a workload presents (PEM, leaf first): it leads to a root in the trust bundle, every certificate is
   * valid now, and the leaf's SPIFFE ID is in this trust domain. A chain over MAX_CHAIN_LENGTH certificates or
   * MAX_CHAIN_PEM_BYTES is refused as `malformed` before any certificate is parsed (this runs before the caller is
   * authenticated). Never throws.
   */
  verify(chainPem: string | readonly string[]): ChainCheck {
    const parsed = parsePresentedChain(typeof chainPem === 'string' ? [chainPem] : chainPem);
    if (!parsed.ok) return { ok: false, reason: 'malformed', error: `certificate chain: ${parsed.error}` };
    // The operator's intermediates are known here: a workload may leave them out of what it presents (those it sent
    // are not added twice, so a full chain stays within MAX_CHAIN_LENGTH).
    const known = (this.#operator?.intermediates ?? []).filter((i) => !parsed.value.some((c) => c.raw.equals(i.raw)));
    const result = verifyChain([...parsed.value, ...known], this.#bundle, this.#clock.nowMs());
    if (!result.ok) return result;
    if (parseSpiffeId(result.value.spiffeId)?.trustDomain !== this.trustDomain) {
      return { ok: false, reason: 'foreign', error: `${result.value.spiffeId} is not an identity of trust domain ${this.trustDomain}` };
    }
    return result;
  }

  /** What `weft ca status` prints. */
  status(): CaStatus {
    return {
      trustDomain: this.trustDomain,
      certTtlMs: this.certTtlMs,
      mode: this.#operator ? 'operator' : 'generated',
      signer: oneLine(this.#signer.cert.subject),
      roots: this.#ordered().map((r) => ({
        id: r.id,
        phase: r.phase,
        origin: r.origin,
        subject: oneLine(r.cert.subject),
        fingerprint256: r.cert.fingerprint256,
        notAfter: r.cert.validTo,
        ...(r.activateAtMs === undefined ? {} : { activateAtMs: r.activateAtMs }),
        ...(r.trustedUntilMs === undefined ? {} : { trustedUntilMs: r.trustedUntilMs }),
      })),
    };
  }

  /**
   * Starts a root rotation: generates a new root and adds it to the trust bundle now (pushed to every process); it starts
   * signing after `activateAfterMs` (default 5 min), when the old root becomes `previous` and stays trusted for the
   * certificate lifetime plus OVERLAP_MARGIN_MS. Rejects with WEFT_ERR_IDENTITY when the CA is the operator's (rotate by
   * restarting with the new --ca-cert/--ca-key) or a rotation is already under way. With a shared state, the rotation
   * starts from the latest shared roots (so one under way on another replica is seen) and is published to the others.
   */
  async rotate(options: { readonly activateAfterMs?: number } = {}): Promise<CaStatus> {
    const shared = this.#shared;
    if (shared === undefined || this.#operator) return this.#rotateHere(options);
    return shared.update(async (latest) => {
      if (latest !== undefined) this.adopt(latest);
      return this.#rotateHere(options);
    });
  }

  /**
   * Takes roots another replica saved to the shared state (a rotation made there): the trust bundle, the signing root
   * and the phase timer follow them, and onChange listeners run when the bundle or the signer changed. Returns whether
   * they did. A state of another trust domain or without an active root is refused (logged; false). An operator CA
   * ignores it: each replica signs with the --ca-cert it was given.
   */
  adopt(state: CaStateData): boolean {
    if (this.#operator || this.#closed) return false;
    const active = state.roots.find((r) => r.phase === 'active');
    if (state.trustDomain !== this.trustDomain || active?.key === undefined) {
      this.#logger.error('ca: ignoring a shared CA state that is not usable here', { trustDomain: state.trustDomain, hasActiveKey: active?.key !== undefined });
      return false;
    }
    const before = `${this.#bundlePem.join('')}|${this.#signer.cert.fingerprint256}`;
    this.#roots = [...state.roots];
    this.#advance();
    this.#signer = this.#currentSigner();
    this.#refreshBundle();
    this.#schedule();
    if (`${this.#bundlePem.join('')}|${this.#signer.cert.fingerprint256}` === before) return false;
    this.#logger.info('ca: took the roots another replica saved', { roots: this.#ordered().map((r) => `${r.id}:${r.phase}`).join(' ') });
    this.#notify();
    return true;
  }

  async #rotateHere(options: { readonly activateAfterMs?: number }): Promise<CaStatus> {
    if (this.#operator) {
      throw new MeshError(ERROR_CODES.IDENTITY, 'the CA is operator-provided (--ca-cert): rotate it by restarting the control plane with the new --ca-cert, --ca-key and --ca-chain; the old root then stays trusted for the overlap', { nonRetryable: true });
    }
    const pending = this.#roots.find((r) => r.phase === 'next');
    if (pending) {
      throw new MeshError(ERROR_CODES.IDENTITY, `a rotation is already under way: root ${pending.id} becomes active at ${new Date(pending.activateAtMs ?? 0).toISOString()}`, { nonRetryable: true });
    }
    const activateAfterMs = options.activateAfterMs ?? DEFAULT_ACTIVATE_AFTER_MS;
    const nowMs = this.#clock.nowMs();
    const next = { ...generateRoot(this.trustDomain, nowMs, 'next'), activateAtMs: nowMs + Math.max(0, activateAfterMs) };
    this.#roots = [...this.#roots, next];
    this.#logger.info('ca: root rotation started; the new root is in the trust bundle', { root: next.id, activateAt: new Date(next.activateAtMs).toISOString() });
    this.#advance();
    this.#refreshBundle();
    this.#notify();
    // The rotation is in effect (and pushed) whether or not it can be saved: arm its timer first, and keep trying to
    // save; the caller still learns that the state dir is not writable.
    this.#schedule();
    await this.#save().catch((e: unknown) => {
      this.#retrySaveLater();
      throw e;
    });
    return this.status();
  }

  /** Calls `fn` after every change of the trust bundle or the signing root (synchronously, after the change). */
  onChange(fn: () => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  /** Stops the phase timer and waits for a save in flight. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#saveRetry?.cancel();
    this.#saveRetry = undefined;
    this.#listeners.clear();
    await this.#saving;
  }

  /** Applies every phase change due now: next → active (the old active → previous), expired previous → dropped. */
  #advance(): boolean {
    const nowMs = this.#clock.nowMs();
    let changed = false;
    const due = this.#roots.find((r) => r.phase === 'next' && (r.activateAtMs ?? 0) <= nowMs);
    if (due) {
      this.#roots = this.#roots.map((r) => (r === due ? { ...r, phase: 'active' as const, activateAtMs: undefined } : r.phase === 'active' ? retire(r, nowMs, this.certTtlMs) : r));
      this.#logger.info('ca: the new root now signs; the old one stays trusted until its certificates expire', { root: due.id });
      changed = true;
    }
    const kept = this.#roots.filter((r) => r.phase !== 'previous' || (r.trustedUntilMs ?? 0) > nowMs);
    if (kept.length !== this.#roots.length) {
      for (const r of this.#roots.filter((x) => !kept.includes(x))) this.#logger.info('ca: a previous root left the trust bundle', { root: r.id, subject: oneLine(r.cert.subject) });
      this.#roots = kept;
      changed = true;
    }
    if (changed) {
      this.#signer = this.#currentSigner();
      this.#refreshBundle();
    }
    return changed;
  }

  #currentSigner(): Signer {
    if (this.#operator) return this.#operator.signer;
    const active = this.#roots.find((r) => r.phase === 'active');
    if (!active?.key) throw new MeshError(ERROR_CODES.INTERNAL, 'ca: no active root with a key'); // unreachable: open() guarantees one
    return this.#signer?.cert === active.cert ? this.#signer : signerOf(active.cert, active.key);
  }

  /** The roots active first, then next, then previous (the trust bundle's order). */
  #ordered(): CaRoot[] {
    const order = { active: 0, next: 1, previous: 2 } as const;
    return [...this.#roots].sort((a, b) => order[a.phase] - order[b.phase]);
  }

  #refreshBundle(): void {
    const roots = this.#ordered();
    this.#bundle = Object.freeze(roots.map((r) => r.cert));
    this.#bundlePem = Object.freeze(roots.map((r) => r.pem));
  }

  #schedule(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    if (this.#closed) return;
    const times = this.#roots.flatMap((r) => (r.phase === 'next' ? [r.activateAtMs ?? 0] : r.phase === 'previous' ? [r.trustedUntilMs ?? 0] : []));
    if (times.length === 0) return;
    // A previous root may stay trusted for 90 days and more: the clock re-arms waits past setTimeout's limit.
    const delayMs = Math.max(0, Math.min(...times) - this.#clock.nowMs());
    this.#timer = this.#clock.setTimer(() => {
      this.#timer = undefined;
      if (this.#advance()) {
        this.#notify();
        this.#saveInBackground();
      }
      this.#schedule();
    }, delayMs);
  }

  #notify(): void {
    for (const fn of [...this.#listeners]) {
      try {
        fn();
      } catch (e: unknown) {
        this.#logger.error('ca: change listener threw', { error: String(e) });
      }
    }
  }

  /**
   * Saves after a change nobody awaits (a phase change on the timer). A failure (an unwritable or vanished state dir)
   * must not reject into the void, which would end the process: #save has logged it, the CA keeps serving from memory,
   * and the save is tried again every SAVE_RETRY_MS until one succeeds or close().
   */
  #saveInBackground(): void {
    this.#saveRetry?.cancel();
    this.#saveRetry = undefined;
    this.#save().catch(() => this.#retrySaveLater());
  }

  #retrySaveLater(): void {
    if (this.#closed || this.#saveRetry !== undefined) return;
    this.#saveRetry = this.#clock.setTimer(() => {
      this.#saveRetry = undefined;
      this.#saveInBackground();
    }, SAVE_RETRY_MS);
  }

  /** Persists the roots (one save at a time). Rejects on failure (after logging it); see #saveInBackground. */
  #save(): Promise<void> {
    const dir = this.#dir;
    if (dir === undefined) return Promise.resolve();
    const state: CaStateData = { trustDomain: this.trustDomain, roots: this.#roots };
    const run = this.#saving.then(() => saveCaState(dir, state));
    this.#saving = run.catch((e: unknown) => {
      this.#logger.error('ca: cannot save the CA state; a restart may lose the last root change', { dir, error: String(e) });
    });
    return run.catch((e: unknown) => {
      throw new MeshError(ERROR_CODES.IDENTITY, `cannot write the CA state in ${dir}: ${e instanceof Error ? e.message : String(e)}; give a writable --state-dir (or --no-state)`, { cause: e, nonRetryable: true });
    });
  }
}

function generateRoot(trustDomain: string, nowMs: number, phase: 'active' | 'next'): CaRoot {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const stamp = new Date(nowMs).toISOString().slice(0, 10);
  const built = buildRootCertificate({ privateKey, publicKey, trustDomain, commonName: `weft root CA ${trustDomain} ${stamp}`, notBeforeMs: nowMs - BACKDATE_MS, notAfterMs: nowMs + ROOT_LIFETIME_MS });
  return { id: rootId(built.x509), phase, origin: 'generated', cert: built.x509, pem: built.pem, key: privateKey };
}

/** `root` as a previous root, trusted while a certificate it issued until `nowMs` can still be valid. */
function retire(root: CaRoot, nowMs: number, certTtlMs: number): CaRoot {
  const { key: _key, activateAtMs: _a, ...rest } = root;
  return { ...rest, phase: 'previous', trustedUntilMs: nowMs + certTtlMs + OVERLAP_MARGIN_MS };
}
