// Coalesces config and registry changes into snapshot rebuilds. A change after a quiet spell is rebuilt at once (an
// isolated edit or registration pays no delay); changes that follow within the quiet period wait for a quiet period
// after the latest, bounded by a longest wait from the first (Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX), so
// churn costs one rebuild per burst and cannot starve pushes.
import { SYSTEM_CLOCK, type TimerClock, type TimerHandle } from '../../../src/core/clock.js';
import { invalidArg } from '../../../src/core/errors.js';

/**
 * Default quiet period (ms): 0, a rebuild on the next timer turn (changes of one turn coalesce). A process that
 * registers and at once expects to be called, as many start-up scripts and this project's own tests do, sees its
 * endpoint routed within the turn; with Istio's 100 ms (PILOT_DEBOUNCE_AFTER, `--debounce 100ms`) a rollout costs a
 * few pushes instead of one per registration, at the price of up to 100 ms (1 s under churn) before an endpoint is
 * routed. Recommended for large meshes with frequent churn.
 */
export const DEFAULT_DEBOUNCE_MS = 0;
/**
 * Default longest wait from the first change of a burst to its rebuild (ms). Istio uses 10 s for Kubernetes API churn;
 * Weft promises an edit reaches every process within about a second (DESIGN.md, goal p99 ≤ 1 s), so under constant
 * churn (a service rescaled every second, workloads registering continuously) a change waits at most 1 s.
 */
export const DEFAULT_DEBOUNCE_MAX_MS = 1_000;

/** Options of PushDebouncer. */
export interface PushDebounceOptions {
  /** Quiet period in ms (default DEFAULT_DEBOUNCE_MS; 0 = rebuild on the next timer turn, bursts in one turn still coalesce). */
  readonly debounceMs?: number;
  /** Longest wait from the first change in ms (default DEFAULT_DEBOUNCE_MAX_MS; raised to debounceMs if lower). */
  readonly debounceMaxMs?: number;
  /** Time and timers (default the system clock); tests pass a FakeClock. */
  readonly clock?: TimerClock;
}

/**
 * Calls `run(firstChangeAtMs)` for `changed()` calls: on the next timer turn when nothing was rebuilt for `debounceMs`
 * (the leading edge: changes of that turn coalesce), else once per burst, when `debounceMs` passed without a change,
 * or `debounceMaxMs` after the burst's first change, whichever comes first. `firstChangeAtMs` is the time of the first
 * change the run includes (what convergence time is measured from). `run` never runs synchronously from changed(),
 * never after close(); a throw from it is the caller's to catch. One timer at most is pending: a change inside a
 * burst only moves a deadline, it does not re-arm a timer. Throws WEFT_ERR_INVALID_ARG for negative or non-finite
 * delays.
 */
export class PushDebouncer {
  readonly debounceMs: number;
  readonly debounceMaxMs: number;
  readonly #clock: TimerClock;
  readonly #run: (firstChangeAtMs: number) => void;
  #firstAtMs: number | undefined;
  #lastAtMs = 0;
  /** When run was last called (-Infinity before the first). */
  #lastRunAtMs = Number.NEGATIVE_INFINITY;
  /** The pending run is a leading edge: it runs when its timer fires, whatever came since. */
  #leading = false;
  #timer: TimerHandle | undefined;
  #closed = false;

  constructor(run: (firstChangeAtMs: number) => void, options: PushDebounceOptions = {}) {
    const quiet = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    const max = options.debounceMaxMs ?? DEFAULT_DEBOUNCE_MAX_MS;
    if (!Number.isFinite(quiet) || quiet < 0) invalidArg(`debounceMs must be a number of ms ≥ 0, got ${quiet}`);
    if (!Number.isFinite(max) || max < 0) invalidArg(`debounceMaxMs must be a number of ms ≥ 0, got ${max}`);
    this.debounceMs = quiet;
    this.debounceMaxMs = Math.max(max, quiet);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#run = run;
  }

  /** True while a burst waits for its rebuild. */
  get pending(): boolean {
    return this.#firstAtMs !== undefined;
  }

  /** Records one change; the rebuild that follows includes it. No-op after close(). */
  changed(): void {
    if (this.#closed) return;
    const nowMs = this.#clock.nowMs();
    this.#lastAtMs = nowMs;
    if (this.#firstAtMs === undefined) {
      this.#firstAtMs = nowMs;
      this.#leading = nowMs - this.#lastRunAtMs >= this.debounceMs;
      this.#arm(this.#leading ? 0 : this.debounceMs);
    }
  }

  /** Cancels a pending rebuild and ignores later changes. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#firstAtMs = undefined;
  }

  #arm(delayMs: number): void {
    this.#timer = this.#clock.setTimer(() => this.#due(), Math.max(0, delayMs));
  }

  #due(): void {
    this.#timer = undefined;
    const first = this.#firstAtMs;
    if (this.#closed || first === undefined) return;
    const dueAtMs = Math.min(this.#lastAtMs + this.debounceMs, first + this.debounceMaxMs);
    const nowMs = this.#clock.nowMs();
    if (!this.#leading && nowMs < dueAtMs) {
      this.#arm(dueAtMs - nowMs); // changes came during the quiet period: wait for the new deadline
      return;
    }
    this.#firstAtMs = undefined;
    this.#lastRunAtMs = nowMs;
    this.#run(first);
  }
}
