// A route's concurrency limit (a bulkhead): a fixed number of calls in flight, or an adaptive limit that follows the
// route's latency (Envoy's gradient controller), failing the calls past it at once.
import type { ErrorKind } from '../../core/classify.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { ConcurrencyLimitPolicy } from '../../discovery/mesh-state.js';
import type { AttemptObserver } from '../attempt-observer.js';

export type { ConcurrencyLimitPolicy };

/** A limiter's state at one moment (for mesh.status()). Plain data. */
export interface ConcurrencyLimitSnapshot {
  readonly scope: string;
  readonly kind: 'fixed' | 'adaptive';
  /** Calls admitted now. */
  readonly inFlight: number;
  /** The limit in force (for adaptive limits, the current estimate). */
  readonly limit: number;
  /** Calls refused since the limiter was created. */
  readonly rejected: number;
}

/** Most latencies kept per update window (the newest win): bounds memory and the sort of one percentile. */
const MAX_WINDOW_SAMPLES = 1024;

/**
 * Counts a route's calls in flight against its limit. tryAcquire() admits a call or refuses it (counting the
 * refusal); the transport adapter reports the call's end through the AttemptObserver methods (timed with `clock`).
 *
 * An adaptive limiter runs Envoy's gradient controller on the calls' latencies: it measures the no-load latency
 * (minRTT, the percentile of `minRttRequests` calls made at `minConcurrency`), then every `updateIntervalMs` sets
 * limit = limit × clamp(minRTT × (1 + buffer) / window latency, 0.5, 2) + √(that), so a route whose calls queue up
 * (latency above minRTT plus the buffer) gets fewer calls at once and one with room gets more. minRTT is measured
 * again every `minRttIntervalMs` (± jitter); during a measurement the limit is `minConcurrency` (as in Envoy, calls
 * past it are refused). Time moves only when calls end: nothing runs without traffic. Carried over when the route's
 * configuration changes (configure()). Synchronous; never throws.
 */
export class ConcurrencyLimiter implements AttemptObserver {
  readonly clock: () => number;
  readonly #random: () => number;
  #policy: ConcurrencyLimitPolicy;
  #limit: number;
  #inFlight = 0;
  #rejected = 0;
  /** Adaptive only: measuring minRTT now; the limit to go back to after it; the samples of this phase. */
  #measuring = true;
  #limitAfterMeasuring = 0;
  #minRttMs = 0;
  #window = new Float64Array(MAX_WINDOW_SAMPLES);
  #count = 0;
  #windowStartMs = Number.NaN;
  #nextMeasureMs = Number.POSITIVE_INFINITY;

  constructor(policy: ConcurrencyLimitPolicy, clock: () => number = () => performance.now(), random: () => number = Math.random) {
    this.clock = clock;
    this.#random = random;
    this.#policy = policy;
    this.#limit = policy.kind === 'fixed' ? policy.maxConcurrency : policy.minConcurrency;
    if (policy.kind === 'adaptive') this.#limitAfterMeasuring = policy.minConcurrency;
  }

  /** The policy in force. */
  get policy(): ConcurrencyLimitPolicy {
    return this.#policy;
  }

  /** Calls admitted and not yet ended. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The limit in force: calls are admitted while fewer than this are in flight. */
  get limit(): number {
    return this.#limit;
  }

  /** The no-load latency an adaptive limiter measured (ms); undefined before the first measurement ends. */
  get minRttMs(): number | undefined {
    return this.#minRttMs > 0 ? this.#minRttMs : undefined;
  }

