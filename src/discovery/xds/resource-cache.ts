// Holds the accepted (last good) xDS resources per type, applies State-of-the-World and delta responses, and records refusals.
import { protos, RESOURCE_TYPE_URLS, TYPE_URL, type AnyMessage, type ProtoObject, type ResourceTypeUrl } from './protos.js';
import {
  isInboundListener,
  RESOURCE_TYPES,
  type InboundListenerResource,
  type ClusterLoadAssignmentResource,
  type ClusterResource,
  type DecodedResource,
  type ListenerResource,
  type RouteConfigResource,
} from './resources/index.js';

/** One accepted resource with the version it came in and its wire form (for config dumps and change detection). */
export interface CachedResource {
  readonly name: string;
  readonly value: DecodedResource;
  /** `version_info` of the SotW response that carried it; on delta, the resource's own version (the server's content hash). */
  readonly version: string;
  /** The Any payload as received; an identical payload is not decoded again, so unchanged values keep identity. */
  readonly raw: Uint8Array;
  /** The decoded proto (proto field names), for config dumps. */
  readonly proto: ProtoObject;
}

/** What compile reads: the accepted resources, the names known not to exist, and refusals with no last good value. */
export interface ResourceView {
  readonly listeners: ReadonlyMap<string, ListenerResource>;
  /** Inbound (server) Listeners, `weft/inbound/<service>`, kept apart from the client Listeners above. */
  readonly inboundListeners: ReadonlyMap<string, InboundListenerResource>;
  readonly routeConfigs: ReadonlyMap<string, RouteConfigResource>;
  readonly clusters: ReadonlyMap<string, ClusterResource>;
  readonly endpoints: ReadonlyMap<string, ClusterLoadAssignmentResource>;
  /** Listeners / clusters the server said do not exist (missing from an LDS / CDS response that answered them). */
  readonly absentListeners: ReadonlySet<string>;
  readonly absentClusters: ReadonlySet<string>;
  /** Per type, the reason the latest version of a resource was refused (cleared when a good one arrives). */
  errorOf(typeUrl: ResourceTypeUrl, name: string): string | undefined;
}

/** The outcome of applying one response. */
export interface ApplyResult {
  /** One line per problem: `resource '<name>': <field>: <reason>` (or `resource index <i>: ...` when unnamed). */
  readonly errors: readonly string[];
  /** True if anything compile reads may have changed. */
  readonly changed: boolean;
  /** The subscribed names the response carried (valid or not): the server holds them for this client. */
  readonly seen: ReadonlySet<string>;
}

/** Mutable store owned by one ADS client; every method is synchronous and never throws. */
export class ResourceCache implements ResourceView {
  readonly #accepted = new Map<ResourceTypeUrl, Map<string, CachedResource>>(RESOURCE_TYPE_URLS.map((t) => [t, new Map()]));
  readonly #values = new Map<ResourceTypeUrl, Map<string, DecodedResource>>(RESOURCE_TYPE_URLS.map((t) => [t, new Map()]));
  readonly #errors = new Map<ResourceTypeUrl, Map<string, string>>(RESOURCE_TYPE_URLS.map((t) => [t, new Map()]));
  readonly #absent = new Map<ResourceTypeUrl, Set<string>>(RESOURCE_TYPE_URLS.map((t) => [t, new Set()]));
  readonly #inbound = new Map<string, InboundListenerResource>();
  /** Accepted resources that came from the disk cache (seed()) and no control plane has sent since. */
  readonly #fromDisk = new Map<ResourceTypeUrl, Set<string>>(RESOURCE_TYPE_URLS.map((t) => [t, new Set()]));

  get listeners(): ReadonlyMap<string, ListenerResource> {
    return this.#values.get(TYPE_URL.listener) as Map<string, ListenerResource>;
  }
  get inboundListeners(): ReadonlyMap<string, InboundListenerResource> {
    return this.#inbound;
  }
  get routeConfigs(): ReadonlyMap<string, RouteConfigResource> {
    return this.#values.get(TYPE_URL.routeConfiguration) as Map<string, RouteConfigResource>;
  }
  get clusters(): ReadonlyMap<string, ClusterResource> {
    return this.#values.get(TYPE_URL.cluster) as Map<string, ClusterResource>;
  }
  get endpoints(): ReadonlyMap<string, ClusterLoadAssignmentResource> {
    return this.#values.get(TYPE_URL.clusterLoadAssignment) as Map<string, ClusterLoadAssignmentResource>;
  }
  get absentListeners(): ReadonlySet<string> {
    return this.#absent.get(TYPE_URL.listener)!;
  }
  get absentClusters(): ReadonlySet<string> {
    return this.#absent.get(TYPE_URL.cluster)!;
  }
  errorOf(typeUrl: ResourceTypeUrl, name: string): string | undefined {
    return this.#errors.get(typeUrl)!.get(name);
  }

