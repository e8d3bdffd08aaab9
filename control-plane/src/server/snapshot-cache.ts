// Holds the xDS resources the control plane currently serves, each encoded once, with a version per type, and
// answers which resource a subscribed name stands for (the snapshot's, or a server Listener derived from its name).
import { createHash } from 'node:crypto';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, protos, type AnyMessage, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import type { XdsResource, XdsResources } from '../model.js';
import { serverListenerFor } from '../translate/server-listener.js';
import { deepFreeze } from '../translate/names.js';

/** One resource as served: its Any (encoded once, shared by every stream), a content hash and its JSON form. */
export interface CachedResource {
  readonly name: string;
  readonly typeUrl: ResourceTypeUrl;
  /** Wire form; the same object is written to every stream. */
  readonly any: AnyMessage;
  /** Content hash of the encoded bytes (base64url, 22 chars); equal hashes mean equal resources. */
  readonly hash: string;
  /** The resource as translate produced it (proto JSON with `'@type'`), for config dumps. */
  readonly resource: XdsResource;
}

/** Every resource of one type at one version. Immutable. */
export interface TypeSnapshot {
  readonly typeUrl: ResourceTypeUrl;
  /** Non-empty; changes whenever a resource of this type is added, removed or changed. */
  readonly version: string;
  readonly resources: ReadonlyMap<string, CachedResource>;
}

/** What one `set` did. */
export interface SetResult {
  /** Types whose version changed. */
  readonly changedTypes: readonly ResourceTypeUrl[];
  /** One line per resource that could not be encoded (it was left out; the rest was served). */
  readonly errors: readonly string[];
}

/**
 * How many resources derived from names (server Listeners) are kept encoded. Past it the memo starts over, so names
 * a client makes up cannot grow memory without bound; the next lookup of a dropped name encodes it again.
 */
export const MAX_DERIVED_RESOURCES = 1024;

/** Options of the SnapshotCache constructor. */
export interface SnapshotCacheOptions {
  readonly logger?: Logger;
}

/**
 * The current xDS snapshot. `set` diffs the new resources against the old by encoded bytes, so an
 * unchanged resource keeps its CachedResource (and a type with no change keeps its version). Before the
 * first `set` the cache is not `ready` and the ADS server holds its answers. `resolve` says what a subscribed
 * name gets, including server Listeners (gRFC A36), which exist only as names clients ask for.
 */
export class SnapshotCache {
  readonly #types = new Map<ResourceTypeUrl, TypeSnapshot>();
  readonly #listeners = new Set<(changedTypes: ReadonlySet<ResourceTypeUrl>) => void>();
  readonly #logger: Logger;
  /** Listeners derived from their names (gRFC A36 server Listeners) by name; null = malformed (warned once). */
  readonly #derived = new Map<string, CachedResource | null>();
  #ready = false;
  #counter = 0;

  constructor(options: SnapshotCacheOptions = {}) {
    this.#logger = options.logger ?? NOOP_LOGGER;
    for (const typeUrl of RESOURCE_TYPE_URLS) {
      this.#types.set(typeUrl, Object.freeze({ typeUrl, version: '0', resources: new Map() }));
    }
  }

  /** True once `set` has been called. */
  get ready(): boolean {
    return this.#ready;
  }

  /** The current snapshot of `typeUrl` (version '0' and empty before the first set). */
  get(typeUrl: ResourceTypeUrl): TypeSnapshot {
    const snapshot = this.#types.get(typeUrl);
    if (!snapshot) throw new Error(`snapshot-cache: unknown type ${typeUrl}`); // unreachable: every type is created
    return snapshot;
  }

