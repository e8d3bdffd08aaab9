// A Watch holds the current value of some configuration and tells subscribers when it changes.

/** Something that can be released; calling `dispose()` twice is harmless. */
export interface Disposable {
  dispose(): void;
}

/** A read-only view of a changing value. */
export interface Watch<T> {
  /** The current value; never blocks. */
  get(): T;
  /**
   * Calls `fn` after every change with the new value (never synchronously inside `onChange`).
   * Errors thrown by `fn` are reported to the logger passed to the cell and otherwise ignored.
   */
  onChange(fn: (value: T) => void): Disposable;
}

/** A Watch its owner can set. Setting the same value (===) is not a change. */
export class WatchCell<T> implements Watch<T> {
  #value: T;
  readonly #listeners = new Set<(value: T) => void>();
  readonly #onError: (e: unknown) => void;

  constructor(initial: T, onError: (e: unknown) => void = () => {}) {
    this.#value = initial;
    this.#onError = onError;
  }

  get(): T {
    return this.#value;
  }

  /** Replaces the value and notifies listeners synchronously, in subscription order. */
  set(value: T): void {
    if (value === this.#value) return;
    this.#value = value;
    for (const fn of [...this.#listeners]) {
      try {
        fn(value);
      } catch (e: unknown) {
        this.#onError(e);
      }
    }
  }

  onChange(fn: (value: T) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }
}
