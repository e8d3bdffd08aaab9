// A manual clock for outlier-detector tests: intervals run only when the test advances time.
import type { OutlierClock } from './outlier-detector.js';

/** A manual clock: advance() runs due interval callbacks in time order. */
export class FakeOutlierClock implements OutlierClock {
  t = 0;
  readonly #timers = new Map<number, { fn: () => void; ms: number; due: number }>();
  #id = 0;
  now(): number {
    return this.t;
  }
  setInterval(fn: () => void, ms: number): unknown {
    const id = ++this.#id;
    this.#timers.set(id, { fn, ms, due: this.t + ms });
    return id;
  }
  clearInterval(handle: unknown): void {
    this.#timers.delete(handle as number);
  }
  get timers(): number {
    return this.#timers.size;
  }
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: { fn: () => void; ms: number; due: number } | undefined;
      for (const t of this.#timers.values()) if (t.due <= end && (next === undefined || t.due < next.due)) next = t;
      if (next === undefined) break;
      this.t = next.due;
      next.due += next.ms;
      next.fn();
    }
    this.t = end;
  }
}
