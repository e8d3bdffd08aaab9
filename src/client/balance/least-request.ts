// Least-request picking with power-of-N choices (Envoy LEAST_REQUEST): sample N endpoints, take the one with the fewest
// calls in flight relative to its weight.
import type { EndpointLoad, Picker, Pickable } from './picker.js';

/** Samples `choiceCount` distinct-ish endpoints at random and picks the least loaded (inflight / weight; ties: first). */
export class LeastRequestPicker<T extends Pickable> implements Picker<T> {
  readonly kind = 'least-request' as const;
  readonly items: readonly T[];
  readonly position = 0;
  readonly #loads: readonly EndpointLoad[];
  readonly #weights: Float64Array;
  readonly #choices: number;
  readonly #random: () => number;

  /** `loads[i]` is the load of `items[i]` (shared with the endpoint's dispatch, which updates it). */
  constructor(items: readonly T[], loads: readonly EndpointLoad[], choiceCount: number, random: () => number) {
    this.items = Object.freeze([...items]);
    this.#loads = loads;
    this.#weights = Float64Array.from(this.items, (e) => Math.max(1, e.weight));
    this.#choices = Math.max(2, choiceCount);
    this.#random = random;
  }

  get size(): number {
    return this.items.length;
  }

  /** Precondition: size > 0. O(choiceCount), no allocation. */
  pick(): T {
    const n = this.items.length;
    if (n === 1) return this.items[0]!;
    let best = Math.floor(this.#random() * n);
    let bestScore = (this.#loads[best]!.inflight + 1) / this.#weights[best]!;
    for (let k = 1; k < this.#choices; k++) {
      let i = Math.floor(this.#random() * (n - 1));
      if (i >= best) i++; // a second, different endpoint (for choiceCount 2 this is exact P2C)
      const score = (this.#loads[i]!.inflight + 1) / this.#weights[i]!;
      if (score < bestScore) {
        best = i;
        bestScore = score;
      }
    }
    return this.items[best]!;
  }

  /** Not predictable: undefined. */
  peek(): T | undefined {
    return undefined;
  }
}
