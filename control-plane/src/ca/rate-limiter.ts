// A token bucket that bounds how many CSRs the CA signs per second (Consul's csr_max_per_second idea, default 50/s).

/** Default CSR signing rate (`--csr-rate`), per second. */
export const DEFAULT_CSR_RATE_PER_SECOND = 50;

/** The outcome of asking for one token: allowed, or when to ask again. */
export type Admission = { readonly ok: true } | { readonly ok: false; readonly retryAfterMs: number };

/**
 * Allows `ratePerSecond` takes per second on average with a burst of `burst` (default one second's worth). A rate of 0
 * disables the limit. `nowMs` is injectable for tests. Synchronous and allocation-free on the allowed path.
 */
export class RateLimiter {
  readonly ratePerSecond: number;
  readonly #burst: number;
  readonly #nowMs: () => number;
  #tokens: number;
  #lastMs: number;

  constructor(ratePerSecond: number, options: { readonly burst?: number; readonly nowMs?: () => number } = {}) {
    if (!Number.isFinite(ratePerSecond) || ratePerSecond < 0) throw new RangeError(`rate must be a number ≥ 0, got ${ratePerSecond}`);
    this.ratePerSecond = ratePerSecond;
    this.#burst = Math.max(1, options.burst ?? ratePerSecond);
    this.#nowMs = options.nowMs ?? Date.now;
    this.#tokens = this.#burst;
    this.#lastMs = this.#nowMs();
  }

  /** Takes one token if there is one. */
  take(): Admission {
    if (this.ratePerSecond === 0) return ALLOWED;
    const nowMs = this.#nowMs();
    this.#tokens = Math.min(this.#burst, this.#tokens + ((nowMs - this.#lastMs) * this.ratePerSecond) / 1000);
    this.#lastMs = nowMs;
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return ALLOWED;
    }
    return { ok: false, retryAfterMs: Math.ceil(((1 - this.#tokens) * 1000) / this.ratePerSecond) };
  }
}

const ALLOWED: Admission = Object.freeze({ ok: true });