  /** How many accepted resources came from the disk cache and are still in use (not yet replaced by a live one). */
  fromDiskCount(): number {
    let n = 0;
    for (const names of this.#fromDisk.values()) n += names.size;
    return n;
  }

  /** Whether `name` holds a resource read from the disk cache that no control plane has confirmed yet. */
  isFromDisk(typeUrl: ResourceTypeUrl, name: string): boolean {
    return this.#fromDisk.get(typeUrl)!.has(name);
  }

  /**
   * Accepts one resource read from the disk cache through the same decoding and validation as a live one. Returns the
   * errors that refused it; a refused one is forgotten at once (no last good value, no error state), so the target
   * waits for the control plane instead. Never throws.
   */
  seed(typeUrl: ResourceTypeUrl, name: string, version: string, any: AnyMessage): readonly string[] {
    const { errors } = this.apply(typeUrl, version, [any], new Set([name]), new Set());
    if (errors.length > 0 || !this.#accepted.get(typeUrl)!.has(name)) {
      this.drop(typeUrl, name);
      return errors.length > 0 ? errors : [`resource '${name}': not in the cached payload`];
    }
    this.#fromDisk.get(typeUrl)!.add(name);
    return errors;
  }

  /** The accepted resources of one type (live view; do not keep it across calls). */
  accepted(typeUrl: ResourceTypeUrl): ReadonlyMap<string, CachedResource> {
    return this.#accepted.get(typeUrl)!;
  }

  /**
   * Applies one response of `typeUrl`. Resources not in `subscribed` are ignored (not validated). Valid resources
   * replace their last good value even when others in the same response are refused (gRFC A46); a refused one keeps
   * its last good value. For LDS/CDS, a name in `answered` that the response lacks is deleted and marked absent,
   * unless a resource in it could not be decoded far enough to read its name (it may be that one). `answered` holds the
   * names this response speaks for: ones the server already sent on this stream, or named in a request it has
   * answered. A name only just requested is not one: the response may predate the server reading that request.
   * Decoding failures and type mismatches become error lines, never exceptions.
   */
  apply(
    typeUrl: ResourceTypeUrl,
    version: string,
    resources: readonly AnyMessage[],
    subscribed: ReadonlySet<string>,
    answered: ReadonlySet<string>,
  ): ApplyResult {
    const run = new ApplyRun(subscribed);
    resources.forEach((any, index) => this.#accept(typeUrl, any, version, run, `resource index ${index}`));
    // gRFC A46 (as grpc-go does): deletions of a State-of-the-World response are skipped when a resource in it
    // could not be named, or an undecodable Listener would delete the good one it was meant to replace.
    if (RESOURCE_TYPES[typeUrl].allRequiredInSotW && !run.unnamed) {
      for (const name of subscribed) if (!run.seen.has(name) && answered.has(name)) this.#remove(typeUrl, name, run);
    }
    return { errors: run.errors, changed: run.changed, seen: run.seen };
  }

  /**
   * Applies one delta response of `typeUrl`: each resource is checked and kept exactly as by apply() (same decode,
   * same last-good rule), with its own version, and must carry the name it is sent under; a name in `removed` is
   * deleted and marked absent (the server's word that it does not exist). Unsubscribed names are ignored. Never throws.
   */
  applyDelta(
    typeUrl: ResourceTypeUrl,
    resources: readonly { readonly name: string; readonly version: string; readonly resource: AnyMessage | undefined }[],
    removed: readonly string[],
    subscribed: ReadonlySet<string>,
  ): ApplyResult {
    const run = new ApplyRun(subscribed);
    for (const r of resources) {
      if (r.resource === undefined) {
        if (subscribed.has(r.name)) run.errors.push(`resource '${r.name}': carries no resource (Weft does not use xDS TTL heartbeats)`);
        continue;
      }
      this.#accept(typeUrl, r.resource, r.version, run, `resource '${r.name}'`, r.name);
    }
    for (const name of removed) if (subscribed.has(name) && !run.seen.has(name)) this.#remove(typeUrl, name, run);
    return { errors: run.errors, changed: run.changed, seen: run.seen };
  }

  /** Decodes, validates and keeps one resource (or records why not); `expectedName` is the name a delta Resource gave. */
  #accept(typeUrl: ResourceTypeUrl, any: AnyMessage, version: string, run: ApplyRun, label: string, expectedName?: string): void {
    const type = RESOURCE_TYPES[typeUrl];
    const accepted = this.#accepted.get(typeUrl)!;
    const errorsByName = this.#errors.get(typeUrl)!;
    if (any.type_url !== typeUrl) {
      run.errors.push(`${label}: type '${any.type_url}' does not match the response type '${typeUrl}'`);
      run.unnamed = true;
      return;
    }
    let proto: ProtoObject;
    try {
      proto = protos().fromAny(any);
    } catch (e: unknown) {
      run.errors.push(`${label}: cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
      run.unnamed = true;
      return;
    }
    const name = type.nameOf(proto);
    if (expectedName !== undefined && name !== expectedName) {
      if (run.subscribed.has(expectedName)) run.errors.push(`${label}: the resource inside is named '${name}'`);
      return;
    }
    if (!run.subscribed.has(name)) return;
    if (run.seen.has(name)) {
      run.errors.push(`resource '${name}': appears more than once in the response`);
      return;
    }
    run.seen.add(name);
    if (this.#absent.get(typeUrl)!.delete(name)) run.changed = true;
    const previous = accepted.get(name);
    if (previous !== undefined && Buffer.from(previous.raw).equals(any.value)) {
      this.#fromDisk.get(typeUrl)!.delete(name); // confirmed by a live response
      if (previous.version !== version) accepted.set(name, { ...previous, version });
      if (errorsByName.delete(name)) run.changed = true;
      return;
    }
    const result = type.decode(proto);
    run.changed = true;
    if (result.ok) {
      accepted.set(name, { name, value: result.value, version, raw: any.value, proto });
      this.#store(this.#values.get(typeUrl)!, name, result.value);
      this.#fromDisk.get(typeUrl)!.delete(name); // replaced (seed() marks its own again)
      errorsByName.delete(name);
    } else {
      const lines = result.errors.map((e) => `resource '${name}': ${e}`);
      run.errors.push(...lines);
      errorsByName.set(name, lines.join('; '));
    }
  }

  /** Deletes `name` and marks it absent: the server said it does not exist. */
  #remove(typeUrl: ResourceTypeUrl, name: string, run: ApplyRun): void {
    const absent = this.#absent.get(typeUrl)!;
    const errorsByName = this.#errors.get(typeUrl)!;
    if (this.#accepted.get(typeUrl)!.delete(name) || !absent.has(name) || errorsByName.has(name)) run.changed = true;
    this.#values.get(typeUrl)!.delete(name);
    if (typeUrl === TYPE_URL.listener) this.#inbound.delete(name);
    this.#fromDisk.get(typeUrl)!.delete(name);
    errorsByName.delete(name);
    absent.add(name);
  }

  /**
   * Deletes and marks absent each of `names`, for the server's silence about them (the does-not-exist timeout). True if
   * anything compile reads changed. Never throws.
   */
  markAbsent(typeUrl: ResourceTypeUrl, names: readonly string[]): boolean {
    const run = new ApplyRun(new Set(names));
    for (const name of names) this.#remove(typeUrl, name, run);
    return run.changed;
  }

  /** Forgets everything about `name` (called when it is no longer subscribed). */
  drop(typeUrl: ResourceTypeUrl, name: string): void {
    this.#accepted.get(typeUrl)!.delete(name);
    this.#values.get(typeUrl)!.delete(name);
    if (typeUrl === TYPE_URL.listener) this.#inbound.delete(name);
    this.#errors.get(typeUrl)!.delete(name);
    this.#absent.get(typeUrl)!.delete(name);
    this.#fromDisk.get(typeUrl)!.delete(name);
  }

  /** Stores a decoded value: inbound Listeners in their own map, everything else by type. */
  #store(values: Map<string, DecodedResource>, name: string, value: DecodedResource): void {
    if (isInboundListener(value)) this.#inbound.set(name, value);
    else values.set(name, value);
  }
}

/** The bookkeeping of one apply()/applyDelta() call. */
class ApplyRun {
  readonly errors: string[] = [];
  readonly seen = new Set<string>();
  changed = false;
  /** A resource's name could not be read (wrong type, undecodable): it may be any subscribed one. */
  unnamed = false;
  constructor(readonly subscribed: ReadonlySet<string>) {}
}
