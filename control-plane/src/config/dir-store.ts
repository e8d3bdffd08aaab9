// The embedded ConfigStore: a directory of YAML files, validated whole-or-nothing, watched for hand edits, and
// written by apply/delete (one file per resource, atomically). Every operation runs in one promise queue.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { formatConfigError, type ConfigChange, type ConfigError, type ConfigResource, type ConfigStore, type MeshConfig } from '../model.js';
import { describeKnownKinds, resolveKind, resourceFileName, resourceKey } from './kinds.js';
import type { FilterKind } from './rule-filters-schema.js';
import { createMeshConfig, keyOf, resourceFingerprint, routes } from './mesh-config.js';
import { planApply } from './plan.js';
import { validateConfig } from './validate.js';
import { FileEdits, isTempFileName, readConfigDir } from './yaml-files.js';

/** Options of openDirStore. */
export interface DirStoreOptions {
  /** The config directory; created (with parents) if missing. Only files directly in it are read, not sub-folders. */
  readonly dir: string;
  /** Watch the directory and apply hand edits live. Default true. */
  readonly watch?: boolean;
  /** Quiet time after the last file event before reloading, in ms. Default 50. */
  readonly debounceMs?: number;
  readonly logger?: Logger;
}

/**
 * Opens the directory store: reads every `*.yaml`/`*.yml` in `dir` and validates them as one configuration.
 * Rejects (MeshError WEFT_ERR_INVALID_CONFIG, `details.errors` = the ConfigErrors) if it is invalid, listing every
 * error in the message: a control plane must not start on bad config. A missing directory is created (empty config).
 * After that nothing throws: a bad hand edit keeps the last good config and is reported by `lastErrors()`.
 */
export async function openDirStore(options: DirStoreOptions): Promise<ConfigStore> {
  const { dir } = options;
  await mkdir(dir, { recursive: true });
  const { resources, errors } = await readConfigDir(dir);
  const all = errors.length > 0 ? errors : validateConfig(resources);
  if (all.length > 0) {
    throw new MeshError(
      ERROR_CODES.INVALID_CONFIG,
      `invalid configuration in ${dir} (${all.length} error${all.length === 1 ? '' : 's'}):\n${all.map((e) => `  ${formatConfigError(e)}`).join('\n')}`,
      { nonRetryable: true, details: { dir, errors: all } },
    );
  }
  const store = new DirStore(dir, createMeshConfig(resources, 1), options.debounceMs ?? 50, options.logger ?? NOOP_LOGGER);
  if (options.watch ?? true) store.startWatching();
  return store;
}

const APPLY_SOURCE = '<apply>';

