// Weighted round-robin picking: an immutable endpoint list plus one counter, rebuilt whenever a cluster's endpoints change.

/** Longest pick sequence built for weighted endpoints; weights are scaled down past it (ratios kept approximately). */
export const MAX_SEQUENCE_LENGTH = 4096;

/** Anything with a relative weight (≥ 1; 0 or non-finite counts as 1). */
export interface Weighted {
  readonly weight: number;
}

/**
 * Round-robin over `items`. Equal weights cycle in order; unequal weights follow a smooth weighted sequence
 * (nginx SWRR) so heavy endpoints are interleaved, not bursted. The item list is frozen; only the counter moves.
 * pick() is O(1) and allocation-free; call it only when `size > 0`.
 */
export class RoundRobinPicker<T extends Weighted> {
  /** Which balancer this is (the Picker contract of picker.ts). */
  readonly kind = 'round-robin' as const;
  /** The endpoints, in configuration order. */
  readonly items: readonly T[];
  /** Indexes into `items`, one pass of the cycle (undefined when all weights are equal). */
  readonly #sequence: Uint32Array | undefined;
  readonly #length: number;
  #next: number;

  /** `start` is where the cycle begins (e.g. the previous picker's position, to keep spreading after an update). */
  constructor(items: readonly T[], start = 0) {
    this.items = Object.freeze([...items]);
    this.#sequence = buildSequence(this.items);
    this.#length = this.#sequence ? this.#sequence.length : this.items.length;
    this.#next = this.#length === 0 ? 0 : Math.abs(Math.trunc(start)) % this.#length;
  }

  /** Number of endpoints. */
  get size(): number {
    return this.items.length;
  }

  /** Position in the cycle of the next pick (to seed a successor picker). */
  get position(): number {
    return this.#next;
  }

  /** Returns the next endpoint and advances. Precondition: size > 0. */
  pick(): T {
    const i = this.#next;
    this.#next = i + 1 === this.#length ? 0 : i + 1;
    const seq = this.#sequence;
    return this.items[seq === undefined ? i : seq[i]!]!;
  }

  /** Returns the endpoint the next pick() would return, without advancing; undefined when empty. */
  peek(): T | undefined {
    if (this.#length === 0) return undefined;
    const seq = this.#sequence;
    return this.items[seq === undefined ? this.#next : seq[this.#next]!];
  }
}

function weightOf(w: number): number {
  return Number.isFinite(w) && w >= 1 ? Math.floor(w) : 1;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Smooth weighted round robin: each step adds every weight to its current value and picks (then lowers) the largest. */
function buildSequence(items: readonly Weighted[]): Uint32Array | undefined {
  if (items.length < 2) return undefined;
  let weights = items.map((it) => weightOf(it.weight));
  if (weights.every((w) => w === weights[0])) return undefined;
  const divisor = weights.reduce(gcd);
  weights = weights.map((w) => w / divisor);
  let total = weights.reduce((a, b) => a + b, 0);
  if (total > MAX_SEQUENCE_LENGTH) {
    const scale = MAX_SEQUENCE_LENGTH / total;
    weights = weights.map((w) => Math.max(1, Math.round(w * scale)));
    total = weights.reduce((a, b) => a + b, 0);
  }
  const current = new Float64Array(weights.length);
  const seq = new Uint32Array(total);
  for (let s = 0; s < total; s++) {
    let best = 0;
    for (let i = 0; i < weights.length; i++) {
      current[i]! += weights[i]!;
      if (current[i]! > current[best]!) best = i;
    }
    current[best]! -= total;
    seq[s] = best;
  }
  return seq;
}
