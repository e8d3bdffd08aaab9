// Coalesces config, CA and registry changes into snapshot rebuilds, in two lanes on one timer. Debounced changes
// (config edits, CA rotations) wait for a quiet period after the latest, bounded by a longest wait from the first
// (Istio's PILOT_DEBOUNCE_AFTER / PILOT_DEBOUNCE_MAX), so an edit burst costs one rebuild and churn cannot starve
// pushes; one after a quiet spell is rebuilt at once. Urgent changes (endpoints: registrations, deregistrations,
// drains, lease expiry) are rebuilt on the next timer turn whatever the debounced lane is waiting for: a process that
// registers is routed at once, and a deregistration reaches callers well inside the SDK's drain delay even while
// config edits churn.
import { SYSTEM_CLOCK, type TimerClock, type TimerHandle } from '../../../src/core/clock.js';
import { invalidArg } from '../../../src/core/errors.js';

/**
 * Default quiet period of debounced changes (ms): Istio's PILOT_DEBOUNCE_AFTER. An `weft apply` burst (a directory of
 * files applied one by one, a rollout script) costs a few pushes instead of one per file. Endpoint changes never wait
 * for it (they are urgent), and an edit after a quiet spell is rebuilt at once, so it delays only the edits that follow
 * another within 100 ms.
 */
export const DEFAULT_DEBOUNCE_MS = 100;
/**
 * Default longest wait from the first change of a burst to its rebuild (ms). Istio uses 10 s for Kubernetes API churn;
 * Weft promises an edit reaches every process within about a second (DESIGN.md, goal p99 ≤ 1 s), so under constant
 * churn (edits every few tens of ms) a debounced change waits at most 1 s.
 */
export const DEFAULT_DEBOUNCE_MAX_MS = 1_000;

/** Options of PushDebouncer. */
export interface PushDebounceOptions {
  /** Quiet period of debounced changes in ms (default DEFAULT_DEBOUNCE_MS; 0 = the next timer turn, changes of one turn still coalesce). */
  readonly debounceMs?: number;
  /** Longest wait of a debounced change from the first of its burst in ms (default DEFAULT_DEBOUNCE_MAX_MS; raised to debounceMs if lower). */
  readonly debounceMaxMs?: number;
  /** Time and timers (default the system clock); tests pass a FakeClock. */
  readonly clock?: TimerClock;
}

/** What one change is. */
export interface PushChange {
  /**
   * Rebuilt on the next timer turn, never behind the quiet period (default false: debounced). The control plane marks
   * endpoint changes urgent: routing to a new endpoint or away from a gone one cannot wait for an edit burst to end.
   */
  readonly urgent?: boolean;
}

/** What one run includes. */
export interface PushBatch {
  /** Time of the first change the run includes (ms since the epoch): what convergence time is measured from. */
  readonly firstChangeAtMs: number;
  /** The run includes debounced changes (their quiet period or bound passed, or they led after a quiet spell). */
  readonly debounced: boolean;
  /** The run includes urgent changes. */
  readonly urgent: boolean;
}

/** One lane's pending changes: the first (what the run is stamped with) and the latest. */
interface Burst {
  readonly firstAtMs: number;
  lastAtMs: number;
  /** A leading edge (after a quiet spell): due on the next turn, whatever came since. */
  readonly leading: boolean;
}

/**
 * Calls `run(batch)` for `changed()` calls. Urgent changes are run on the next timer turn (changes of that turn
 * coalesce). Debounced changes are run on the next timer turn when no debounced change was run for `debounceMs` (the
 * leading edge), else once per burst, when `debounceMs` passed without a debounced change, or `debounceMaxMs` after the
 * burst's first, whichever comes first. A run includes every lane that is due; an urgent run leaves a debounced burst
 * that is not due waiting (its deadline unchanged), so the caller decides how much of its state an urgent run
 * rebuilds. `run` never runs synchronously from changed(), never after close(); a throw from it is the caller's to
 * catch (a debounced burst still waiting stays armed). One timer at most is pending. Throws WEFT_ERR_INVALID_ARG for
 * negative or non-finite delays.
 */
