// What every ConfigStore shares: the last good configuration, its listeners, the last refused reload's errors, and
// one promise queue that runs reloads and edits one at a time.
import type { Disposable } from '../../../src/core/watch.js';
import type { Logger } from '../../../src/core/logger.js';
import type { ConfigError, ConfigResource, MeshConfig } from '../model.js';
import { createMeshConfig } from './mesh-config.js';

/** The publishing half of a ConfigStore; a store composes one and adds where the configuration is kept. */
export class ConfigFeed {
  readonly #logger: Logger;
  readonly #listeners = new Set<(config: MeshConfig) => void>();
  #current: MeshConfig;
  #queue: Promise<unknown> = Promise.resolve();
  /** Errors of the last refused reload (ConfigStore.lastErrors); frozen, replaced whole. */
  lastErrors: readonly ConfigError[] = [];

  /** Starts at generation 1 with `resources` (already validated). */
  constructor(resources: readonly ConfigResource[], logger: Logger) {
    this.#current = createMeshConfig(resources, 1);
    this.#logger = logger;
  }

  /** The last good configuration. */
  current(): MeshConfig {
    return this.#current;
  }

  /** Replaces the current value without a new generation or notification (same content, e.g. new sources). */
  replaceQuietly(resources: readonly ConfigResource[]): void {
    this.#current = createMeshConfig(resources, this.#current.generation);
  }

  /** ConfigStore.onChange: `fn` is called by publish(), never synchronously here. */
  onChange(fn: (config: MeshConfig) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  /** Makes `resources` the next generation and tells every listener (a listener that throws is logged). */
  publish(resources: readonly ConfigResource[]): MeshConfig {
    const config = createMeshConfig(resources, this.#current.generation + 1);
    this.#current = config;
    for (const fn of [...this.#listeners]) {
      try {
        fn(config);
      } catch (e: unknown) {
        this.#logger.error('config change listener threw', { error: String(e) });
      }
    }
    return config;
  }

  /** Runs `task` after every task enqueued before it (a failed one does not stop the queue). */
  enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Resolves once every task enqueued so far has finished. */
  async drain(): Promise<void> {
    await this.#queue;
  }
}
