// Holds the xDS resources the control plane currently serves, each encoded once, with a version per type, and
// answers which resource a subscribed name stands for (the snapshot's, or an inbound Listener derived from the name
// and the subscribing node: gRFC A36 server Listeners, and `weft/inbound/<service>` of Services not in the config).
import { createHash } from 'node:crypto';
import type { Disposable } from '../../../src/core/watch.js';
import { NOOP_LOGGER, type Logger } from '../../../src/core/logger.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, protos, type AnyMessage, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import { INBOUND_LISTENER_PREFIX, inboundListenerName } from '../../../src/discovery/inbound-policy.js';
import type { XdsResource, XdsResources } from '../model.js';
import { MESH_INBOUND_LISTENER, renameInboundListener, type ListeningAddress } from '../translate/inbound-listener.js';
import { buildServerListener, parseServerListenerName } from '../translate/server-listener.js';
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
  /**
   * When the first config or registry change this version includes happened (ms since the epoch, as given to `set`):
   * what convergence time is measured from. 0 before the first set.
   */
  readonly changedAtMs: number;
}

/** What one `set` did. */
export interface SetResult {
  /** Types whose version changed. */
  readonly changedTypes: readonly ResourceTypeUrl[];
  /** One line per resource that could not be encoded (it was left out; the rest was served). */
  readonly errors: readonly string[];
}

/**
 * How many resources derived from names (inbound and server Listeners) are kept encoded. Past it the memo starts over, so names
 * a client makes up cannot grow memory without bound; the next lookup of a dropped name encodes it again.
 */
export const MAX_DERIVED_RESOURCES = 1024;

/**
 * How many distinct encoded responses are kept per type (at its current version). Streams with the same view share
 * one; past the bound the memo starts over (the next push of a dropped view encodes it again), so many distinct views
 * cannot grow memory without bound.
 */
