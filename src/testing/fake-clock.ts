// A manual clock for tests: time moves only when the test says, and due timers fire in time order.

/** A timer handle from FakeClock.setTimer. */
export interface FakeTimer {
  cancel(): void;
}

/**
 * A clock with `nowMs()` and `setTimer(fn, delayMs)`, the shape Weft's injectable clocks take (identity renewal, the
 * CA, the registry). `advance(ms)` moves time and runs every timer that comes due, in order, synchronously; a timer set
 * by a callback runs too if it comes due within the same advance.
 */
export class FakeClock {
  #nowMs: number;
  #seq = 0;
  readonly #timers = new Map<number, { readonly atMs: number; readonly fn: () => void }>();

  constructor(startMs = Date.UTC(2030, 0, 1)) {
    this.#nowMs = startMs;
  }

  /** The current fake time, in ms since the epoch. */
  nowMs(): number {
    return this.#nowMs;
  }

  /** Schedules `fn` at now + `delayMs` (negative counts as 0). */
  setTimer(fn: () => void, delayMs: number): FakeTimer {
    const id = ++this.#seq;
    this.#timers.set(id, { atMs: this.#nowMs + Math.max(0, delayMs), fn });
    return { cancel: () => void this.#timers.delete(id) };
  }

  /** How many timers are pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The time of the earliest pending timer, or undefined. */
  nextAtMs(): number | undefined {
    let min: number | undefined;
    for (const t of this.#timers.values()) if (min === undefined || t.atMs < min) min = t.atMs;
    return min;
  }

  /** Moves time forward by `ms`, running due timers in time order (ties in the order set); returns how many ran. */
  advance(ms: number): number {
    const target = this.#nowMs + ms;
    let ran = 0;
    for (;;) {
      let next: [number, { atMs: number; fn: () => void }] | undefined;
      for (const entry of this.#timers) if (entry[1].atMs <= target && (next === undefined || entry[1].atMs < next[1].atMs)) next = entry;
      if (next === undefined) break;
      this.#timers.delete(next[0]);
      this.#nowMs = Math.max(this.#nowMs, next[1].atMs);
      next[1].fn();
      ran++;
    }
    this.#nowMs = target;
    return ran;
  }
}
