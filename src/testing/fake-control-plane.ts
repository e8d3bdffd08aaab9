// A tiny scripted State-of-the-World ADS server for tests: serves the resources a test sets, records every request.
// It is deliberately independent of Weft's control plane, so SDK tests also prove it works with "some other" xDS server.
import * as grpc from '@grpc/grpc-js';
import { protos, RESOURCE_TYPE_URLS, type ProtoObject, type ResourceTypeUrl } from '../discovery/xds/protos.js';

/** An xDS resource in JSON form with its `'@type'` (Any fields may use `'@type'` too), as protos().toAny takes. */
export type FakeResource = ProtoObject & { readonly '@type': string };

/** A DiscoveryRequest as the server received it (proto field names). */
export interface RecordedRequest {
  /** Which ADS stream it came on (1, 2, ... in order of opening). */
  readonly streamId: number;
  readonly type_url: string;
  readonly version_info: string;
  readonly response_nonce: string;
  readonly resource_names: readonly string[];
  /** Set on the first request of a stream. */
  readonly node: ProtoObject | null;
  /** Set on a NACK. */
  readonly error_detail: { readonly code: number; readonly message: string } | null;
}

/** A DiscoveryResponse the server sent. */
export interface RecordedResponse {
  readonly streamId: number;
  readonly type_url: string;
  readonly version_info: string;
  readonly nonce: string;
  /** Names of the resources it carried. */
  readonly names: readonly string[];
}

/** Options of FakeControlPlane.start. */
export interface FakeControlPlaneOptions {
  /** Port to listen on, on 127.0.0.1 (default 0: any free port). Pass an old port to "restart" a server. */
  port?: number;
}

interface StreamState {
  readonly id: number;
  readonly call: grpc.ServerDuplexStream<ProtoObject, ProtoObject>;
  /** Latest names per type; absent until the stream asks for the type. */
  readonly names: Map<string, readonly string[]>;
}

const nameOf = (r: ProtoObject): string => String(r['name'] ?? r['cluster_name'] ?? '');

/**
 * A real grpc-js ADS server on 127.0.0.1. It answers a type only once `setResources` was called for it, answers
 * every request whose names changed (and the first of each type on a stream), ignores ACKs/NACKs otherwise, and pushes
 * to every subscribed stream when resources change. Responses carry, of the resources set, those the stream names.
 * Versions are per type ('1', '2', ...); nonces increase across the server. State of the World only: delta is answered
 * UNIMPLEMENTED, so the SDK's default `xds.protocol: 'auto'` falls back to SotW here. Not thread-safe; not for production.
 */
export class FakeControlPlane {
  /** `127.0.0.1:<port>`, what createXdsClient takes as `server`. */
  readonly address: string;
  /** The bound port. */
  readonly port: number;
  readonly #server: grpc.Server;
  readonly #resources = new Map<string, Map<string, FakeResource>>();
  readonly #versions = new Map<string, string>();
  readonly #streams = new Set<StreamState>();
  readonly #requests: RecordedRequest[] = [];
  readonly #responses: RecordedResponse[] = [];
  readonly #requestWaiters = new Set<() => void>();
  /** Per type held back by holdResponses(): the writes due, in order. */
  readonly #held = new Map<string, (() => void)[]>();
  #nextStreamId = 1;
  #nonce = 0;
  #closed = false;

  private constructor(server: grpc.Server, port: number) {
    this.#server = server;
    this.port = port;
    this.address = `127.0.0.1:${port}`;
  }

