// A service's inbound runtime: subscribes to its inbound policy, compiles every new one into the pipeline (once per
// update), decides requests with it, counts and logs refusals. One per mesh; HTTP and gRPC servers share it.
import type { Disposable } from '../../core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../core/logger.js';
import type { Discovery } from '../../discovery/discovery.js';
import type { InboundState } from '../../discovery/inbound-policy.js';
import type { TelemetryPolicy } from '../../discovery/telemetry-policy.js';
import { ProviderPool } from '../../policy/authn/index.js';
import { BucketPool, compileInboundPolicy, PASS_THROUGH, refuseAll, type CompiledInbound, type Decision, type InboundRequest } from './pipeline.js';
import type { Refusal } from './refusal.js';

/** How long a request waits for a policy not received yet before it is refused with 503 (ms). */
export const DEFAULT_POLICY_WAIT_MS = 5_000;
/** At most one log line per refusal reason per this many ms (the rest are counted in `suppressed`). */
export const REFUSAL_LOG_INTERVAL_MS = 1_000;

/** The inbound section of mesh.status(): the policy in force and what it refused, by reason. */
export interface InboundStatus {
  readonly service: string;
  /** `none` = no policy subscribed yet (nothing served), `pending`, `absent` (no policy: all pass), `active`, `error`. */
  readonly policy: 'none' | 'pending' | 'absent' | 'active' | 'error';
  /** Why the policy was refused (status `error`), or the refusal of the latest update still kept in force. */
  readonly message?: string;
  /** Requests decided by an enforcing policy (pass-through requests are not counted: they cost nothing). */
  readonly checked: number;
  readonly allowed: number;
  /** Refusals by reason code (`jwt_expired`, `rbac_denied`, `rate_limited`, ...). */
  readonly refused: Readonly<Record<string, number>>;
  /** RBAC refusals by AuthorizationPolicy (`default-deny` when none matched an ALLOW). */
  readonly deniedBy: Readonly<Record<string, number>>;
}

/** Options of InboundRuntime. */
export interface InboundRuntimeOptions {
  readonly service: string;
  readonly discovery: Discovery;
  readonly logger?: Logger;
  /** Clock (ms since epoch) for rate limits, token expiry and JWKS staleness; default Date.now. */
  readonly nowMs?: () => number;
  /** Bound on waiting for a policy not received yet (default DEFAULT_POLICY_WAIT_MS). */
  readonly policyWaitMs?: number;
  /** fetch for remote JWKS (tests); default the global fetch. */
  readonly fetch?: typeof globalThis.fetch;
}

/**
 * The runtime. `start()` subscribes (idempotent); `current` is the pipeline in force (undefined while the first
 * policy is awaited); `check()` decides a request. A new policy applies to the next request; a request already
 * being checked finishes on the pipeline it started with.
 */
export class InboundRuntime {
  readonly service: string;
  readonly #discovery: Discovery;
  readonly #logger: Logger;
  readonly #nowMs: () => number;
  readonly #waitMs: number;
  readonly #providers: ProviderPool;
  readonly #buckets: BucketPool;
  #compiled: CompiledInbound | undefined;
  #state: InboundState | undefined;
  #waiters = new Set<() => void>();
  #sub: Disposable | undefined;
  #started = false;
  #checked = 0;
  #allowed = 0;
  readonly #refused = new Map<string, number>();
  readonly #deniedBy = new Map<string, number>();
  readonly #lastLog = new Map<string, { atMs: number; suppressed: number }>();

