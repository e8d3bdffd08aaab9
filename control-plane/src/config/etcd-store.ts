// The ConfigStore on etcd: one key per resource, validated whole-or-nothing, every edit one transaction guarded by a
// revision compare (so replicas editing at once never lose an edit), and a prefix watch that keeps every replica current.
import type { Etcd3, Watcher } from 'etcd3';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { ERROR_CODES, MeshError } from '../../../src/core/errors.js';
import { formatConfigError, type ConfigChange, type ConfigError, type ConfigResource, type ConfigStore, type MeshConfig } from '../model.js';
import { etcdKeys, type EtcdKeys } from '../etcd/etcd-client.js';
import { createMeshConfig, keyOf } from './mesh-config.js';
import { parseConfigDocuments } from './parse.js';
import { ConfigFeed } from './config-feed.js';
import { changedKeys, planApply, planDelete } from './plan.js';
import { validateConfig } from './validate.js';

/** How many times an edit is retried when another replica changed the configuration between its read and its commit. */
export const MAX_EDIT_ATTEMPTS = 5;

/** Options of openEtcdStore. */
export interface EtcdStoreOptions {
  /** A connected client (etcd-client.ts openEtcd); the store does not close it. */
  readonly client: Etcd3;
  /** Key prefix, ending with `/` (default layout in etcd-client.ts etcdKeys). */
  readonly prefix: string;
  readonly logger?: Logger;
}

/**
 * Opens the etcd store: reads every resource under `<prefix>config/` and validates them as one configuration, then
 * watches the prefix. Rejects with WEFT_ERR_INVALID_CONFIG (every error, naming the etcd keys) when what etcd holds
 * is invalid, as the directory store does: a replica must not start on bad config; or with the etcd error when etcd
 * cannot be read. After that nothing throws: bad data written to etcd by hand keeps the last good configuration
 * (reported by `lastErrors()`), and an etcd outage keeps it too until etcd returns and the watch catches up.
 */
export async function openEtcdStore(options: EtcdStoreOptions): Promise<ConfigStore> {
  const keys = etcdKeys(options.prefix);
  const snapshot = await readConfig(options.client, keys);
  if (snapshot.errors.length > 0) {
    const all = snapshot.errors;
    throw new MeshError(
      ERROR_CODES.INVALID_CONFIG,
      `invalid configuration in etcd under ${keys.config} (${all.length} error${all.length === 1 ? '' : 's'}):\n${all.map((e) => `  ${formatConfigError(e)}`).join('\n')}`,
      { nonRetryable: true, details: { prefix: keys.config, errors: all } },
    );
  }
  const store = new EtcdStore(options.client, keys, snapshot, options.logger ?? NOOP_LOGGER);
  await store.startWatching();
  return store;
}

/** What one consistent read of the configuration found. */
interface ConfigRead {
  /** The etcd revision the read saw. */
  readonly revision: bigint;
  /** Mod revision of the guard key ('0' when absent): an edit commits only if it is unchanged. */
  readonly guardRevision: string;
  readonly resources: readonly ConfigResource[];
  /** Parse and validation errors; empty when `resources` is a valid configuration. */
  readonly errors: readonly ConfigError[];
  /** Keys whose value did not parse (an apply may overwrite them; anything else must fix them first). */
  readonly badKeys: ReadonlySet<string>;
}

class EtcdStore implements ConfigStore {
  readonly #client: Etcd3;
  readonly #keys: EtcdKeys;
  readonly #logger: Logger;
  readonly #feed: ConfigFeed;
  #revision: bigint;
  #watcher: Watcher | undefined;
  #reloadScheduled = false;
  #closed = false;

