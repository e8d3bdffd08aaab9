// The clock behind Weft's long waits (certificate renewal and expiry, CA phase changes, registry leases): setTimeout
// cannot wait longer than 2^31-1 ms (about 24.8 days) and runs a longer delay after 1 ms, so long waits are armed in steps.

/** setTimeout's longest delay in ms (2^31-1, about 24.8 days); Node runs a longer one after 1 ms. */
export const MAX_TIMER_MS = 2_147_483_647;

/** A cancellable one-shot timer. */
export interface TimerHandle {
  /** Stops the timer; its function never runs afterwards. Idempotent. */
  cancel(): void;
}

/** A time source with one-shot timers; injectable, so tests drive time with a FakeClock (src/testing/fake-clock.ts). */
export interface TimerClock {
  /** Current time in ms since the epoch. */
  nowMs(): number;
  /** Calls `fn` once after `delayMs`; the timer must not keep the process alive. */
  setTimer(fn: () => void, delayMs: number): TimerHandle;
}

/**
 * `base` with timers of any length: a delay over MAX_TIMER_MS is armed in steps of at most MAX_TIMER_MS, each step
 * re-reading `base.nowMs()`, until the due time comes; `fn` then runs once (never synchronously, never after cancel()).
 * A delay of Infinity never fires. Shorter delays go straight to `base`.
 */
export function withLongTimers(base: TimerClock): TimerClock {
  return Object.freeze({
    nowMs: () => base.nowMs(),
    setTimer(fn: () => void, delayMs: number): TimerHandle {
      if (!(delayMs > MAX_TIMER_MS)) return base.setTimer(fn, delayMs);
      const dueMs = base.nowMs() + delayMs;
      let handle: TimerHandle;
      const arm = (): void => {
        const remainingMs = dueMs - base.nowMs();
        handle = remainingMs > MAX_TIMER_MS ? base.setTimer(arm, MAX_TIMER_MS) : base.setTimer(fn, remainingMs);
      };
      arm();
      return { cancel: () => handle.cancel() };
    },
  });
}

/** The real clock: Date.now() and unref'd setTimeout (it never keeps the process alive), for delays of any length. */
export const SYSTEM_CLOCK: TimerClock = withLongTimers({
  nowMs: () => Date.now(),
  setTimer(fn: () => void, delayMs: number): TimerHandle {
    const t = setTimeout(fn, delayMs);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
});
