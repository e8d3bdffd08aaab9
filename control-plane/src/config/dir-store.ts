// The embedded ConfigStore: a directory of YAML files, validated whole-or-nothing, watched for hand edits, and
// written by apply/delete (one file per resource, atomically). Every operation runs in one promise queue.
import { watch, type FSWatcher } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { formatConfigError, type ConfigChange, type ConfigError, type ConfigResource, type ConfigStore, type MeshConfig } from '../model.js';
import { resourceFileName } from './kinds.js';
import { keyOf } from './mesh-config.js';
import { ConfigFeed } from './config-feed.js';
import { changedKeys, planApply, planDelete } from './plan.js';
import { validateConfig } from './validate.js';
import { FileEdits, isTempFileName, parseConfigTexts, readConfigTexts, type FileWrite } from './yaml-files.js';

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
  const read = await readConfigTexts(dir);
  const { resources, errors } = parseConfigTexts(read);
  const all = errors.length > 0 ? errors : validateConfig(resources);
  if (all.length > 0) {
    throw new MeshError(
      ERROR_CODES.INVALID_CONFIG,
      `invalid configuration in ${dir} (${all.length} error${all.length === 1 ? '' : 's'}):\n${all.map((e) => `  ${formatConfigError(e)}`).join('\n')}`,
      { nonRetryable: true, details: { dir, errors: all } },
    );
  }
  const store = new DirStore(dir, resources, read.texts, options.debounceMs ?? 50, options.logger ?? NOOP_LOGGER);
  if (options.watch ?? true) store.startWatching();
  return store;
}

const APPLY_SOURCE = '<apply>';

