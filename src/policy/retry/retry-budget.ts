// A retry budget per destination cluster (Linkerd/Finagle semantics): over a sliding window, retries may add at most
// `percent` % of the requests sent, plus a floor of `minRetriesPerSecond`, so a full outage cannot multiply load.
import type { RetryBudgetPolicy } from '../../discovery/mesh-state.js';

/** Default share of requests retries may add (Linkerd retryRatio 0.2). */
export const DEFAULT_RETRY_BUDGET_PERCENT = 20;
/** Default retries always allowed per second (Linkerd minRetriesPerSecond). */
export const DEFAULT_MIN_RETRIES_PER_SECOND = 10;
/** Default sliding window (Linkerd ttl 10 s), in ms. */
export const DEFAULT_RETRY_BUDGET_WINDOW_MS = 10_000;
/** Width of one counting bucket, in ms: the window slides in steps of this. */
const BUCKET_MS = 1_000;

/** Counters a budget keeps, for tests, explain() and metrics. */
export interface RetryBudgetStats {
  /** First attempts counted in the current window. */
  readonly requests: number;
  /** Retries allowed in the current window. */
  readonly retries: number;
  /** Retries refused by the budget since it was created. */
  readonly exhausted: number;
}

/**
 * A sliding-window retry budget: `tryRetry()` allows a retry while
 * `retries < percent/100 × requests + minRetriesPerSecond × seconds` (both counted over the last `windowMs`; the floor
 * grows one second at a time from creation, so a fresh budget cannot burst the whole window's floor at once).
 * O(1) per call: a ring of one-second buckets, no timestamps kept. `now` is a monotonic clock in ms (injectable for
 * tests). Never throws; not reentrant (no callbacks).
 */
export class RetryBudget {
  #percent: number;
  #minPerSecond: number;
  readonly #buckets: number;
  readonly #requests: Uint32Array;
  readonly #retries: Uint32Array;
  readonly #now: () => number;
  readonly #start: number;
  #current: number;
  #requestSum = 0;
  #retrySum = 0;
  #exhausted = 0;

  constructor(policy: Partial<RetryBudgetPolicy> = {}, now: () => number = defaultNow, windowMs = DEFAULT_RETRY_BUDGET_WINDOW_MS) {
    this.#percent = policy.percent ?? DEFAULT_RETRY_BUDGET_PERCENT;
    this.#minPerSecond = policy.minRetriesPerSecond ?? DEFAULT_MIN_RETRIES_PER_SECOND;
    this.#buckets = Math.max(1, Math.round(windowMs / BUCKET_MS));
    this.#requests = new Uint32Array(this.#buckets);
    this.#retries = new Uint32Array(this.#buckets);
    this.#now = now;
    this.#start = Math.floor(now() / BUCKET_MS);
    this.#current = this.#start;
  }

  /** Share of recent requests retries may add, 0..100. */
  get percent(): number {
    return this.#percent;
  }

  /** Retries always allowed per second. */
  get minRetriesPerSecond(): number {
    return this.#minPerSecond;
  }

  /** Applies a new policy (a CDS update) without losing the counts. */
  configure(policy: Partial<RetryBudgetPolicy> | undefined): void {
    this.#percent = policy?.percent ?? DEFAULT_RETRY_BUDGET_PERCENT;
    this.#minPerSecond = policy?.minRetriesPerSecond ?? DEFAULT_MIN_RETRIES_PER_SECOND;
  }

  /** True when `policy` is what this budget applies. */
  appliesPolicy(policy: Partial<RetryBudgetPolicy> | undefined): boolean {
    return (policy?.percent ?? DEFAULT_RETRY_BUDGET_PERCENT) === this.#percent && (policy?.minRetriesPerSecond ?? DEFAULT_MIN_RETRIES_PER_SECOND) === this.#minPerSecond;
  }

  /** Counts one request (a first attempt). */
  onRequest(): void {
    const i = this.#advance();
    this.#requests[i]!++;
    this.#requestSum++;
  }

  /** Takes one retry from the budget: true (and counted) when allowed, false (counted as exhausted) when not. */
  tryRetry(): boolean {
    const i = this.#advance();
    const elapsed = Math.min(this.#buckets, this.#current - this.#start + 1);
    const allowed = (this.#percent / 100) * this.#requestSum + this.#minPerSecond * elapsed * (BUCKET_MS / 1000);
    if (this.#retrySum + 1 > allowed) {
      this.#exhausted++;
      return false;
    }
    this.#retries[i]!++;
    this.#retrySum++;
    return true;
  }

  /** Current counts (a fresh object). */
  stats(): RetryBudgetStats {
    this.#advance();
    return { requests: this.#requestSum, retries: this.#retrySum, exhausted: this.#exhausted };
  }

  /** Moves the window to now, clearing buckets that fell out of it; returns the current bucket's index. */
  #advance(): number {
    const bucket = Math.floor(this.#now() / BUCKET_MS);
    const n = this.#buckets;
    if (bucket !== this.#current) {
      const steps = Math.min(n, bucket - this.#current);
      for (let k = 1; k <= steps; k++) {
        const j = (this.#current + k) % n;
        this.#requestSum -= this.#requests[j]!;
        this.#retrySum -= this.#retries[j]!;
        this.#requests[j] = 0;
        this.#retries[j] = 0;
      }
      if (bucket > this.#current) this.#current = bucket;
    }
    return this.#current % n;
  }
}

function defaultNow(): number {
  return performance.now();
}

/** The budget for `cluster`: `previous` (counts kept) re-configured when its policy changed, or a new one. */
export function retryBudgetFor(cluster: { readonly retryBudget?: RetryBudgetPolicy }, previous: RetryBudget | undefined): RetryBudget {
  if (previous === undefined) return new RetryBudget(cluster.retryBudget ?? {});
  if (!previous.appliesPolicy(cluster.retryBudget)) previous.configure(cluster.retryBudget);
  return previous;
}
