// Hand-driven ADS clients for tests (State of the World and delta): send raw requests, check protocol invariants on every response.
import * as grpc from '@grpc/grpc-js';
import { RESOURCE_TYPE_URLS, TYPE_URL, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { XdsResource, XdsResources } from '../model.js';

/** A DiscoveryResponse as a grpc-js client decodes it (resources expanded to `{ '@type', ...fields }`). */
export interface ReceivedResponse {
  readonly version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly (ProtoObject & { readonly '@type': string })[];
}

/** Fields of a DiscoveryRequest a test sets; missing ones are sent empty. */
export interface RequestFields {
  readonly typeUrl: string;
  readonly names?: readonly string[];
  readonly version?: string;
  readonly nonce?: string;
  /** Set to NACK. */
  readonly errorMessage?: string;
  readonly node?: ProtoObject;
}

/** A DeltaDiscoveryResponse as a grpc-js client decodes it (each Resource's Any expanded to `{ '@type', ...fields }`). */
export interface ReceivedDeltaResponse {
  readonly system_version_info: string;
  readonly type_url: string;
  readonly nonce: string;
  readonly resources: readonly { readonly name: string; readonly version: string; readonly resource: ProtoObject & { readonly '@type': string } }[];
  readonly removed_resources: readonly string[];
}

/** Fields of a DeltaDiscoveryRequest a test sets; missing ones are sent empty. */
export interface DeltaRequestFields {
  readonly typeUrl: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly initialVersions?: Readonly<Record<string, string>>;
  readonly nonce?: string;
  /** Set to NACK. */
  readonly errorMessage?: string;
  readonly node?: ProtoObject;
}

/**
 * One ADS stream to `address`. Every response is checked as it arrives: nonces strictly increase (as numbers
 * when both are numeric, else as different strings), the version is non-empty, the type URL is an xDS
 * resource type and every resource carries the same type URL. A violation fails the next `next()` call.
 */
class TestStream<R extends { readonly type_url: string; readonly nonce: string }> {
  readonly #client: grpc.Client;
  protected readonly call: grpc.ClientDuplexStream<ProtoObject, ProtoObject>;
  readonly #queue: R[] = [];
  #waiter: (() => void) | undefined;
  #violation: string | undefined;
  #lastNonce: string | undefined;
  #status: grpc.StatusObject | undefined;
  #ended: Promise<grpc.StatusObject>;

  /** Opens a stream of `methodName`; `metadata` (e.g. `authorization`) is sent with it. */
  constructor(address: string, metadata: grpc.Metadata, methodName: string, readonly versionOf: (r: R) => string, readonly typesOf: (r: R) => readonly string[]) {
    const Ctor = grpc.makeGenericClientConstructor(protos().adsService, 'AggregatedDiscoveryService');
    this.#client = new Ctor(address, grpc.credentials.createInsecure());
    const method = (this.#client as unknown as Record<string, (md: grpc.Metadata) => grpc.ClientDuplexStream<ProtoObject, ProtoObject>>)[methodName];
    if (!method) throw new Error(`ads-test-client: no ${methodName} method`);
    this.call = method.call(this.#client, metadata);
    this.call.on('data', (res: ProtoObject) => {
      const r = res as unknown as R;
      this.#check(r);
      this.#queue.push(r);
      this.#wake();
    });
    this.#ended = new Promise((resolve) => {
      this.call.on('status', (s: grpc.StatusObject) => {
        this.#status = s;
        this.#wake();
        resolve(s);
      });
    });
    this.call.on('error', () => {}); // the status event carries it
  }

  /** Resolves with the next response; rejects after `timeoutMs`, on an invariant violation or if the stream ended. */
  async next(timeoutMs = 2_000): Promise<R> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.#violation) throw new Error(`ADS invariant violated: ${this.#violation}`);
      const r = this.#queue.shift();
      if (r) return r;
      if (this.#status) throw new Error(`ADS stream ended: ${this.#status.code} ${this.#status.details}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ADS response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
  }

  /** Responses received and not yet taken by next(). */
  get pending(): number {
    return this.#queue.length;
  }

  /** Resolves with the stream's final status. */
  ended(): Promise<grpc.StatusObject> {
    return this.#ended;
  }

  /** Half-closes and closes the channel. */
  close(): void {
    this.call.end();
    this.call.cancel();
    this.#client.close();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }

  #check(r: R): void {
    const problems: string[] = [];
    if (!this.versionOf(r)) problems.push('empty version');
    if (!(RESOURCE_TYPE_URLS as readonly string[]).includes(r.type_url)) problems.push(`unknown type_url ${r.type_url}`);
    for (const type of this.typesOf(r)) if (type !== r.type_url) problems.push(`resource type ${type} in a ${r.type_url} response`);
    if (!r.nonce) problems.push('empty nonce');
    else if (this.#lastNonce !== undefined) {
      const increasing = /^\d+$/.test(r.nonce) && /^\d+$/.test(this.#lastNonce) ? BigInt(r.nonce) > BigInt(this.#lastNonce) : r.nonce !== this.#lastNonce;
      if (!increasing) problems.push(`nonce ${r.nonce} after ${this.#lastNonce}`);
    }
    this.#lastNonce = r.nonce;
    if (problems.length > 0) this.#violation ??= problems.join('; ');
  }
}

/** A State-of-the-World ADS stream (StreamAggregatedResources) driven by hand. */
export class AdsTestClient extends TestStream<ReceivedResponse> {
  /** Opens the stream; `metadata` (e.g. `authorization`) is sent with it. */
  constructor(address: string, metadata: grpc.Metadata = new grpc.Metadata()) {
    super(address, metadata, 'StreamAggregatedResources', (r) => r.version_info, (r) => r.resources.map((x) => x['@type']));
  }

  /** Sends one DiscoveryRequest. */
  send(f: RequestFields): void {
    this.call.write({
      version_info: f.version ?? '',
      node: f.node ?? null,
      resource_names: [...(f.names ?? [])],
      type_url: f.typeUrl,
      response_nonce: f.nonce ?? '',
      error_detail: f.errorMessage === undefined ? null : { code: 3, message: f.errorMessage },
    });
  }

  /** ACKs `response` (same names as given). */
  ack(response: ReceivedResponse, names: readonly string[]): void {
    this.send({ typeUrl: response.type_url, names, version: response.version_info, nonce: response.nonce });
  }
}

/**
 * A delta ADS stream (DeltaAggregatedResources) driven by hand; besides the common checks, every Resource must carry
 * a name and a version.
 */
export class DeltaTestClient extends TestStream<ReceivedDeltaResponse> {
  /** Opens the stream; `metadata` (e.g. `authorization`) is sent with it. */
  constructor(address: string, metadata: grpc.Metadata = new grpc.Metadata()) {
    super(
      address,
      metadata,
      'DeltaAggregatedResources',
      (r) => (r.resources.every((x) => x.name !== '' && x.version !== '') ? r.system_version_info : ''),
      (r) => r.resources.map((x) => x.resource['@type']),
    );
  }

  /** Sends one DeltaDiscoveryRequest. */
  send(f: DeltaRequestFields): void {
    this.call.write({
      node: f.node ?? null,
      type_url: f.typeUrl,
      resource_names_subscribe: [...(f.subscribe ?? [])],
      resource_names_unsubscribe: [...(f.unsubscribe ?? [])],
      initial_resource_versions: { ...f.initialVersions },
      response_nonce: f.nonce ?? '',
      error_detail: f.errorMessage === undefined ? null : { code: 3, message: f.errorMessage },
    });
  }

  /** ACKs `response`. */
  ack(response: ReceivedDeltaResponse): void {
    this.send({ typeUrl: response.type_url, nonce: response.nonce });
  }
}

/** A tiny mesh: every value is a content marker, so changing it changes the resource. */
export interface World {
  listeners?: Record<string, string>;
  routes?: Record<string, string>;
  clusters?: Record<string, number>;
  endpoints?: Record<string, number>;
}

/** Builds XdsResources from a World. */
export function world(w: World): XdsResources {
  const map = (entries: [string, XdsResource][]) => new Map(entries);
  return {
    [TYPE_URL.listener]: map(Object.entries(w.listeners ?? {}).map(([name, marker]) => [name, {
      '@type': TYPE_URL.listener,
      name,
      api_listener: { api_listener: { '@type': TYPE_URL.httpConnectionManager, stat_prefix: marker, rds: { route_config_name: name, config_source: { ads: {} } } } },
    }])),
    [TYPE_URL.routeConfiguration]: map(Object.entries(w.routes ?? {}).map(([name, marker]) => [name, { '@type': TYPE_URL.routeConfiguration, name, virtual_hosts: [{ name: marker, domains: ['*'] }] }])),
    [TYPE_URL.cluster]: map(Object.entries(w.clusters ?? {}).map(([name, seconds]) => [name, { '@type': TYPE_URL.cluster, name, type: 'EDS', connect_timeout: { seconds } }])),
    [TYPE_URL.clusterLoadAssignment]: map(Object.entries(w.endpoints ?? {}).map(([name, port]) => [name, {
      '@type': TYPE_URL.clusterLoadAssignment,
      cluster_name: name,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '10.0.0.1', port_value: port } } } }] }],
    }])),
    [TYPE_URL.secret]: new Map(),
  } as XdsResources;
}