  /** Starts a server on 127.0.0.1 (port 0 unless `options.port`). Rejects if the port cannot be bound. */
  static async start(options: FakeControlPlaneOptions = {}): Promise<FakeControlPlane> {
    const server = new grpc.Server();
    const port = await new Promise<number>((resolve, reject) => {
      server.bindAsync(`127.0.0.1:${options.port ?? 0}`, grpc.ServerCredentials.createInsecure(), (e, bound) => (e ? reject(e) : resolve(bound)));
    });
    const fake = new FakeControlPlane(server, port);
    server.addService(protos().adsService, {
      StreamAggregatedResources: (call: grpc.ServerDuplexStream<ProtoObject, ProtoObject>) => fake.#onStream(call),
      DeltaAggregatedResources: (call: grpc.ServerDuplexStream<ProtoObject, ProtoObject>) =>
        call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'FakeControlPlane speaks State of the World only' }),
    });
    return fake;
  }

  /** Every request received so far, oldest first (a copy). */
  get requests(): readonly RecordedRequest[] {
    return [...this.#requests];
  }

  /** Every response sent so far, oldest first (a copy). */
  get responses(): readonly RecordedResponse[] {
    return [...this.#responses];
  }

  /** Number of ADS streams currently open. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /**
   * Replaces every resource of `typeUrl` with `resources`, bumps the type's version (or uses `options.version`)
   * and pushes to every stream subscribed to the type. Throws if a resource cannot be encoded (a test bug).
   */
  setResources(typeUrl: ResourceTypeUrl, resources: readonly FakeResource[], options: { version?: string } = {}): void {
    for (const r of resources) protos().toAny(r); // fail fast, in the test, on a resource that does not encode
    this.#resources.set(typeUrl, new Map(resources.map((r) => [nameOf(r), r])));
    this.#versions.set(typeUrl, options.version ?? String(Number(this.#versions.get(typeUrl) ?? '0') + 1));
    for (const stream of this.#streams) if (stream.names.has(typeUrl)) this.#respond(stream, typeUrl);
  }

  /** Sends `response` (a DiscoveryResponse in JSON form; `nonce` filled in if missing) to every open stream as is. */
  sendRaw(response: ProtoObject): void {
    for (const stream of this.#streams) {
      const nonce = typeof response['nonce'] === 'string' ? response['nonce'] : String(++this.#nonce);
      stream.call.write({ ...response, nonce });
      this.#responses.push({
        streamId: stream.id, type_url: String(response['type_url'] ?? ''), version_info: String(response['version_info'] ?? ''), nonce, names: [],
      });
    }
  }

  /**
   * Resolves with the first recorded request (from index `from`, default 0) that satisfies `predicate`, waiting for
   * one to arrive; rejects after `timeoutMs` (default 5000) with the requests seen, to make failures readable.
   */
  waitForRequest(predicate: (r: RecordedRequest) => boolean, options: { from?: number; timeoutMs?: number } = {}): Promise<RecordedRequest> {
    const from = options.from ?? 0;
    const find = (): RecordedRequest | undefined => this.#requests.slice(from).find(predicate);
    const found = find();
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const r = find();
        if (r === undefined) return;
        this.#requestWaiters.delete(check);
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.#requestWaiters.delete(check);
        const seen = this.#requests.slice(from).map((r) => JSON.stringify({ ...r, node: r.node ? '…' : null }));
        reject(new Error(`FakeControlPlane: no matching request within ${options.timeoutMs ?? 5000} ms; saw:\n${seen.join('\n')}`));
      }, options.timeoutMs ?? 5000);
      this.#requestWaiters.add(check);
    });
  }

  /**
   * Holds back every response of `typeUrl` (each computed when due, from the names of the request it answers) until
   * the returned function is called, which writes them in order and stops holding: a test can make the answer to an
   * older request cross a newer one, as a slow network or a busy server does.
   */
  holdResponses(typeUrl: ResourceTypeUrl): () => void {
    const due: (() => void)[] = [];
    this.#held.set(typeUrl, due);
    return () => {
      if (this.#held.get(typeUrl) === due) this.#held.delete(typeUrl);
      for (const write of due.splice(0)) write();
    };
  }

  /** Stops the server at once, cancelling every stream. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#streams.clear();
    this.#server.forceShutdown();
  }

  #onStream(call: grpc.ServerDuplexStream<ProtoObject, ProtoObject>): void {
    const stream: StreamState = { id: this.#nextStreamId++, call, names: new Map() };
    this.#streams.add(stream);
    const forget = (): void => void this.#streams.delete(stream);
    call.on('data', (request: ProtoObject) => this.#onRequest(stream, request));
    call.on('end', () => {
      forget();
      call.end();
    });
    call.on('error', forget);
    call.on('cancelled', forget);
  }

  #onRequest(stream: StreamState, request: ProtoObject): void {
    const typeUrl = String(request['type_url'] ?? '');
    const names = Array.isArray(request['resource_names']) ? (request['resource_names'] as string[]) : [];
    const detail = request['error_detail'] as { code?: number; message?: string } | null | undefined;
    this.#requests.push(
      Object.freeze({
        streamId: stream.id,
        type_url: typeUrl,
        version_info: String(request['version_info'] ?? ''),
        response_nonce: String(request['response_nonce'] ?? ''),
        resource_names: Object.freeze([...names]),
        node: (request['node'] as ProtoObject | null | undefined) ?? null,
        error_detail: detail ? Object.freeze({ code: Number(detail.code ?? 0), message: String(detail.message ?? '') }) : null,
      }),
    );
    for (const check of [...this.#requestWaiters]) check();
    if (!(RESOURCE_TYPE_URLS as readonly string[]).includes(typeUrl)) return;
    const before = stream.names.get(typeUrl);
    stream.names.set(typeUrl, [...names].sort());
    const changed = before === undefined || before.join('\n') !== [...names].sort().join('\n');
    if (changed && this.#resources.has(typeUrl)) this.#respond(stream, typeUrl);
  }

  #respond(stream: StreamState, typeUrl: string): void {
    const wanted = new Set(stream.names.get(typeUrl) ?? []);
    const all = this.#resources.get(typeUrl) ?? new Map<string, FakeResource>();
    const resources = [...all.entries()].filter(([name]) => wanted.has(name)).map(([, r]) => r);
    const nonce = String(++this.#nonce);
    const version = this.#versions.get(typeUrl) ?? '0';
    const write = (): void => {
      if (!this.#streams.has(stream)) return;
      stream.call.write({ version_info: version, type_url: typeUrl, nonce, resources });
      this.#responses.push(Object.freeze({ streamId: stream.id, type_url: typeUrl, version_info: version, nonce, names: resources.map(nameOf) }));
    };
    const held = this.#held.get(typeUrl);
    if (held !== undefined) held.push(write);
    else write();
  }
}

const ROUTER_FILTER: ProtoObject = {
  name: 'envoy.filters.http.router',
  typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' },
};

/**
 * Builders for the minimal resources of docs/xds-mapping.md, to feed FakeControlPlane.setResources. Each returns a
 * plain object a test may extend (spread) before use.
 */
export const xdsResource = {
  /** A client Listener whose HCM fetches `routeConfig` over ADS, with the router filter. */
  listener(name: string, routeConfig: string = name): FakeResource {
    return {
      '@type': 'type.googleapis.com/envoy.config.listener.v3.Listener',
      name,
      api_listener: {
        api_listener: {
          '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
          stat_prefix: name,
          rds: { route_config_name: routeConfig, config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [ROUTER_FILTER],
        },
      },
    };
  },
  /** A RouteConfiguration with one `*` virtual host and the given routes (Envoy Route objects). */
  routeConfig(name: string, routes: readonly ProtoObject[]): FakeResource {
    return {
      '@type': 'type.googleapis.com/envoy.config.route.v3.RouteConfiguration',
      name,
      virtual_hosts: [{ name, domains: ['*'], routes }],
    };
  },
  /** A route `prefix` → weighted clusters (`{ cluster: weight }`); `timeoutMs` sets timeout and max_stream_duration. */
  route(prefix: string, clusters: Readonly<Record<string, number>>, timeoutMs?: number): ProtoObject {
    const duration = timeoutMs === undefined ? undefined : { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 };
    return {
      match: { prefix },
      route: {
        weighted_clusters: { clusters: Object.entries(clusters).map(([name, weight]) => ({ name, weight: { value: weight } })) },
        ...(duration ? { timeout: duration, max_stream_duration: { max_stream_duration: duration } } : {}),
      },
    };
  },
  /** An EDS Cluster over ADS, ROUND_ROBIN, connect_timeout 5 s. */
  cluster(name: string, serviceName: string = name): FakeResource {
    return {
      '@type': 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      name,
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: serviceName },
      lb_policy: 'ROUND_ROBIN',
      connect_timeout: { seconds: 5 },
    };
  },
  /** A ClusterLoadAssignment with `endpoints` (`'ip:port'` or `{ address, port, weight }`) in one locality, priority 0. */
  clusterLoadAssignment(name: string, endpoints: readonly (string | { address: string; port: number; weight?: number })[]): FakeResource {
    const lbEndpoints = endpoints.map((e) => {
      const { address, port, weight = 1 } = typeof e === 'string' ? splitHostPort(e) : e;
      return {
        endpoint: { address: { socket_address: { address, port_value: port } } },
        health_status: 'HEALTHY',
        load_balancing_weight: { value: weight },
      };
    });
    return {
      '@type': 'type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment',
      cluster_name: name,
      endpoints:
        lbEndpoints.length === 0
          ? []
          : [{ locality: { region: '', zone: '', sub_zone: '' }, load_balancing_weight: { value: lbEndpoints.length }, priority: 0, lb_endpoints: lbEndpoints }],
    };
  },
};

function splitHostPort(hostPort: string): { address: string; port: number; weight?: number } {
  const i = hostPort.lastIndexOf(':');
  return { address: hostPort.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(hostPort.slice(i + 1)) };
}