  /**
   * The resource a client subscribed to `name` of `typeUrl` gets: the snapshot's; else, for LDS, the server Listener
   * a name `grpc/server?xds.resource.listening_address=<IP:port>` stands for (translate/server-listener.ts; it depends
   * on the name only, so it is built and encoded once per name and served to every node that subscribes to it).
   * undefined means "does not exist", also for a server Listener name whose address is not IP:port, which is logged
   * once as a warning. Never throws; the result is frozen and shared.
   */
  resolve(typeUrl: ResourceTypeUrl, name: string): CachedResource | undefined {
    const own = this.get(typeUrl).resources.get(name);
    if (own || typeUrl !== TYPE_URL.listener) return own;
    const memo = this.#derived.get(name);
    if (memo !== undefined) return memo ?? undefined;
    const derived = serverListenerFor(name);
    if (derived === undefined) return undefined; // an ordinary name the snapshot lacks: not memoized, it may come later
    if (this.#derived.size >= MAX_DERIVED_RESOURCES) this.#derived.clear();
    let entry: CachedResource | null = null;
    if (!derived.ok) {
      this.#logger.warn('snapshot-cache: no Listener for a server listener name that is not IP:port', { name, error: derived.error });
    } else {
      const resource = deepFreeze(derived.resource);
      const encoded = encode(typeUrl, name, resource);
      if ('error' in encoded) this.#logger.error('snapshot-cache: server Listener left out', { error: encoded.error });
      else entry = Object.freeze({ name, typeUrl, any: encoded.any, hash: encoded.hash, resource });
    }
    this.#derived.set(name, entry);
    return entry ?? undefined;
  }

  /**
   * Replaces every type's resources with `resources`. Never throws: a resource that cannot be encoded (or whose
   * `'@type'` is not its map's type) is left out and reported in `errors`. Listeners are called synchronously,
   * once, with the set of types that changed (and on the first set with every type).
   */
  set(resources: XdsResources): SetResult {
    const changed = new Set<ResourceTypeUrl>();
    const errors: string[] = [];
    const versionTag = String(++this.#counter);
    for (const typeUrl of RESOURCE_TYPE_URLS) {
      const previous = this.get(typeUrl);
      const next = new Map<string, CachedResource>();
      let differs = false;
      for (const [name, resource] of resources[typeUrl] ?? new Map<string, XdsResource>()) {
        const old = previous.resources.get(name);
        if (old && old.resource === resource) {
          next.set(name, old);
          continue;
        }
        const encoded = encode(typeUrl, name, resource);
        if ('error' in encoded) {
          errors.push(encoded.error);
          continue;
        }
        if (old && old.hash === encoded.hash) {
          next.set(name, old);
          continue;
        }
        next.set(name, Object.freeze({ name, typeUrl, any: encoded.any, hash: encoded.hash, resource }));
        differs = true;
      }
      if (next.size !== previous.resources.size) differs = true;
      if (differs || !this.#ready) {
        // One counter across types keeps versions unique and increasing, which makes `weft status` easy to read.
        this.#types.set(typeUrl, Object.freeze({ typeUrl, version: differs ? versionTag : previous.version, resources: next }));
        if (differs) changed.add(typeUrl);
      }
    }
    const first = !this.#ready;
    this.#ready = true;
    for (const e of errors) this.#logger.error('snapshot-cache: resource left out', { error: e });
    const notify: ReadonlySet<ResourceTypeUrl> = first ? new Set(RESOURCE_TYPE_URLS) : changed;
    if (notify.size > 0) {
      for (const fn of [...this.#listeners]) {
        try {
          fn(notify);
        } catch (e: unknown) {
          this.#logger.error('snapshot-cache: listener threw', { error: String(e) });
        }
      }
    }
    return { changedTypes: [...changed], errors };
  }

  /** Calls `fn` with the changed types after each `set` that changed something (synchronously inside `set`). */
  onChange(fn: (changedTypes: ReadonlySet<ResourceTypeUrl>) => void): Disposable {
    this.#listeners.add(fn);
    return { dispose: () => void this.#listeners.delete(fn) };
  }
}

function encode(typeUrl: ResourceTypeUrl, name: string, resource: XdsResource): { any: AnyMessage; hash: string } | { error: string } {
  if (resource['@type'] !== typeUrl) {
    return { error: `${typeUrl} '${name}': '@type' is '${String(resource['@type'])}'` };
  }
  try {
    const any = protos().toAny(resource);
    const hash = createHash('sha256').update(any.value).digest('base64url').slice(0, 22);
    return { any: Object.freeze(any), hash };
  } catch (e: unknown) {
    return { error: `${typeUrl} '${name}': cannot encode: ${e instanceof Error ? e.message : String(e)}` };
  }
}