class DirStore implements ConfigStore {
  readonly #dir: string;
  readonly #debounceMs: number;
  readonly #logger: Logger;
  readonly #feed: ConfigFeed;
  /**
   * The text of each config file as the store's state reflects it: as last read, then as the store itself wrote it.
   * A reload that finds exactly these texts has nothing to parse: the echo of the store's own write, which would
   * otherwise re-parse and re-validate every file after every apply (the cost grows with the config, not the edit).
   */
  #known: ReadonlyMap<string, string>;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(dir: string, initial: readonly ConfigResource[], texts: ReadonlyMap<string, string>, debounceMs: number, logger: Logger) {
    this.#dir = dir;
    this.#known = texts;
    this.#feed = new ConfigFeed(initial, logger);
    this.#debounceMs = debounceMs;
    this.#logger = logger;
  }

  current(): MeshConfig {
    return this.#feed.current();
  }

  lastErrors(): readonly ConfigError[] {
    return this.#feed.lastErrors;
  }

  onChange(fn: (config: MeshConfig) => void): Disposable {
    return this.#feed.onChange(fn);
  }

  apply(yamlText: string, source: string = APPLY_SOURCE): Promise<ConfigChange> {
    return this.#feed.enqueue(() => this.#apply(yamlText, source));
  }

  delete(kind: string, name: string): Promise<ConfigChange> {
    return this.#feed.enqueue(() => this.#delete(kind, name));
  }

  /** Re-reads the directory now (what the watcher does after a file event). */
  reload(): Promise<void> {
    return this.#feed.enqueue(() => this.#reload());
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#watcher?.close();
      this.#watcher = undefined;
      clearTimeout(this.#timer);
    }
    await this.#feed.drain();
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

  async #reload(): Promise<void> {
    if (this.#closed) return;
    const read = await readConfigTexts(this.#dir);
    if (read.errors.length === 0 && sameTexts(read.texts, this.#known)) {
      this.#logger.debug('config directory re-read: every file as the store last read or wrote it', { generation: this.#feed.current().generation });
      return;
    }
    // From here the state (config, or lastErrors) is what these texts give: they are the known ones, good or bad.
    if (read.errors.length === 0) this.#known = read.texts;
    const { resources, errors } = parseConfigTexts(read);
    const all = errors.length > 0 ? errors : validateConfig(resources);
    if (all.length > 0) {
      this.#feed.lastErrors = Object.freeze(all);
      this.#logger.warn('config directory has errors; keeping the last good configuration', {
        dir: this.#dir,
        generation: this.#feed.current().generation,
        errors: all.map(formatConfigError),
      });
      return;
    }
    this.#feed.lastErrors = [];
    const changed = changedKeys(this.#feed.current().resources, resources);
    if (changed.length === 0) {
      // Same content (e.g. the echo of the store's own write); only sources may differ: update them quietly.
      this.#feed.replaceQuietly(resources);
      this.#logger.debug('config directory re-read: no change', { generation: this.#feed.current().generation });
      return;
    }
    const config = this.#feed.publish(resources);
    this.#logger.info('config directory reloaded', { generation: config.generation, changed });
  }

  async #apply(text: string, source: string): Promise<ConfigChange> {
    if (this.#closed) return closedError();
    const plan = planApply(this.#feed.current(), text, source);
    if (!plan.ok) return plan;
    const { merged, changed: changedDocs } = plan;
    if (changedDocs.length === 0) return { ok: true, config: this.#feed.current(), changed: [] };
    const existing = new Map(this.#feed.current().resources.map((r) => [keyOf(r), r]));

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
    const ioError = await this.#commit(edits);
    if (ioError) return ioError;

    const placed = merged.map((r) => {
      const file = written.get(keyOf(r));
      return file === undefined ? r : { ...r, source: file };
    });
    const changed = changedDocs.map((d) => keyOf(d.resource)).sort();
    const config = this.#feed.publish(placed);
    this.#logger.info('config applied', { generation: config.generation, changed, source });
    return { ok: true, config, changed };
  }

  async #delete(kindAlias: string, name: string): Promise<ConfigChange> {
    if (this.#closed) return closedError();
    const plan = planDelete(this.#feed.current(), kindAlias, name);
    if (!plan.ok) return plan;
    const { key, target, remaining } = plan;

    if (this.#isOwnFile(target.source)) {
      const edits = new FileEdits();
      const err = await edits.load(target.source);
      if (err) return { ok: false, errors: [{ ...err, resource: key }] };
      edits.remove(target.source, key);
      const ioError = await this.#commit(edits);
      if (ioError) return ioError;
    }
    const config = this.#feed.publish(remaining);
    this.#logger.info('config resource deleted', { generation: config.generation, resource: key });
    return { ok: true, config, changed: [key] };
  }

  #isOwnFile(file: string): boolean {
    return path.resolve(path.dirname(file)) === path.resolve(this.#dir);
  }

  /** Writes `edits`; on success records the texts written as known (see #known). An I/O error is returned, not thrown. */
  async #commit(edits: FileEdits): Promise<ConfigChange | undefined> {
    let writes: FileWrite[];
    try {
      writes = await edits.commit();
    } catch (e: unknown) {
      const file = (e as NodeJS.ErrnoException).path;
      // What was written before the error is not recorded: the next reload finds it unknown and parses it.
      return { ok: false, errors: [{ ...(file ? { file } : {}), message: `cannot write the config directory: ${(e as Error).message}` }] };
    }
    const known = new Map(this.#known);
    for (const { file, before, after } of writes) {
      // A file whose text on load was not the known one holds a hand edit not reloaded yet: left unknown, so the next
      // reload parses it (and applies that edit) rather than take the store's write for its echo.
      if (known.get(file) !== before) continue;
      if (after === undefined) known.delete(file);
      else known.set(file, after);
    }
    this.#known = known;
    return undefined;
  }
}

/** True if `a` and `b` hold the same files with the same texts. */
function sameTexts(a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>): boolean {
  if (a.size !== b.size) return false;
  for (const [file, text] of a) if (b.get(file) !== text) return false;
  return true;
}

function closedError(): ConfigChange {
  return { ok: false, errors: [{ message: 'the config store is closed' }] };
}
