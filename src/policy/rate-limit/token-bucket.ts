// A token bucket as Envoy's local rate limit keeps it: starts full, gains tokensPerFill every fillInterval (whole
// intervals only), capped at maxTokens; each admitted request takes one token. Time comes from the caller.
import type { TokenBucketSpec } from '../../discovery/inbound-policy.js';

/** One bucket. Not shared across processes: "local" limits are per instance. */
export class TokenBucket {
  readonly spec: TokenBucketSpec;
  #tokens: number;
  #lastFillMs: number;

  /** A full bucket whose fill intervals count from `nowMs`. */
  constructor(spec: TokenBucketSpec, nowMs: number) {
    this.spec = spec;
    this.#tokens = spec.maxTokens;
    this.#lastFillMs = nowMs;
  }

  /**
   * Takes a token at `nowMs`: returns 0 when admitted, else the ms until the next fill adds one (> 0). A clock that
   * goes backwards refills nothing. O(1), no allocation.
   */
  take(nowMs: number): number {
    const { fillIntervalMs, tokensPerFill, maxTokens } = this.spec;
    const elapsed = nowMs - this.#lastFillMs;
    if (elapsed >= fillIntervalMs) {
      const fills = Math.floor(elapsed / fillIntervalMs);
      this.#tokens = Math.min(maxTokens, this.#tokens + fills * tokensPerFill);
      this.#lastFillMs += fills * fillIntervalMs;
    }
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.max(1, this.#lastFillMs + fillIntervalMs - nowMs);
  }

  /** Tokens left now (for status). */
  available(nowMs: number): number {
    const elapsed = nowMs - this.#lastFillMs;
    if (elapsed < this.spec.fillIntervalMs) return this.#tokens;
    return Math.min(this.spec.maxTokens, this.#tokens + Math.floor(elapsed / this.spec.fillIntervalMs) * this.spec.tokensPerFill);
  }
}

/** Equal specs (same bucket shape). */
export function sameBucketSpec(a: TokenBucketSpec, b: TokenBucketSpec): boolean {
  return a.maxTokens === b.maxTokens && a.tokensPerFill === b.tokensPerFill && a.fillIntervalMs === b.fillIntervalMs;
}