  constructor(client: Etcd3, keys: EtcdKeys, initial: ConfigRead, logger: Logger) {
    this.#client = client;
    this.#keys = keys;
    this.#logger = logger;
    this.#feed = new ConfigFeed(initial.resources, logger);
    this.#revision = initial.revision;
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

  apply(yamlText: string, source = '<apply>'): Promise<ConfigChange> {
    return this.#feed.enqueue(() =>
      this.#edit((read) => {
        const current = createMeshConfig(read.resources, this.#feed.current().generation);
        const plan = planApply(current, yamlText, source);
        if (!plan.ok) return plan;
        const applied = new Set(plan.changed.map((d) => keyOf(d.resource)));
        // Whole config or nothing: keys etcd holds that do not parse must be fixed by this apply or first.
        const stillBad = read.errors.filter((e) => e.resource !== undefined && read.badKeys.has(e.resource) && !applied.has(e.resource));
        if (stillBad.length > 0) return { ok: false, errors: stillBad };
        return {
          ok: true,
          merged: plan.merged,
          puts: plan.changed.map((d) => ({ key: this.#keys.config + keyOf(d.resource), value: d.document.toString() })),
          deletes: [],
          changed: [...applied].sort(),
        };
      }),
    );
  }

  delete(kind: string, name: string): Promise<ConfigChange> {
    return this.#feed.enqueue(() =>
      this.#edit((read) => {
        if (read.errors.length > 0) return { ok: false, errors: read.errors };
        const plan = planDelete(createMeshConfig(read.resources, this.#feed.current().generation), kind, name);
        if (!plan.ok) return plan;
        return { ok: true, merged: plan.remaining, puts: [], deletes: [this.#keys.config + plan.key], changed: [plan.key] };
      }),
    );
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const watcher = this.#watcher;
      this.#watcher = undefined;
      await watcher?.cancel().catch(() => undefined);
    }
    await this.#feed.drain();
  }

  async startWatching(): Promise<void> {
    const watcher = await this.#client
      .watch()
      .prefix(this.#keys.config)
      .startRevision(String(this.#revision + 1n))
      .create();
    this.#watcher = watcher;
    watcher.on('put', () => this.#scheduleReload());
    watcher.on('delete', () => this.#scheduleReload());
    // After a reconnect, read once: etcd3 resumes the watch, but a compacted revision would otherwise leave a gap.
    watcher.on('connected', () => this.#scheduleReload());
    watcher.on('disconnected', (e: Error) => {
      this.#logger.warn('config store: etcd watch lost; serving the last good configuration until it returns', { error: e.message });
    });
    watcher.on('error', (e: Error) => {
      this.#logger.error('config store: etcd watch failed', { error: e.message });
    });
  }

  #scheduleReload(): void {
    if (this.#reloadScheduled || this.#closed) return;
    this.#reloadScheduled = true;
    // A burst of events (one transaction puts several keys) becomes one read.
    setImmediate(() => {
      this.#reloadScheduled = false;
      void this.#feed.enqueue(() => this.#reload());
    });
  }

  async #reload(): Promise<void> {
    if (this.#closed) return;
    let read: ConfigRead;
    try {
      read = await readConfig(this.#client, this.#keys);
    } catch (e: unknown) {
      this.#logger.warn('config store: cannot read etcd; keeping the last good configuration', { error: String(e) });
      return;
    }
    if (read.revision <= this.#revision) return; // already seen (the echo of this replica's own commit)
    this.#revision = read.revision;
    if (read.errors.length > 0) {
      this.#feed.lastErrors = Object.freeze([...read.errors]);
      this.#logger.warn('config store: etcd holds invalid configuration; keeping the last good configuration', {
        prefix: this.#keys.config,
        generation: this.#feed.current().generation,
        errors: read.errors.map(formatConfigError),
      });
      return;
    }
    this.#feed.lastErrors = [];
    const changed = changedKeys(this.#feed.current().resources, read.resources);
    if (changed.length === 0) return;
    const config = this.#feed.publish(read.resources);
    this.#logger.info('config store: configuration changed in etcd', { generation: config.generation, changed });
  }

  /** Reads, plans with `plan`, and commits if nobody else committed since the read; retries a bounded number of times. */
  async #edit(plan: (read: ConfigRead) => EditPlan): Promise<ConfigChange> {
    if (this.#closed) return closedError();
    for (let attempt = 1; attempt <= MAX_EDIT_ATTEMPTS; attempt++) {
      let read: ConfigRead;
      try {
        read = await readConfig(this.#client, this.#keys);
      } catch (e: unknown) {
        return etcdError(e);
      }
      const p = plan(read);
      if (!p.ok) return p;
      if (p.changed.length === 0) return { ok: true, config: this.#feed.current(), changed: [] };
      let txn;
      try {
        const ops = [
          ...p.puts.map(({ key, value }) => this.#client.put(key).value(value)),
          ...p.deletes.map((key) => this.#client.delete().key(key)),
          this.#client.put(this.#keys.configGuard).value(String(read.revision)),
        ];
        txn = await this.#client.if(this.#keys.configGuard, 'Mod', '==', read.guardRevision).then(...ops).commit();
      } catch (e: unknown) {
        return etcdError(e);
      }
      if (!txn.succeeded) {
        this.#logger.debug('config store: another replica edited the configuration first; retrying', { attempt });
        continue;
      }
      this.#revision = BigInt(txn.header.revision);
      this.#feed.lastErrors = [];
      const config = this.#feed.publish(p.merged);
      this.#logger.info('config store: configuration committed to etcd', { generation: config.generation, changed: p.changed, revision: txn.header.revision });
      return { ok: true, config, changed: p.changed };
    }
    return {
      ok: false,
      errors: [{ message: `the configuration was changed by other replicas ${MAX_EDIT_ATTEMPTS} times while this edit was being committed; nothing was changed, try again` }],
    };
  }

}

/** An edit planned against one read: the keys to write and the configuration that results. */
type EditPlan =
  | { readonly ok: false; readonly errors: readonly ConfigError[] }
  | {
      readonly ok: true;
      readonly merged: readonly ConfigResource[];
      readonly puts: readonly { readonly key: string; readonly value: string }[];
      readonly deletes: readonly string[];
      readonly changed: readonly string[];
    };

/**
 * Reads the guard key, then every resource key (in that order: an edit committed in between moves the guard, so a
 * plan made on this read fails its compare rather than overwriting that edit), parsing and validating the whole.
 */
async function readConfig(client: Etcd3, keys: EtcdKeys): Promise<ConfigRead> {
  const guard = await client.get(keys.configGuard).exec();
  const range = await client.getAll().prefix(keys.config).exec();
  const resources: ConfigResource[] = [];
  const errors: ConfigError[] = [];
  const badKeys = new Set<string>();
  for (const kv of range.kvs) {
    const key = kv.key.toString();
    const expected = key.slice(keys.config.length);
    const parsed = parseConfigDocuments(kv.value.toString(), key);
    if (parsed.errors.length > 0 || parsed.documents.length !== 1) {
      badKeys.add(expected);
      errors.push(...parsed.errors.map((e) => ({ ...e, resource: expected })));
      if (parsed.errors.length === 0) errors.push({ file: key, resource: expected, message: `holds ${parsed.documents.length} resources; each key holds exactly one` });
      continue;
    }
    const resource = { ...parsed.documents[0]!.resource, source: key };
    if (keyOf(resource) !== expected) {
      badKeys.add(expected);
      errors.push({ file: key, resource: expected, message: `holds ${keyOf(resource)}; the key must be ${keys.config}${keyOf(resource)}` });
      continue;
    }
    resources.push(resource);
  }
  if (errors.length === 0) errors.push(...validateConfig(resources));
  return {
    revision: BigInt(range.header.revision),
    guardRevision: guard.kvs[0]?.mod_revision ?? '0',
    resources,
    errors,
    badKeys,
  };
}

function etcdError(e: unknown): ConfigChange {
  return {
    ok: false,
    code: ERROR_CODES.STORE_UNAVAILABLE,
    errors: [{ message: `etcd is unavailable, nothing was changed: ${e instanceof Error ? e.message : String(e)}` }],
  };
}

function closedError(): ConfigChange {
  return { ok: false, errors: [{ message: 'the config store is closed' }] };
}
