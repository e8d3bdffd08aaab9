// Holds the accepted (last good) xDS resources per type, applies State-of-the-World responses, and records refusals.
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
  /** `version_info` of the response that carried it. */
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
   * its last good value. For LDS/CDS, a name in `requested` (asked for on this stream) that the response lacks is
   * deleted and marked absent. Decoding failures and type mismatches become error lines, never exceptions.
   */
  apply(
    typeUrl: ResourceTypeUrl,
    version: string,
    resources: readonly AnyMessage[],
    subscribed: ReadonlySet<string>,
    requested: ReadonlySet<string>,
  ): ApplyResult {
    const type = RESOURCE_TYPES[typeUrl];
    const accepted = this.#accepted.get(typeUrl)!;
    const values = this.#values.get(typeUrl)!;
    const errorsByName = this.#errors.get(typeUrl)!;
    const absent = this.#absent.get(typeUrl)!;
    const errors: string[] = [];
    const seen = new Set<string>();
    let changed = false;
    resources.forEach((any, index) => {
      if (any.type_url !== typeUrl) {
        errors.push(`resource index ${index}: type '${any.type_url}' does not match the response type '${typeUrl}'`);
        return;
      }
      let proto: ProtoObject;
      try {
        proto = protos().fromAny(any);
      } catch (e: unknown) {
        errors.push(`resource index ${index}: cannot be decoded: ${e instanceof Error ? e.message : String(e)}`);
        return;
      }
      const name = type.nameOf(proto);
      if (!subscribed.has(name)) return;
      if (seen.has(name)) {
        errors.push(`resource '${name}': appears more than once in the response`);
        return;
      }
      seen.add(name);
      if (absent.delete(name)) changed = true;
      const previous = accepted.get(name);
      if (previous !== undefined && Buffer.from(previous.raw).equals(any.value)) {
        this.#fromDisk.get(typeUrl)!.delete(name); // confirmed by a live response
        if (previous.version !== version) accepted.set(name, { ...previous, version });
        if (errorsByName.delete(name)) changed = true;
        return;
      }
      const result = type.decode(proto);
      changed = true;
      if (result.ok) {
        accepted.set(name, { name, value: result.value, version, raw: any.value, proto });
        this.#store(values, name, result.value);
        this.#fromDisk.get(typeUrl)!.delete(name); // replaced (seed() marks its own again)
        errorsByName.delete(name);
      } else {
        const lines = result.errors.map((e) => `resource '${name}': ${e}`);
        errors.push(...lines);
        errorsByName.set(name, lines.join('; '));
      }
    });
    if (type.allRequiredInSotW) {
      for (const name of subscribed) {
        if (seen.has(name) || !requested.has(name)) continue;
        if (accepted.delete(name) || !absent.has(name) || errorsByName.has(name)) changed = true;
        values.delete(name);
        this.#inbound.delete(name);
        this.#fromDisk.get(typeUrl)!.delete(name);
        errorsByName.delete(name);
        absent.add(name);
      }
    }
    return { errors, changed };
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