  /**
   * Applies an edited policy; calls in flight stay counted. Fixed → its limit at once. Adaptive, from adaptive: the
   * estimate and minRTT carry over within the new bounds; from fixed: starts by measuring minRTT.
   */
  configure(policy: ConcurrencyLimitPolicy): void {
    if (policy === this.#policy) return;
    const was = this.#policy;
    this.#policy = policy;
    if (policy.kind === 'fixed') {
      this.#limit = policy.maxConcurrency;
      return;
    }
    if (was.kind === 'fixed') {
      this.#startMeasuring(policy.minConcurrency, policy);
      return;
    }
    if (this.#measuring) this.#limit = policy.minConcurrency;
    else this.#limit = clamp(this.#limit, 1, policy.maxConcurrency);
    this.#limitAfterMeasuring = clamp(this.#limitAfterMeasuring, 1, policy.maxConcurrency);
  }

  /** Admits one call (true), or counts a refusal (false) when the limit's calls are already in flight. */
  tryAcquire(): boolean {
    if (this.#inFlight >= this.#limit) {
      this.#rejected++;
      return false;
    }
    this.#inFlight++;
    return true;
  }

  /**
   * An admitted call ended (AttemptObserver): frees its slot and, for an adaptive limit, takes `latencyMs` (to the
   * response headers, or to the end when there were none) as a sample. A call the caller aborted (`other`) says
   * nothing about the route's latency.
   */
  ended(failure: ErrorKind | undefined, _started: boolean, _responded: boolean, latencyMs = Number.NaN): void {
    if (this.#inFlight > 0) this.#inFlight--;
    const p = this.#policy;
    if (p.kind === 'adaptive' && failure !== 'other' && Number.isFinite(latencyMs)) this.#sample(Math.max(latencyMs, 0), p);
  }

  #sample(latencyMs: number, p: Extract<ConcurrencyLimitPolicy, { kind: 'adaptive' }>): void {
    const now = this.clock();
    this.#window[this.#count++ % MAX_WINDOW_SAMPLES] = latencyMs;
    if (this.#measuring) {
      if (this.#count < p.minRttRequests) return;
      this.#minRttMs = this.#percentile(p.percentile);
      this.#measuring = false;
      this.#limit = clamp(this.#limitAfterMeasuring, 1, p.maxConcurrency);
      this.#count = 0;
      this.#windowStartMs = now;
      const jitter = 1 + ((this.#random() * 2 - 1) * p.jitterPercent) / 100;
      this.#nextMeasureMs = p.minRttIntervalMs > 0 ? now + p.minRttIntervalMs * jitter : Number.POSITIVE_INFINITY;
      return;
    }
    if (now - this.#windowStartMs < p.updateIntervalMs) return;
    const sampleMs = this.#percentile(p.percentile);
    this.#count = 0;
    this.#windowStartMs = now;
    const gradient = clamp((this.#minRttMs * (1 + p.bufferPercent / 100)) / Math.max(sampleMs, 1e-3), 0.5, 2);
    const scaled = gradient * this.#limit;
    this.#limit = clamp(Math.round(scaled + Math.sqrt(scaled)), 1, p.maxConcurrency);
    if (now >= this.#nextMeasureMs) this.#startMeasuring(this.#limit, p);
  }

  #startMeasuring(limitAfter: number, p: Extract<ConcurrencyLimitPolicy, { kind: 'adaptive' }>): void {
    this.#measuring = true;
    this.#limitAfterMeasuring = limitAfter;
    this.#limit = p.minConcurrency;
    this.#count = 0;
  }

  /** The `p`th percentile of the samples of the current window (the newest MAX_WINDOW_SAMPLES of them). */
  #percentile(p: number): number {
    const n = Math.min(this.#count, MAX_WINDOW_SAMPLES);
    const sorted = this.#window.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor((p / 100) * n))]!;
  }

  /** WEFT_ERR_OVERLOADED for a call this limiter refused (`details.reason` `concurrency_limit`). */
  overflowError(authority: string, route: string): MeshError {
    const p = this.#policy;
    const limit = this.limit;
    const why = p.kind === 'adaptive' && this.#measuring ? ', held low while the route\'s no-load latency is measured' : '';
    return new MeshError(
      ERROR_CODES.OVERLOADED,
      `route '${route}' of ${authority} already has ${this.#inFlight} calls in flight, its ${p.kind} concurrency limit (${p.scope}) of ${limit}${why}: the call is refused without being sent`,
      { rejected: true, details: { authority, route, scope: p.scope, reason: 'concurrency_limit', limit, status: 503 } },
    );
  }

  /** Counters and limit now. */
  snapshot(): ConcurrencyLimitSnapshot {
    return Object.freeze({ scope: this.#policy.scope, kind: this.#policy.kind, inFlight: this.#inFlight, limit: this.limit, rejected: this.#rejected });
  }
}

function clamp(x: number, min: number, max: number): number {
  return x < min ? min : x > max ? max : x;
}
