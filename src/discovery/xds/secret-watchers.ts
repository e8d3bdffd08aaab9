// Who watches which SDS Secret on an ADS client, and handing each accepted version to them once.
import type { Logger } from '../../core/logger.js';
import type { SecretResource } from './resources/index.js';

/** A watcher of one Secret. */
export type SecretListener = (secret: SecretResource) => void;

/**
 * Watchers of SDS Secrets by name. `deliver` hands a Secret's accepted value to its watchers when it differs from the
 * last one handed over, in a microtask (never synchronously from the ADS response handling), and never once `closed()`.
 */
export class SecretWatchers {
  readonly #byName = new Map<string, Set<SecretListener>>();
  readonly #delivered = new Map<string, SecretResource>();
  readonly #logger: Logger;
  readonly #closed: () => boolean;

  constructor(logger: Logger, closed: () => boolean) {
    this.#logger = logger;
    this.#closed = closed;
  }

  /** The watched names (what the client subscribes to). */
  names(): IterableIterator<string> {
    return this.#byName.keys();
  }

  /**
   * Adds `fn` for `name`; `held` (the value already accepted, if any) is handed to it at once (in a microtask).
   * Returns whether `name` is newly watched, and the remover (which says whether `name` is no longer watched).
   */
  add(name: string, fn: SecretListener, held: SecretResource | undefined): { readonly first: boolean; readonly remove: () => boolean } {
    let fns = this.#byName.get(name);
    const first = fns === undefined;
    if (fns === undefined) {
      fns = new Set();
      this.#byName.set(name, fns);
    }
    const set = fns;
    set.add(fn);
    if (held !== undefined) {
      this.#delivered.set(name, held);
      queueMicrotask(() => set.has(fn) && !this.#closed() && this.#call(name, fn, held));
    }
    return {
      first,
      remove: () => {
        set.delete(fn);
        if (set.size > 0 || this.#byName.get(name) !== set) return false;
        this.#byName.delete(name);
        this.#delivered.delete(name);
        return true;
      },
    };
  }

  /** Hands every watched Secret whose value in `accepted` changed to its watchers. */
  deliver(accepted: (name: string) => SecretResource | undefined): void {
    for (const [name, fns] of this.#byName) {
      const value = accepted(name);
      if (value === undefined || this.#delivered.get(name) === value) continue;
      this.#delivered.set(name, value);
      queueMicrotask(() => {
        for (const fn of [...fns]) if (!this.#closed()) this.#call(name, fn, value);
      });
    }
  }

  /** Forgets every watcher. */
  clear(): void {
    this.#byName.clear();
    this.#delivered.clear();
  }

  #call(name: string, fn: SecretListener, value: SecretResource): void {
    try {
      fn(value);
    } catch (e: unknown) {
      this.#logger.error('watchSecret listener threw', { secret: name, error: String(e) });
    }
  }
}
