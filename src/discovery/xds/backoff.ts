// Jittered exponential backoff for reconnecting the ADS stream.

/** Reconnect delays: doubling from `initialMs` up to `maxMs`, each one jittered by ±20 %. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #random: () => number;
  #nextMs: number;

  /** `random` returns [0, 1) and is injectable for tests (default Math.random). */
  constructor(initialMs: number, maxMs: number, random: () => number = Math.random) {
    this.#initialMs = initialMs;
    this.#maxMs = Math.max(maxMs, initialMs);
    this.#random = random;
    this.#nextMs = initialMs;
  }

  /** The delay before the next attempt, in ms; each call doubles the base for the following one. */
  next(): number {
    const base = this.#nextMs;
    this.#nextMs = Math.min(this.#nextMs * 2, this.#maxMs);
    return Math.round(base * (0.8 + 0.4 * this.#random()));
  }

  /** Starts again from the initial delay (after a stream that worked). */
  reset(): void {
    this.#nextMs = this.#initialMs;
  }
}