export class PushDebouncer {
  readonly debounceMs: number;
  readonly debounceMaxMs: number;
  readonly #clock: TimerClock;
  readonly #run: (batch: PushBatch) => void;
  #debounced: Burst | undefined;
  /** Time of the first urgent change not yet run. */
  #urgentAtMs: number | undefined;
  /** When debounced changes were last run (-Infinity before the first). */
  #lastRunAtMs = Number.NEGATIVE_INFINITY;
  #timer: TimerHandle | undefined;
  #timerAtMs = Number.POSITIVE_INFINITY;
  #closed = false;

  constructor(run: (batch: PushBatch) => void, options: PushDebounceOptions = {}) {
    const quiet = options.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    const max = options.debounceMaxMs ?? DEFAULT_DEBOUNCE_MAX_MS;
    if (!Number.isFinite(quiet) || quiet < 0) invalidArg(`debounceMs must be a number of ms ≥ 0, got ${quiet}`);
    if (!Number.isFinite(max) || max < 0) invalidArg(`debounceMaxMs must be a number of ms ≥ 0, got ${max}`);
    this.debounceMs = quiet;
    this.debounceMaxMs = Math.max(max, quiet);
    this.#clock = options.clock ?? SYSTEM_CLOCK;
    this.#run = run;
  }

  /** True while a change waits for its run. */
  get pending(): boolean {
    return this.#debounced !== undefined || this.#urgentAtMs !== undefined;
  }

  /** Records one change; the run that follows includes it. No-op after close(). */
  changed(change: PushChange = {}): void {
    if (this.#closed) return;
    const nowMs = this.#clock.nowMs();
    if (change.urgent === true) {
      this.#urgentAtMs ??= nowMs;
      this.#arm(nowMs);
      return;
    }
    if (this.#debounced !== undefined) {
      this.#debounced.lastAtMs = nowMs; // inside a burst only the deadline moves; the armed timer re-reads it
      return;
    }
    const leading = nowMs - this.#lastRunAtMs >= this.debounceMs;
    this.#debounced = { firstAtMs: nowMs, lastAtMs: nowMs, leading };
    this.#arm(leading ? nowMs : nowMs + this.debounceMs);
  }

  /** Cancels a pending run and ignores later changes. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#cancel();
    this.#debounced = undefined;
    this.#urgentAtMs = undefined;
  }

  /** When the debounced burst is due: at once for a leading edge, else quiet after its latest, capped by the bound. */
  #dueAtMs(burst: Burst): number {
    return burst.leading ? burst.firstAtMs : Math.min(burst.lastAtMs + this.debounceMs, burst.firstAtMs + this.debounceMaxMs);
  }

  /** Makes sure the timer fires by `atMs` (an earlier timer is kept: #due re-arms for what is left). */
  #arm(atMs: number): void {
    if (this.#timer !== undefined && this.#timerAtMs <= atMs) return;
    this.#cancel();
    this.#timerAtMs = atMs;
    this.#timer = this.#clock.setTimer(() => this.#due(), Math.max(0, atMs - this.#clock.nowMs()));
  }

  #cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
  }

  #due(): void {
    this.#timer = undefined;
    this.#timerAtMs = Number.POSITIVE_INFINITY;
    if (this.#closed) return;
    const nowMs = this.#clock.nowMs();
    const burst = this.#debounced;
    const debounced = burst !== undefined && nowMs >= this.#dueAtMs(burst);
    const urgentAtMs = this.#urgentAtMs;
    // A burst not yet due stays armed before run: a throw from run must not strand it.
    if (burst !== undefined && !debounced) this.#arm(this.#dueAtMs(burst));
    if (!debounced && urgentAtMs === undefined) return; // changes came during the quiet period: re-armed for the new deadline
    this.#urgentAtMs = undefined;
    let firstChangeAtMs = urgentAtMs ?? Number.POSITIVE_INFINITY;
    if (debounced) {
      this.#debounced = undefined;
      this.#lastRunAtMs = nowMs;
      firstChangeAtMs = Math.min(firstChangeAtMs, burst.firstAtMs);
    }
    this.#run({ firstChangeAtMs, debounced, urgent: urgentAtMs !== undefined });
  }
}
