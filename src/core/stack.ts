// A stack is a named, ordered list of layers; users edit it by role and compose it with a right fold.
import { invalidArg } from './errors.js';

/** A layer wraps the next step of a call path: `(next) => wrapped`. */
export type Layer<S> = (next: S) => S;

/** One named entry of a stack. `role` is a kebab-case name unique in its stack. */
export interface StackEntry<S> {
  readonly role: string;
  readonly description: string;
  readonly layer: Layer<S>;
}

/** An immutable list of layers, outermost first. Every edit returns a new Stack. */
export class Stack<S> {
  readonly entries: readonly StackEntry<S>[];

  constructor(entries: readonly StackEntry<S>[] = []) {
    const seen = new Set<string>();
    for (const e of entries) {
      if (seen.has(e.role)) invalidArg(`stack: role '${e.role}' appears twice`);
      seen.add(e.role);
    }
    this.entries = Object.freeze([...entries]);
  }

  /** Returns a stack with `entry` placed just above (outside) the layer named `role`. Throws if `role` is absent. */
  insertBefore(role: string, entry: StackEntry<S>): Stack<S> {
    const i = this.#indexOf(role);
    return new Stack([...this.entries.slice(0, i), entry, ...this.entries.slice(i)]);
  }

  /** Returns a stack with `entry` placed just below (inside) the layer named `role`. Throws if `role` is absent. */
  insertAfter(role: string, entry: StackEntry<S>): Stack<S> {
    const i = this.#indexOf(role);
    return new Stack([...this.entries.slice(0, i + 1), entry, ...this.entries.slice(i + 1)]);
  }

  /** Returns a stack with the layer named `role` replaced. Throws if `role` is absent. */
  replace(role: string, layer: Layer<S>, description?: string): Stack<S> {
    const i = this.#indexOf(role);
    const old = this.entries[i]!;
    const copy = [...this.entries];
    copy[i] = { role, description: description ?? old.description, layer };
    return new Stack(copy);
  }

  /** Returns a stack without the layer named `role`. Throws if `role` is absent. */
  remove(role: string): Stack<S> {
    const i = this.#indexOf(role);
    return new Stack([...this.entries.slice(0, i), ...this.entries.slice(i + 1)]);
  }

  /** Wraps `base` in every layer, the first entry outermost (a right fold). */
  compose(base: S): S {
    let next = base;
    for (let i = this.entries.length - 1; i >= 0; i--) next = this.entries[i]!.layer(next);
    return next;
  }

  /** One line per layer, outermost first: `role — description`. */
  describe(): string {
    return this.entries.map((e, i) => `${i + 1}. ${e.role} — ${e.description}`).join('\n');
  }

  #indexOf(role: string): number {
    const i = this.entries.findIndex((e) => e.role === role);
    if (i < 0) invalidArg(`stack: no layer with role '${role}' (have: ${this.entries.map((e) => e.role).join(', ')})`);
    return i;
  }
}
