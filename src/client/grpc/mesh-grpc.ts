// mesh.grpc: what a service uses to make its grpc-js clients and servers part of the mesh.
import { createRequire } from 'node:module';
import type * as grpcTypes from '@grpc/grpc-js';
import { invalidArg } from '../../core/errors.js';
import { createMeshGrpcServer, serveGrpc, type MeshGrpcServerOptions, type ServedGrpcEndpoint } from '../../server/grpc/serve.js';
import type { ServeDeps, ServeOptions } from '../../server/http/serve.js';
import { grpcJs, type GrpcJs } from './grpc-js.js';
import { meshChannelCredentials } from './mesh-credentials.js';
import { GrpcRuntime, MESH_OPTION, WEFT_SCHEME, type GrpcRuntimeOptions } from './resolver.js';

/** Largest message total grpc-js buffers per call so it can retry it (the same 64 KiB cap as HTTP request bodies). */
export const GRPC_RETRY_BUFFER_BYTES = 64 * 1024;

/** A generated grpc-js client class (from makeGenericClientConstructor, proto-loader or grpc-tools). */
export type GrpcClientConstructor<C> = new (address: string, credentials: grpcTypes.ChannelCredentials, options?: grpcTypes.ClientOptions) => C;

/** The gRPC side of a mesh: meshed channels for grpc-js clients, and meshed servers. */
export interface MeshGrpc {
  /** `weft:///<service>`: the target a grpc-js client uses to reach a mesh service (`dns:///<service>` when disabled). */
  target(service: string): string;
  /**
   * Channel credentials for meshed channels (one object per mesh): each connection is mTLS when the `weft_mesh` policy
   * says so for its endpoint (the destination is STRICT, or PERMISSIVE and the server serves mTLS), presenting this
   * process's current workload certificate and accepting the server only by its SPIFFE ID (host names ignored);
   * every other connection is plaintext, as with `credentials.createInsecure()`. Always valid to pass, with any target;
   * a meshed channel made with other credentials never uses mTLS (and calls to STRICT services are refused).
   */
  credentials(): grpcTypes.ChannelCredentials;
  /**
   * Channel options that bind a channel to this mesh (and its retry buffer cap); merge your own in `extra`. Pass them
   * to any grpc-js client: `new PaymentsClient('weft:///payments', mesh.grpc.credentials(), mesh.grpc.channelOptions())`.
   */
  channelOptions(extra?: grpcTypes.ClientOptions): grpcTypes.ClientOptions;
  /**
   * A meshed client of `service`: `new Ctor(target(service), credentials(), channelOptions(options))` that starts
   * resolving at once, closed by mesh.close() after the drain (clients made with `new` are yours to close). Calls made
   * while handling a meshed request (HTTP or gRPC) get what is left of that request's deadline when theirs is later.
   */
  client<C>(Ctor: GrpcClientConstructor<C>, service: string, options?: grpcTypes.ClientOptions): C;
  /**
   * A grpc-js Server with Weft's inbound path: inbound policy (authn → authz → rate limit), deadline context,
   * grpc.health.v1, reflection if asked. Only servers made here enforce inbound policy.
   */
  server(options?: MeshGrpcServerOptions): grpcTypes.Server;
  /**
   * Binds `server` (from server() or your own grpc-js Server) on `options.port`, registers it for this mesh's service
   * and drains it on mesh.close(). Resolves once bound. With a workload identity it serves mTLS and plaintext on that
   * one port and registers as serving mTLS; the Service's PeerAuthentication decides which calls are taken (STRICT:
   * plaintext calls get PERMISSION_DENIED, or for a server not made by server() plaintext connections are closed).
   */
  serve(server: grpcTypes.Server, options: ServeOptions): Promise<ServedGrpcEndpoint>;
}

/** What the mesh hands its gRPC side. */
export interface MeshGrpcDeps extends Omit<GrpcRuntimeOptions, 'grpc' | 'discovery'> {
  /** The mesh's discovery; undefined when the mesh is disabled (targets are then plain `dns:///<service>`). */
  readonly discovery?: GrpcRuntimeOptions['discovery'];
  /** Registration and drain settings, as for HTTP serve. */
  readonly serveDeps: ServeDeps;
  /** Called with every endpoint served, so mesh.close() drains it. */
  readonly onServed: (endpoint: ServedGrpcEndpoint) => void;
  /** Throws when the mesh is closing. */
  readonly assertOpen: (what: string) => void;
}

