// Peak-EWMA picking (Finagle / Linkerd's default): power of two choices by cost = latency EWMA × (calls in flight + 1),
// so a slow or overloaded endpoint gets little traffic and a recovered one earns it back as its estimate decays.
import type { EndpointLoad, Picker, Pickable } from './picker.js';

/** P2C over `items` by EndpointLoad.cost(); weights divide the cost. Immutable apart from the shared loads. */
export class PeakEwmaPicker<T extends Pickable> implements Picker<T> {
  readonly kind = 'peak-ewma' as const;
  readonly items: readonly T[];
  readonly position = 0;
  readonly #loads: readonly EndpointLoad[];
  readonly #weights: Float64Array;
  readonly #decayMs: number;
  readonly #random: () => number;
  readonly #nowMs: () => number;

  /** `loads[i]` is the load of `items[i]`; `decayMs` is the EWMA time constant (Linkerd: 10 s). */
  constructor(items: readonly T[], loads: readonly EndpointLoad[], decayMs: number, random: () => number, nowMs: () => number) {
    this.items = Object.freeze([...items]);
    this.#loads = loads;
    this.#weights = Float64Array.from(this.items, (e) => Math.max(1, e.weight));
    this.#decayMs = decayMs;
    this.#random = random;
    this.#nowMs = nowMs;
  }

  get size(): number {
    return this.items.length;
  }

  /** Precondition: size > 0. Two random distinct endpoints; the cheaper wins (ties: the first drawn). */
  pick(): T {
    const n = this.items.length;
    if (n === 1) return this.items[0]!;
    const a = Math.floor(this.#random() * n);
    let b = Math.floor(this.#random() * (n - 1));
    if (b >= a) b++;
    const now = this.#nowMs();
    const costA = this.#loads[a]!.cost(now, this.#decayMs) / this.#weights[a]!;
    const costB = this.#loads[b]!.cost(now, this.#decayMs) / this.#weights[b]!;
    return this.items[costB < costA ? b : a]!;
  }

  /** Not predictable: undefined. */
  peek(): T | undefined {
    return undefined;
  }
}