export const MAX_SHARED_ENCODINGS = 1024;

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
  /** Listeners derived from names, by name and source Listener, with the source's hash when derived. */
  readonly #derived = new Map<string, { readonly sourceHash: string; readonly entry: CachedResource | null }>();
  /** Encoded responses by type, for the type's current version only (see sharedEncoding). */
  readonly #encodings = new Map<ResourceTypeUrl, { readonly version: string; readonly root: Map<unknown, EncodingNode>; size: number }>();
  /** Server Listener names whose address is not IP:port (warned once each). */
  readonly #malformed = new Set<string>();
  #ready = false;
  #counter = 0;

  constructor(options: SnapshotCacheOptions = {}) {
    this.#logger = options.logger ?? NOOP_LOGGER;
    for (const typeUrl of RESOURCE_TYPE_URLS) {
      this.#types.set(typeUrl, Object.freeze({ typeUrl, version: '0', resources: new Map(), changedAtMs: 0 }));
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
   * The resource a client subscribed to `name` of `typeUrl` gets: the snapshot's; else, for LDS, an inbound Listener
   * derived from the name (docs/xds-mapping.md "Inbound Listener"):
   * - `grpc/server?xds.resource.listening_address=<IP:port>` (gRFC A36): the inbound Listener of the node's service
   *   (`node.cluster`; the mesh-wide `weft/inbound` when it has none or it is not a Service) at that address;
   * - `weft/inbound/<service>` of a Service not in the config: the mesh-wide `weft/inbound` under that name.
   * Derived Listeners are encoded once per name and source version and shared by every node that gets them.
   * undefined means "does not exist", also for a server Listener name whose address is not IP:port, which is logged
   * once as a warning. Never throws; the result is frozen and shared.
   */
  resolve(typeUrl: ResourceTypeUrl, name: string, node?: ProtoObject): CachedResource | undefined {
    const own = this.get(typeUrl).resources.get(name);
    if (own || typeUrl !== TYPE_URL.listener) return own;
    let address: ListeningAddress | undefined;
    let sourceName = MESH_INBOUND_LISTENER;
    if (!name.startsWith(INBOUND_LISTENER_PREFIX)) {
      const parsed = parseServerListenerName(name);
      if (parsed.kind === 'not-server') return undefined; // an ordinary name the snapshot lacks: it may come later
      if (parsed.kind === 'malformed') {
        if (!this.#malformed.has(name)) {
          if (this.#malformed.size >= MAX_DERIVED_RESOURCES) this.#malformed.clear();
          this.#malformed.add(name);
          this.#logger.warn('snapshot-cache: no Listener for a server listener name that is not IP:port', { name, error: parsed.error });
        }
        return undefined;
      }
      address = parsed.address;
      const cluster = node?.['cluster'];
      const own = typeof cluster === 'string' && cluster !== '' ? inboundListenerName(cluster) : undefined;
      if (own !== undefined && this.get(typeUrl).resources.has(own)) sourceName = own;
    }
    const source = this.get(typeUrl).resources.get(sourceName);
    if (source === undefined && address === undefined) return undefined;
    const key = `${name}\n${sourceName}`;
    const sourceHash = source?.hash ?? '';
    const memo = this.#derived.get(key);
    if (memo !== undefined && memo.sourceHash === sourceHash) return memo.entry ?? undefined;
    if (this.#derived.size >= MAX_DERIVED_RESOURCES) this.#derived.clear();
    // Before any translate (or with a hand-made snapshot) a server still gets the policy-free inbound Listener.
    const resource = deepFreeze(source !== undefined ? renameInboundListener(source.resource, name, address) : buildServerListener(name, address!));
    const encoded = encode(typeUrl, name, resource);
    let entry: CachedResource | null = null;
    if ('error' in encoded) this.#logger.error('snapshot-cache: derived Listener left out', { error: encoded.error });
    else entry = Object.freeze({ name, typeUrl, any: encoded.any, hash: encoded.hash, resource });
    this.#derived.set(key, { sourceHash, entry });
    return entry ?? undefined;
  }

  /**
   * The bytes `encode` gives for the content `key` names, computed once per key at the current version of `typeUrl`
   * and shared by every stream sending that content: a push costs one encode per distinct node view, not one per
   * stream (response-encoding.ts). `kind` (an object) says what is encoded; `key` is a sequence of values compared by
   * identity (CachedResource objects, which within a version stand for their content, and strings such as removed
   * names); together they must name the content completely. Entries of older versions are dropped when the version changes; at most
   * MAX_SHARED_ENCODINGS are kept per type. `encode` may throw; nothing is kept then. The bytes are shared: callers
   * must not mutate them.
   */
  sharedEncoding(typeUrl: ResourceTypeUrl, kind: object, key: readonly unknown[], encode: () => Uint8Array): Uint8Array {
    const version = this.get(typeUrl).version;
    let memo = this.#encodings.get(typeUrl);
    if (memo === undefined || memo.version !== version) {
      memo = { version, root: new Map(), size: 0 };
      this.#encodings.set(typeUrl, memo);
    }
    // A trie over `kind` then the key's parts: object identity, no key string to build and hash on every push.
    let level = memo.root;
    let node: EncodingNode | undefined;
    for (let i = -1; i < key.length; i++) {
      const part = i < 0 ? kind : key[i];
      node = level.get(part);
      if (node === undefined) level.set(part, (node = { bytes: undefined, next: new Map() }));
      level = node.next;
    }
    if (node!.bytes === undefined) {
      const bytes = encode();
      if (memo.size >= MAX_SHARED_ENCODINGS) {
        memo = { version, root: new Map(), size: 0 };
        this.#encodings.set(typeUrl, memo);
        return bytes;
      }
      node!.bytes = bytes;
      memo.size++;
    }
    return node!.bytes;
  }

  /**
   * Replaces every type's resources with `resources`. Never throws: a resource that cannot be encoded (or whose
   * `'@type'` is not its map's type) is left out and reported in `errors`. Listeners are called synchronously,
   * once, with the set of types that changed (and on the first set with every type). `changedAtMs` is when the first
   * change these resources include happened (default now); a type whose version changes carries it as `changedAtMs`.
   */
  set(resources: XdsResources, changedAtMs: number = Date.now()): SetResult {
    const changed = new Set<ResourceTypeUrl>();
    const errors: string[] = [];
    const versionTag = String(++this.#counter);
    for (const typeUrl of RESOURCE_TYPE_URLS) {
      const previous = this.get(typeUrl);
      const next = new Map<string, CachedResource>();
      let differs = false;
      for (const [name, resource] of resources[typeUrl] ?? new Map<string, XdsResource>()) {
        const old = previous.resources.get(name);
        // translate builds every resource anew on each rebuild: an equal tree is its old entry, found for a fraction
        // of what encoding and hashing it again would cost (most of a rebuild when one edit touches one resource).
        if (old && (old.resource === resource || sameTree(old.resource, resource))) {
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
        this.#types.set(typeUrl, Object.freeze({ typeUrl, version: differs ? versionTag : previous.version, resources: next, changedAtMs: differs ? changedAtMs : previous.changedAtMs }));
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

/** A node of SnapshotCache's trie of shared encodings: the bytes of the key ending here, and the longer keys. */
interface EncodingNode {
  bytes: Uint8Array | undefined;
  readonly next: Map<unknown, EncodingNode>;
}

/**
 * True if `a` and `b` are equal trees of plain objects, arrays, byte arrays and primitives (a resource as translate
 * builds it), whatever the order of object keys. Anything else (other classes, a key set to undefined on one side
 * only) counts as different, so the caller encodes it: a false "different" costs an encode, never a wrong answer.
 */
function sameTree(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameTree(a[i], b[i])) return false;
    return true;
  }
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    return a instanceof Uint8Array && b instanceof Uint8Array && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
  }
  const protoA: unknown = Object.getPrototypeOf(a);
  if ((protoA !== Object.prototype && protoA !== null) || Object.getPrototypeOf(b) !== protoA || Array.isArray(b)) return false;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) {
    if (!Object.prototype.hasOwnProperty.call(b, k) || !sameTree((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  }
  return true;
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