/** mesh.grpc, created on first use (loads @grpc/grpc-js then, registering the `weft:` scheme and `weft_mesh` policy). */
export class MeshGrpcImpl implements MeshGrpc {
  readonly #deps: MeshGrpcDeps;
  readonly #grpc: GrpcJs;
  readonly #runtime: GrpcRuntime | undefined;
  readonly #require = createRequire(import.meta.url);
  readonly #credentials: grpcTypes.ChannelCredentials;
  /** Clients made by client(), closed with the mesh (weakly held: a client the app dropped is not kept alive). */
  #clients: WeakRef<{ close(): void }>[] = [];

  constructor(deps: MeshGrpcDeps) {
    this.#deps = deps;
    this.#grpc = grpcJs();
    const { discovery } = deps;
    const tls = deps.serveDeps.tls;
    this.#runtime = discovery === undefined ? undefined : new GrpcRuntime({ ...deps, discovery, grpc: this.#grpc, ...(tls !== undefined && { tls }), ...(deps.serveDeps.metrics !== undefined && { metrics: deps.serveDeps.metrics }) });
    this.#credentials = meshChannelCredentials(this.#grpc);
  }

  target(service: string): string {
    if (typeof service !== 'string' || service.length === 0 || service.includes('/')) invalidArg(`mesh.grpc: service must be a mesh service name such as 'payments', got '${String(service)}'`);
    return this.#runtime === undefined ? `dns:///${service}` : `${WEFT_SCHEME}:///${service}`;
  }

  credentials(): grpcTypes.ChannelCredentials {
    return this.#credentials;
  }

  channelOptions(extra: grpcTypes.ClientOptions = {}): grpcTypes.ClientOptions {
    const options: grpcTypes.ClientOptions = {
      'grpc.per_rpc_retry_buffer_size': GRPC_RETRY_BUFFER_BYTES,
      ...extra,
    };
    if (this.#runtime !== undefined) options[MESH_OPTION] = this.#runtime.id;
    return options;
  }

  client<C>(Ctor: GrpcClientConstructor<C>, service: string, options?: grpcTypes.ClientOptions): C {
    if (typeof Ctor !== 'function') invalidArg('mesh.grpc.client: expected a grpc-js client class (e.g. from loadPackageDefinition)');
    const client = new Ctor(this.target(service), this.credentials(), this.channelOptions(options));
    // Resolve now rather than on the first call: a call made before the channel's first resolution waits for it
    // outside the caller's async context, and so does not inherit the deadline of the request it is made for.
    (client as { getChannel?: () => { getConnectivityState(tryToConnect: boolean): unknown } }).getChannel?.().getConnectivityState(true);
    this.#clients = this.#clients.filter((r) => r.deref() !== undefined);
    if (typeof (client as { close?: unknown }).close === 'function') this.#clients.push(new WeakRef(client as { close(): void }));
    return client;
  }

  server(options?: MeshGrpcServerOptions): grpcTypes.Server {
    return createMeshGrpcServer(this.#grpc, options, this.#require, this.#deps.serveDeps.inbound, this.#deps.serveDeps.metrics, this.#deps.serveDeps.telemetry);
  }

  async serve(server: grpcTypes.Server, options: ServeOptions): Promise<ServedGrpcEndpoint> {
    this.#deps.assertOpen('mesh.grpc.serve()');
    const served = await serveGrpc(this.#grpc, server, options, this.#deps.serveDeps);
    this.#deps.onServed(served);
    return served;
  }

  /**
   * Closes the clients client() made (calls in flight end with CANCELLED) and unregisters this mesh's runtime (other
   * channels of it fail with WEFT_ERR_CLOSED on their next resolution). The mesh calls it after its drain.
   */
  close(): void {
    for (const ref of this.#clients) ref.deref()?.close();
    this.#clients = [];
    this.#runtime?.close();
  }
}