class DirStore implements ConfigStore {
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #logger: Logger;
  readonly #listeners = new Set<(config: MeshConfig) => void>();
  #current: MeshConfig;
  #lastErrors: readonly ConfigError[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(dir: string, initial: MeshConfig, debounceMs: number, logger: Logger) {
    this.#dir = dir;
    this.#current = initial;
    this.#debounceMs = debounceMs;
    this.#logger = logger;
  }

  current(): MeshConfig {
    return this.#current;
  }

  lastErrors(): readonly ConfigError[] {
    return this.#lastErrors;
  }

  onChange(fn: (config: MeshConfig) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }

  apply(yamlText: string, source: string = APPLY_SOURCE): Promise<ConfigChange> {
    return this.#enqueue(() => this.#apply(yamlText, source));
  }

  delete(kind: string, name: string): Promise<ConfigChange> {
    return this.#enqueue(() => this.#delete(kind, name));
  }

  /** Re-reads the directory now (what the watcher does after a file event). */
  reload(): Promise<void> {
    return this.#enqueue(() => this.#reload());
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#watcher?.close();
      this.#watcher = undefined;
      clearTimeout(this.#timer);
    }
    await this.#queue;
  }

  startWatching(): void {
    try {
      this.#watcher = watch(this.#dir, { persistent: false }, (_event, file) => {
        // Any name but the store's own temp files: Kubernetes ConfigMap mounts change `..data`, not the *.yaml links.
        if (file === null || !isTempFileName(String(file))) this.#schedule();
      });
      this.#watcher.on('error', (e: unknown) => {
        this.#logger.error('config directory watch failed; hand edits are no longer picked up', { dir: this.#dir, error: String(e) });
      });
    } catch (e: unknown) {
      this.#logger.error('cannot watch the config directory; hand edits will not be picked up', { dir: this.#dir, error: String(e) });
    }
  }

  #schedule(): void {
    if (this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.reload(), this.#debounceMs);
    this.#timer.unref();
  }

  #enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(task, task);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #publish(resources: readonly ConfigResource[]): MeshConfig {
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

  async #reload(): Promise<void> {
    if (this.#closed) return;
    const { resources, errors } = await readConfigDir(this.#dir);
    const all = errors.length > 0 ? errors : validateConfig(resources);
    if (all.length > 0) {
      this.#lastErrors = Object.freeze(all);
      this.#logger.warn('config directory has errors; keeping the last good configuration', {
        dir: this.#dir,
        generation: this.#current.generation,
        errors: all.map(formatConfigError),
      });
      return;
    }
    this.#lastErrors = [];
    const changed = diff(this.#current.resources, resources);
    if (changed.length === 0) {
      // Same content (e.g. the echo of the store's own write); only sources may differ: update them quietly.
      this.#current = createMeshConfig(resources, this.#current.generation);
      this.#logger.debug('config directory re-read: no change', { generation: this.#current.generation });
      return;
    }
    const config = this.#publish(resources);
    this.#logger.info('config directory reloaded', { generation: config.generation, changed });
  }

  async #apply(text: string, source: string): Promise<ConfigChange> {
    if (this.#closed) return closedError();
    const plan = planApply(this.#current, text, source);
    if (!plan.ok) return plan;
    const { merged, changed: changedDocs } = plan;
    if (changedDocs.length === 0) return { ok: true, config: this.#current, changed: [] };
    const existing = new Map(this.#current.resources.map((r) => [keyOf(r), r]));

    const edits = new FileEdits();
    const written = new Map<string, string>();
    for (const { resource } of changedDocs) {
      const key = keyOf(resource);
      const target = path.join(this.#dir, resourceFileName(resource.kind, resource.metadata.name));
      written.set(key, target);
      const old = existing.get(key);
      const files = old && old.source !== target && this.#isOwnFile(old.source) ? [target, old.source] : [target];
      for (const file of files) {
        const err = await edits.load(file);
        if (err) return { ok: false, errors: [{ ...err, resource: key }] };
      }
    }
    for (const { resource, document } of changedDocs) {
      const key = keyOf(resource);
      const target = written.get(key)!;
      const old = existing.get(key);
      if (old && old.source !== target) edits.remove(old.source, key);
      edits.put(target, key, document);
    }
    const ioError = await commit(edits);
    if (ioError) return ioError;

    const placed = merged.map((r) => {
      const file = written.get(keyOf(r));
      return file === undefined ? r : { ...r, source: file };
    });
    const changed = changedDocs.map((d) => keyOf(d.resource)).sort();
    const config = this.#publish(placed);
    this.#logger.info('config applied', { generation: config.generation, changed, source });
    return { ok: true, config, changed };
  }

  async #delete(kindAlias: string, name: string): Promise<ConfigChange> {
    if (this.#closed) return closedError();
    const kind = resolveKind(kindAlias);
    if (!kind) {
      return { ok: false, errors: [{ field: 'kind', message: `"${kindAlias}" is not a kind Weft knows; Weft knows ${describeKnownKinds()}` }] };
    }
    const key = resourceKey(kind, name);
    const target = this.#current.resources.find((r) => keyOf(r) === key);
    if (!target) return { ok: false, errors: [{ resource: key, message: 'not found' }] };
    const remaining = this.#current.resources.filter((r) => r !== target);
    const errors = kind === 'Service' ? referencesTo(name, remaining) : kind === 'FaultInjection' || kind === 'ConcurrencyLimit' ? filterReferencesTo(kind, name, remaining) : [];
    if (errors.length === 0) errors.push(...validateConfig(remaining));
    if (errors.length > 0) return { ok: false, errors };

    if (this.#isOwnFile(target.source)) {
      const edits = new FileEdits();
      const err = await edits.load(target.source);
      if (err) return { ok: false, errors: [{ ...err, resource: key }] };
      edits.remove(target.source, key);
      const ioError = await commit(edits);
      if (ioError) return ioError;
    }
    const config = this.#publish(remaining);
    this.#logger.info('config resource deleted', { generation: config.generation, resource: key });
    return { ok: true, config, changed: [key] };
  }

  #isOwnFile(file: string): boolean {
    return path.resolve(path.dirname(file)) === path.resolve(this.#dir);
  }
}

/** Keys of resources added or whose content differs between `before` and `after`, plus those removed; sorted. */
function diff(before: readonly ConfigResource[], after: readonly ConfigResource[]): string[] {
  const old = new Map(before.map((r) => [keyOf(r), resourceFingerprint(r)]));
  const changed: string[] = [];
  for (const r of after) {
    const key = keyOf(r);
    if (old.get(key) !== resourceFingerprint(r)) changed.push(key);
    old.delete(key);
  }
  return [...changed, ...old.keys()].sort();
}

/** One error per route field that still names Service `name`. */
function referencesTo(name: string, resources: readonly ConfigResource[]): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const route of routes(resources)) {
    const fields: string[] = [];
    route.spec.parentRefs.forEach((p, i) => p.name === name && fields.push(`spec.parentRefs[${i}]`));
    route.spec.rules.forEach((rule, i) =>
      rule.backendRefs.forEach((b, k) => b.name === name && fields.push(`spec.rules[${i}].backendRefs[${k}]`)),
    );
    for (const field of fields) {
      errors.push({
        file: route.source,
        resource: keyOf(route),
        field,
        message: `still references Service "${name}"; change or delete ${keyOf(route)} first`,
      });
    }
  }
  return errors;
}

/** One error per rule filter that still names `kind` `name` (a FaultInjection or a ConcurrencyLimit). */
function filterReferencesTo(kind: FilterKind, name: string, resources: readonly ConfigResource[]): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const route of routes(resources)) {
    route.spec.rules.forEach((rule, i) =>
      (rule.filters ?? []).forEach((f, k) => {
        if (f.extensionRef.kind !== kind || f.extensionRef.name !== name) return;
        errors.push({
          file: route.source,
          resource: keyOf(route),
          field: `spec.rules[${i}].filters[${k}]`,
          message: `still references ${kind} "${name}"; remove the filter from ${keyOf(route)} first`,
        });
      }),
    );
  }
  return errors;
}

async function commit(edits: FileEdits): Promise<ConfigChange | undefined> {
  try {
    await edits.commit();
    return undefined;
  } catch (e: unknown) {
    const file = (e as NodeJS.ErrnoException).path;
    return { ok: false, errors: [{ ...(file ? { file } : {}), message: `cannot write the config directory: ${(e as Error).message}` }] };
  }
}

function closedError(): ConfigChange {
  return { ok: false, errors: [{ message: 'the config store is closed' }] };
}
