// Weighted random picking: one uniform draw per call, O(1) for equal weights and O(log n) by cumulative weight otherwise.
import type { Picker, Pickable } from './picker.js';

/** Picks an endpoint at random in proportion to its weight (Envoy RANDOM). Immutable apart from the RNG. */
export class RandomPicker<T extends Pickable> implements Picker<T> {
  readonly kind = 'random' as const;
  readonly items: readonly T[];
  readonly position = 0;
  readonly #cumulative: Float64Array | undefined;
  readonly #random: () => number;

  constructor(items: readonly T[], random: () => number) {
    this.items = Object.freeze([...items]);
    this.#random = random;
    const equal = this.items.every((e) => e.weight === this.items[0]!.weight);
    if (equal) {
      this.#cumulative = undefined;
    } else {
      this.#cumulative = new Float64Array(this.items.length);
      let sum = 0;
      this.items.forEach((e, i) => (this.#cumulative![i] = sum += Math.max(1, e.weight)));
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** A random endpoint, weighted. Precondition: size > 0. */
  pick(): T {
    const c = this.#cumulative;
    if (c === undefined) return this.items[Math.floor(this.#random() * this.items.length)]!;
    const r = this.#random() * c[c.length - 1]!;
    let lo = 0;
    let hi = c.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (r < c[mid]!) hi = mid;
      else lo = mid + 1;
    }
    return this.items[lo]!;
  }

  /** Not predictable: undefined. */
  peek(): T | undefined {
    return undefined;
  }
}