  constructor(options: InboundRuntimeOptions) {
    this.service = options.service;
    this.#discovery = options.discovery;
    this.#logger = options.logger ?? NOOP_LOGGER;
    this.#nowMs = options.nowMs ?? Date.now;
    this.#waitMs = options.policyWaitMs ?? DEFAULT_POLICY_WAIT_MS;
    this.#providers = new ProviderPool({ nowMs: this.#nowMs, ...(options.fetch !== undefined && { fetch: options.fetch }) }, (provider, e) =>
      this.#logger.warn('weft: JWKS fetch failed; tokens of this provider fail until keys arrive', { provider, error: e instanceof Error ? e.message : String(e) }),
    );
    this.#buckets = new BucketPool(this.#nowMs);
  }

  /** True once start() was called (something serves with this runtime). */
  get started(): boolean {
    return this.#started || this.#compiled !== undefined;
  }

  /** Telemetry of the inbound policy in force (its HCM `tracing` / `access_log`); undefined without one. */
  get telemetry(): TelemetryPolicy | undefined {
    const s = this.#state;
    return s?.status === 'resolved' ? s.policy.telemetry : undefined;
  }

  /** The pipeline in force; undefined until the first policy (or its absence) is known. */
  get current(): CompiledInbound | undefined {
    return this.#compiled;
  }

  /**
   * Subscribes to this service's inbound policy, once. A Discovery without inbound support gives a pass-through
   * pipeline at once. Resolves when the first answer is in or `timeoutMs` passed; never rejects.
   */
  async start(timeoutMs = 0): Promise<InboundState> {
    const discovery = this.#discovery;
    if (discovery.resolveInbound === undefined) {
      this.#compiled ??= PASS_THROUGH;
      return { status: 'absent' };
    }
    if (!this.#started) {
      this.#started = true;
      this.#sub = discovery.state.onChange(() => this.#update());
    }
    const state = await discovery.resolveInbound(this.service, timeoutMs);
    this.#update();
    return state;
  }

  /** Decides `req` with the pipeline in force, waiting (bounded) for the first policy. Never rejects. */
  check(req: InboundRequest): Decision | Promise<Decision> {
    const compiled = this.#compiled;
    let decision: Decision | Promise<Decision>;
    try {
      decision = compiled !== undefined ? compiled.check(req) : this.#waitThenCheck(req);
    } catch (e: unknown) {
      decision = this.#internal(e);
    }
    if (decision instanceof Promise) return decision.then((d) => this.#count(d, req), (e: unknown) => this.#count(this.#internal(e), req));
    return this.#count(decision, req);
  }

  /** Policy state and counters (a fresh frozen object). */
  status(): InboundStatus {
    const s = this.#state;
    const policy = !this.#started && this.#compiled === undefined ? 'none' : s === undefined || s.status === 'pending' ? 'pending' : s.status === 'resolved' ? 'active' : s.status;
    return Object.freeze({
      service: this.service,
      policy,
      ...(s?.status === 'error' && { message: s.message }),
      checked: this.#checked,
      allowed: this.#allowed,
      refused: Object.freeze(Object.fromEntries(this.#refused)),
      deniedBy: Object.freeze(Object.fromEntries(this.#deniedBy)),
    });
  }

  /** Stops following policy updates; waiting requests are refused. Idempotent. */
  close(): void {
    this.#sub?.dispose();
    this.#sub = undefined;
    for (const wake of [...this.#waiters]) wake();
  }

  #update(): void {
    const next = this.#discovery.state.get().inbound?.get(this.service);
    if (next === undefined || next === this.#state) return;
    const previous = this.#state;
    this.#state = next;
    switch (next.status) {
      case 'pending':
        return;
      case 'absent':
        this.#compiled = PASS_THROUGH;
        break;
      case 'error':
        // compileInbound keeps a last good policy as `resolved`: an error state means there never was one.
        this.#compiled = refuseAll({ code: 'WEFT_ERR_CONFIG_REJECTED', reason: 'inbound_policy_refused', detail: next.message });
        this.#logger.error('weft: inbound policy refused and no earlier one to keep; refusing requests', { service: this.service, error: next.message });
        break;
      case 'resolved':
        try {
          this.#compiled = compileInboundPolicy(next.policy, { nowMs: this.#nowMs, providers: this.#providers, buckets: this.#buckets });
          this.#providers.sweep();
          this.#buckets.sweep();
          this.#logger.info('weft: inbound policy applied', { service: this.service, listener: next.policy.listener, enforcing: !this.#compiled.passThrough });
        } catch (e: unknown) {
          // Decoding validated it; a compile failure is a bug. Keep what was in force (fail closed if nothing).
          this.#logger.error('weft: inbound policy could not be compiled; keeping the previous one', { service: this.service, error: String(e) });
          this.#state = previous;
          this.#compiled ??= refuseAll({ code: 'WEFT_ERR_INTERNAL', reason: 'inbound_policy_invalid', detail: String(e) });
        }
        break;
    }
    for (const wake of [...this.#waiters]) wake();
  }

  #waitThenCheck(req: InboundRequest): Promise<Decision> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, this.#waitMs);
      function done(): void {
        clearTimeout(timer);
        wake.delete(done);
        resolve();
      }
      const wake = this.#waiters;
      wake.add(done);
      void this.start(0);
    }).then(() => {
      const compiled = this.#compiled;
      if (compiled === undefined) {
        const refusal: Refusal = { code: 'WEFT_ERR_CONFIG_TIMEOUT', reason: 'inbound_policy_pending', detail: `no inbound policy for '${this.service}' from the control plane within ${this.#waitMs} ms` };
        return { ok: false, refusal } satisfies Decision;
      }
      return compiled.check(req);
    });
  }

  #internal(e: unknown): Decision {
    this.#logger.error('weft: inbound pipeline failed; refusing the request', { service: this.service, error: e instanceof Error ? e.stack : String(e) });
    return { ok: false, refusal: { code: 'WEFT_ERR_INTERNAL', reason: 'inbound_pipeline_error', detail: e instanceof Error ? e.message : String(e) } };
  }

  #count(d: Decision, req: InboundRequest): Decision {
    if (this.#compiled?.passThrough === true && d.ok) return d;
    this.#checked++;
    if (d.ok) {
      this.#allowed++;
      return d;
    }
    const r = d.refusal;
    this.#refused.set(r.reason, (this.#refused.get(r.reason) ?? 0) + 1);
    if (r.policy !== undefined) this.#deniedBy.set(r.policy, (this.#deniedBy.get(r.policy) ?? 0) + 1);
    this.#log(r, req);
    return d;
  }

  /**
   * Counts and logs a connection refused before any request (mTLS: a failed handshake, TLS without a certificate, a
   * plaintext-only server), under `reason` in `status().refused`, with the same rate-limited log line as requests.
   */
  refuseConnection(reason: string, detail: string, peer: string): void {
    this.#refused.set(reason, (this.#refused.get(reason) ?? 0) + 1);
    this.#log({ code: 'WEFT_ERR_PERMISSION_DENIED', reason, detail }, { peer });
  }

  /** Logs a refusal, at most once per reason per REFUSAL_LOG_INTERVAL_MS (counting the ones not logged). */
  #log(r: Refusal, req: { readonly method?: string; readonly path?: string; readonly principal?: string | undefined; readonly peer?: string }): void {
    const now = this.#nowMs();
    const last = this.#lastLog.get(r.reason);
    if (last !== undefined && now - last.atMs < REFUSAL_LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    this.#lastLog.set(r.reason, { atMs: now, suppressed: 0 });
    this.#logger.warn('weft: inbound request refused', {
      service: this.service,
      code: r.code,
      reason: r.reason,
      detail: r.detail,
      ...(req.method !== undefined && { method: req.method, path: req.path, principal: req.principal }),
      ...(req.peer !== undefined && { peer: req.peer }),
      ...(last !== undefined && last.suppressed > 0 && { suppressedSinceLast: last.suppressed }),
    });
  }
}
