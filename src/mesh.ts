// createMesh(): the one object a service creates at start-up to call (fetch, dispatcher) and serve (serve) through the mesh.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, fetch as undiciFetch, type Dispatcher, type RequestInfo, type RequestInit, type Response } from 'undici';
import { ClusterPolicyRegistry } from './client/cluster-policies.js';
import { MeshGrpcImpl, type MeshGrpc } from './client/grpc/mesh-grpc.js';
import { DEFAULT_RESOLVE_TIMEOUT_MS, MeshDispatcher } from './client/http/dispatcher.js';
import { keepAliveOptions } from './client/http/pools.js';
import type { ClusterResilienceStatus } from './client/http/policy-dispatch.js';
import type { ConcurrencyLimitSnapshot } from './policy/concurrency/index.js';
import { ERROR_CODES, MeshError, isMeshError } from './core/errors.js';
import type { Discovery, DiscoveryStatus } from './discovery/discovery.js';
import type { Route } from './discovery/mesh-state.js';
import type { Disposable } from './core/watch.js';
import { RegistryClient, type RegistrationStatus } from './discovery/registration.js';
import { createXdsClient, type XdsClient, type XdsConfigDump } from './discovery/xds/ads-client.js';
import { XdsDiskCache } from './discovery/xds/disk-cache.js';
import type { IdentityStatus, WorkloadIdentity } from './identity/workload-identity.js';
import { startMeshIdentity, type MeshIdentity } from './mesh/identity.js';
import { MeshTls } from './identity/mesh-tls.js';
import { explainRequest, type ExplainInit, type Explanation } from './explain.js';
import { resolveMeshOptions, type MeshOptions, type ResolvedMeshOptions } from './mesh/options.js';
import { waitUntilReady } from './mesh/ready.js';
import type { ServedGrpcEndpoint } from './server/grpc/serve.js';
import { InboundRuntime, type InboundStatus } from './server/inbound/runtime.js';
import { createMeshTelemetry, type MeshTelemetry } from './telemetry/mesh-telemetry.js';
import type { AccessLogStatus } from './telemetry/access-log.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, serveHttp, type ServeDeps, type ServedEndpoint, type ServeOptions } from './server/http/serve.js';
import { bindMeshMetrics, MeshMetrics } from './telemetry/mesh-metrics.js';
import { meshGauges } from './telemetry/mesh-gauges.js';
import { attachOpenTelemetry } from './telemetry/otel-bridge.js';
import { TrafficReporter } from './telemetry/reporter.js';
import type { TrafficSource } from './telemetry/traffic-summary.js';

/** The client-side view of the mesh (`weft status` for this process). Fresh plain data each call. */
export interface MeshStatus {
  readonly service: string;
  readonly nodeId: string;
  readonly enabled: boolean;
  /** Why the mesh is off, when it is. */
  readonly disabledBy: 'option' | 'WEFT_DISABLED' | undefined;
  /** The control plane(s) as configured (comma-separated when several). */
  readonly controlPlane: string;
  /** Every control-plane replica (`host:port`), in the order this process tries them. */
  readonly controlPlanes: readonly string[];
  /** The replica (`ip:port`) the xDS stream is connected to now; undefined while disconnected or disabled. */
  readonly connectedControlPlane: string | undefined;
  /** xDS stream status: connected, ACKed versions and last NACK per type. Undefined when disabled. */
  readonly discovery: DiscoveryStatus | undefined;
  readonly registrations: readonly RegistrationStatus[];
  readonly served: readonly { readonly address: string; readonly port: number }[];
  readonly closed: boolean;
  /** Per cluster with a circuit breaker or outlier detection: its counters, overflows and ejected endpoints now. */
  readonly resilience: Readonly<Record<string, ClusterResilienceStatus>>;
  /** Every route rule's concurrency limit in use now: its limit, calls in flight and calls refused. */
  readonly concurrencyLimits: readonly ConcurrencyLimitSnapshot[];
  /** This service's inbound policy and what it refused, by reason; undefined when the mesh is disabled. */
  readonly inbound: InboundStatus | undefined;
  /** The workload identity: SPIFFE ID, certificate expiry, last renewal and its error. Undefined without a token. */
  readonly identity: IdentityStatus | undefined;
  /** Access-log lines written and dropped (the sink backed up or failed), and the sink's error if it failed. */
  readonly accessLog: AccessLogStatus;
}

/** Everything this process knows about the mesh: status, compiled targets and clusters, and raw xDS resources. */
export interface MeshConfigDump {
  readonly status: MeshStatus;
  /** MeshState generation (increases with every accepted update). */
  readonly generation: number;
  readonly targets: Readonly<Record<string, { readonly status: string; readonly listener?: string; readonly routeConfig?: string; readonly routes?: readonly string[]; readonly message?: string }>>;
  /** Per cluster: its endpoints (`ip:port`) and the balancer in use (ClusterState.lbPolicy). */
  readonly clusters: Readonly<Record<string, { readonly endpointsKnown: boolean; readonly endpoints: readonly string[]; readonly lbPolicy: string }>>;
  /** The xDS resources as received, when discovery is the built-in xDS client. */
  readonly xds: XdsConfigDump | undefined;
}

/** What onConfig() listeners receive. */
export interface ConfigEvent {
  /** MeshState generation now in use (increases with every accepted update). */
  readonly generation: number;
}

/** A service's handle on the mesh. Create one per process with createMesh(); close it on shutdown. */
export interface Mesh {
  readonly service: string;
  readonly nodeId: string;
  /** False when switched off (option `enabled: false` or env WEFT_DISABLED=1). */
  readonly enabled: boolean;
  /**
   * This process's workload identity (certificate, key, trust bundle; renewed in the background), when a bootstrap token
   * is configured (`identity` option, WEFT_TOKEN or WEFT_TOKEN_FILE); undefined otherwise.
   */
  readonly identity: WorkloadIdentity | undefined;
  /**
   * An undici Dispatcher that routes mesh hosts (`http://payments/...`) and passes every other host through untouched.
   * Pass it as `{ dispatcher }` to undici's fetch/request, or install it with setGlobalDispatcher() (opt-in).
   */
  readonly dispatcher: Dispatcher;
  /**
   * The gRPC side: meshed grpc-js channels (`mesh.grpc.client(PaymentsClient, 'payments')`, or the `weft:///payments`
   * target with credentials() and channelOptions()) and servers (server(), serve()). Loads @grpc/grpc-js on first use.
   */
  readonly grpc: MeshGrpc;
  /** undici's fetch with `dispatcher` set. Mesh failures reject with a TypeError whose `cause` is the MeshError. */
  fetch(input: RequestInfo, init?: RequestInit): Promise<Response>;
  /**
   * Serves a request handler or an http.Server on `options.port` (0 = any), registers it with the control plane
   * and drains it on close(). Rejects if listening fails, with WEFT_ERR_CLOSED after close().
   */
  serve(handlerOrServer: http.RequestListener | http.Server, options: ServeOptions): Promise<ServedEndpoint>;
  /**
   * Resolves when the xDS stream is up, every `dependsOn` service is resolved, every serve() registration is done and,
   * once the process serves (serve(), grpc.server()), its inbound policy is known, and with a bootstrap token the first
   * workload certificate is in hand, bounded by `ready.timeoutMs`. A token the control plane refuses (used, expired,
   * for another service...) rejects at once with WEFT_ERR_IDENTITY saying why (warns instead in 'fail-open'). On
   * timeout: rejects with WEFT_ERR_READY_TIMEOUT naming what is missing
   * ('fail-closed', default) or resolves anyway ('fail-open'; calls then wait for discovery per call).
   * Static stability: when the control plane is unreachable but the disk cache (`xdsCache`) holds what is needed, it
   * resolves after at most `xdsCache.readyWaitMs` on the cached state (mesh.status().discovery.cache says so and how
   * old it is); registrations are then not waited for (they complete when the control plane is back).
   * The xDS stream opens on the first subscription; with no `dependsOn`, ready() subscribes to this service's own
   * name to open it. Safe to call more than once; each call waits afresh.
   */
  ready(): Promise<void>;
  /**
   * What the mesh would do with this request, and why. Resolves an unknown host first (bounded). Never rejects.
   * For a gRPC call, `weft:///<service>/<package.Service>/<Method>` with its metadata in `init.headers`.
   */
  explain(url: string | URL, init?: ExplainInit): Promise<Explanation>;
  status(): MeshStatus;
  configDump(): MeshConfigDump;
  /**
   * Calls `fn` after every accepted configuration change, once calls already route by it (the dispatcher recompiles
   * first). Never called synchronously from onConfig, nor after close(); a throwing `fn` is logged and ignored.
   * Returns a no-op Disposable when the mesh is disabled.
   */
  onConfig(fn: (event: ConfigEvent) => void): Disposable;
  /**
   * A node:http request handler serving this process's metrics as Prometheus text (exposition format 0.0.4): the
   * golden histograms under OpenTelemetry semantic-convention names (`http_client_request_duration_seconds`, ...),
   * Weft's own counters and gauges (`weft_*`) and, with `metrics: { istio: true }`, Istio's standard metrics. Mount it
   * on any path of your own server; rendering happens per scrape, off the request path. Empty when metrics are off.
   */
  metricsHandler(): http.RequestListener;
  /** Where the `metricsPort` server listens, once createMesh() resolved; undefined without that option. */
  metricsAddress(): { readonly address: string; readonly port: number } | undefined;
  /** Deregisters and drains served endpoints, then closes pools and the xDS stream. Idempotent; never rejects. */
  close(): Promise<void>;
}

/**
 * Creates the mesh for `options.service`: an xDS client to `options.controlPlane` (connected lazily, on the first
 * call to a mesh host or ready()), the mesh dispatcher and fetch, and serve(). Throws WEFT_ERR_INVALID_ARG for bad
 * options; never fails for an unreachable control plane (calls then fail per call with a typed MeshError).
 * Golden metrics are on unless `metrics: { enabled: false }` (docs/observability.md#metrics); with `metricsPort` it
 * also serves them as Prometheus text on that port (loopback unless `metricsHost`), and rejects if it cannot listen.
 */
export async function createMesh(options: MeshOptions): Promise<Mesh> {
  const resolved = resolveMeshOptions(options);
  const identity =
    resolved.enabled && resolved.identity !== undefined
      ? await startMeshIdentity({ service: resolved.service, controlPlaneAddress: resolved.controlPlaneAddress, token: resolved.identity, logger: resolved.logger })
      : undefined;
  const mesh = new MeshImpl(resolved, identity, await loadDiskCache(resolved));
  try {
    await mesh.listenMetrics();
  } catch (e: unknown) {
    await mesh.close();
    throw e;
  }
  return mesh;
}

class MeshImpl implements Mesh {
  readonly service: string;
  readonly nodeId: string;
  readonly enabled: boolean;
  readonly dispatcher: Dispatcher;
  readonly identity: WorkloadIdentity | undefined;
  readonly #meshIdentity: MeshIdentity | undefined;
  /** The identity's TLS side (secure contexts, SPIFFE checks) for clients and servers; undefined without an identity. */
  readonly #tls: MeshTls | undefined;
  readonly #options: ResolvedMeshOptions;
  readonly #discovery: Discovery | undefined;
  readonly #mesh: MeshDispatcher | undefined;
  readonly #served: (ServedEndpoint | ServedGrpcEndpoint)[] = [];
  readonly #policies: ClusterPolicyRegistry;
  readonly #telemetry: MeshTelemetry;
  #grpc: MeshGrpcImpl | undefined;
  #registry: RegistryClient | undefined;
  #inbound: InboundRuntime | undefined;
  #closing: Promise<void> | undefined;
  /** Golden metrics and mesh gauges (always made, so meshTraffic() works; hooked into calls only when enabled). */
  readonly #metrics: MeshMetrics;
  #metricsServer: http.Server | undefined;
  #metricsSubscription: Disposable | undefined;
  /** Sends the traffic summary to the control plane; undefined when disabled or `reporting.enabled: false`. */
  #reporter: TrafficReporter | undefined;

  constructor(options: ResolvedMeshOptions, identity: MeshIdentity | undefined, diskCache: XdsDiskCache | undefined) {
    this.#options = options;
    this.#meshIdentity = identity;
    this.identity = identity?.identity;
    this.#tls = identity === undefined ? undefined : new MeshTls(identity.identity);
    this.service = options.service;
    this.nodeId = options.nodeId;
    this.enabled = options.enabled;
    this.#policies = new ClusterPolicyRegistry({ localZone: options.locality.zone ?? '' });
    const mo = options.metrics;
    this.#metrics = new MeshMetrics({
      service: options.service,
      ...(mo.istio !== undefined && { istio: mo.istio }),
      ...(mo.namespace !== undefined && { namespace: mo.namespace }),
      ...(mo.maxSeries !== undefined && { maxSeries: mo.maxSeries }),
      identity: () => {
        const id = this.identity?.status().spiffeId;
        return id === undefined ? undefined : { spiffeId: id };
      },
    });
    bindMeshMetrics(this, this.#metrics);
    if (mo.enabled) attachOpenTelemetry(this.#metrics, mo.meterProvider);
    this.#telemetry = createMeshTelemetry(options.service, options.accessLog);
    const pool = {
      ...(options.pool.connections !== undefined ? { connections: options.pool.connections } : {}),
      ...(options.pool.keepAliveTimeoutMs !== undefined ? { keepAliveTimeoutMs: options.pool.keepAliveTimeoutMs } : {}),
    };
    if (!options.enabled) {
      options.logger.info('weft: mesh disabled; calls go straight to their hosts', { by: options.disabledBy });
      this.dispatcher = new Agent({
        ...keepAliveOptions(pool.keepAliveTimeoutMs),
        ...(pool.connections !== undefined ? { connections: pool.connections } : {}),
      });
      return;
    }
    const credential = identity === undefined ? undefined : () => identity.identity.xdsCredential();
    let xds: XdsClient | undefined;
    this.#discovery =
      options.discovery ??
      (xds = createXdsClient({
        server: options.controlPlaneAddress,
        node: {
          id: options.nodeId,
          cluster: options.service,
          locality: { ...options.locality },
        },
        logger: options.logger,
        protocol: options.xdsProtocol,
        ...(credential ? { credential } : {}),
        ...(diskCache !== undefined && { diskCache }),
      }));
    if (xds !== undefined) identity?.watchTrustBundle(xds);
    // A TracerProvider registered since the last check is seen at the next config change (else within 1024 calls).
    this.#discovery.state.onChange(() => this.#telemetry.tracing.refresh());
    this.#mesh = new MeshDispatcher({
      discovery: this.#discovery,
      pool,
      ...(this.#tls !== undefined && { tls: this.#tls }),
      logger: options.logger,
      ...(options.resolveTimeoutMs !== undefined ? { resolveTimeoutMs: options.resolveTimeoutMs } : {}),
      meshDomains: options.meshDomains,
      policies: this.#policies,
      ...(mo.enabled && {
        metrics: (authority: string, route: Route | undefined) =>
          this.#metrics.outboundSeries('http', authority, route?.name ?? '', route?.action.kind === 'forward' ? route.action.retry : undefined),
      }),
      telemetry: this.#telemetry,
    });
    this.dispatcher = this.#mesh;
    if (mo.enabled) {
      const gauges = meshGauges({
        service: options.service,
        discovery: this.#discovery,
        clusters: () => this.#policies.current(),
        inbound: () => this.#inbound?.status(),
        identity: () => this.identity?.status(),
      });
      this.#metrics.addCollector(gauges.collect);
      this.#metricsSubscription = gauges.subscription;
      // The golden metrics' cumulative rows go to the control plane (weft stat, weft top, the dashboard).
      this.#startReporting(this.#metrics.registry);
    }
  }

  get grpc(): MeshGrpc {
    if (this.#grpc === undefined) {
      const options = this.#options;
      this.#grpc = new MeshGrpcImpl({
        ...(this.#discovery !== undefined ? { discovery: this.#discovery } : {}),
        policies: this.#policies,
        telemetry: this.#telemetry,
        resolveTimeoutMs: options.resolveTimeoutMs ?? DEFAULT_RESOLVE_TIMEOUT_MS,
        logger: options.logger,
        serveDeps: this.#serveDeps(),
        onServed: (served) => {
          this.#served.push(served);
          if (this.#closing) void served.close(); // close() ran while binding
        },
        assertOpen: (what) => {
          if (this.#closing) throw new MeshError(ERROR_CODES.CLOSED, `${what} after mesh.close()`, { nonRetryable: true });
        },
      });
      // First used after close(): its channels must not resolve through a mesh that is gone.
      if (this.#closing) this.#grpc.close();
    }
    return this.#grpc;
  }

  /** The inbound runtime, made on first use when the mesh is enabled (it subscribes only once something serves). */
  #inboundRuntime(): InboundRuntime | undefined {
    if (this.#discovery === undefined) return undefined;
    this.#inbound ??= new InboundRuntime({
      service: this.service,
      discovery: this.#discovery,
      logger: this.#options.logger,
      ...(this.#options.resolveTimeoutMs !== undefined && { policyWaitMs: this.#options.resolveTimeoutMs }),
    });
    return this.#inbound;
  }

  #serveDeps(): ServeDeps {
    const inbound = this.#inboundRuntime();
    return {
      ...(inbound !== undefined && { inbound }),
      ...(this.#tls !== undefined && { tls: this.#tls }),
      service: this.service,
      nodeId: this.nodeId,
      telemetry: this.#telemetry,
      drain: this.#options.drain,
      logger: this.#options.logger,
      ...(this.#options.metrics.enabled && { metrics: this.#metrics }),
      register: (endpoint, ttlMs) => {
        if (!this.enabled) return undefined;
        const identity = this.identity;
        this.#registry ??= new RegistryClient({
          server: this.#options.controlPlaneAddress,
          logger: this.#options.logger,
          ...(identity ? { credential: () => identity.xdsCredential() } : {}),
        });
        return this.#registry.register({ ...endpoint, locality: this.#options.locality }, ttlMs);
      },
    };
  }

  /** Starts reporting `source` to the control plane every `reporting.intervalMs` (first report after one interval). */
  #startReporting(source: TrafficSource): void {
    const reporting = this.#options.reporting;
    if (!this.enabled || reporting === undefined || this.#options.discovery !== undefined) return;
    const identity = this.identity;
    this.#reporter = new TrafficReporter({
      server: this.#options.controlPlaneAddress,
      source,
      nodeId: this.nodeId,
      service: this.service,
      intervalMs: reporting.intervalMs,
      logger: this.#options.logger,
      instance: () => {
        const first = this.#served[0];
        return first === undefined ? '' : `${first.address.includes(':') ? `[${first.address}]` : first.address}:${first.port}`;
      },
      ...(identity ? { credential: () => identity.xdsCredential(), certificateExpiresAtMs: () => identity.status().notAfterMs } : {}),
    });
  }

  fetch(input: RequestInfo, init?: RequestInit): Promise<Response> {
    return undiciFetch(input, { ...init, dispatcher: this.dispatcher });
  }

  async serve(handlerOrServer: http.RequestListener | http.Server, options: ServeOptions): Promise<ServedEndpoint> {
    if (this.#closing) throw new MeshError(ERROR_CODES.CLOSED, 'mesh.serve() after mesh.close()', { nonRetryable: true });
    const served = await serveHttp(handlerOrServer, options, this.#serveDeps());
    this.#served.push(served);
    if (this.#closing) void served.close(); // close() ran while listening
    return served;
  }

  async ready(): Promise<void> {
    const discovery = this.#discovery;
    if (!this.enabled || discovery === undefined) return;
    const { readyTimeoutMs, readyOnTimeout, dependsOn, logger } = this.#options;
    const identity = this.identity;
    // A refused token will not get better by waiting: fail at once with its reason, not at the timeout.
    let refused: MeshError | undefined;
    const never = new Promise<never>(() => {});
    const identityRefused = identity?.whenReady().then(
      () => never,
      (e: unknown) => (isMeshError(e, ERROR_CODES.IDENTITY) ? (refused = e) : never),
    );
    const missing = await Promise.race([
      waitUntilReady({
        discovery,
        probe: this.service,
        dependsOn,
        registrations: this.#served.flatMap((s) => (s.registration ? [s.registration] : [])),
        timeoutMs: readyTimeoutMs,
        ...(identity ? { identity } : {}),
        ...(this.#inbound?.started === true && { inboundService: this.service }),
        ...(this.#options.xdsCache !== undefined && { cacheReadyWaitMs: this.#options.xdsCache.readyWaitMs }),
      }),
      ...(identityRefused ? [identityRefused.then(() => [])] : []),
    ]);
    if (refused !== undefined) {
      if (readyOnTimeout === 'fail-open') logger.warn('weft: no workload certificate; continuing (fail-open)', { error: refused.message });
      else throw refused;
      return;
    }
    const status = discovery.status();
    if (missing.length === 0 && !status.connected && status.cache?.servingFromCache === true) {
      logger.warn('weft: ready on the last good configuration from the disk cache; the control plane is unreachable', {
        file: status.cache.file, ageMs: status.cache.loaded?.ageMs, server: status.server,
      });
    }
    if (missing.length === 0) return;
    if (readyOnTimeout === 'fail-open') {
      logger.warn('weft: mesh not ready in time; continuing (fail-open)', { timeoutMs: readyTimeoutMs, missing });
      return;
    }
    throw new MeshError(ERROR_CODES.READY_TIMEOUT, `mesh not ready after ${readyTimeoutMs} ms; missing: ${missing.join('; ')}`, {
      details: { timeoutMs: readyTimeoutMs, missing },
    });
  }

  metricsHandler(): http.RequestListener {
    return this.#metrics.handler();
  }

  metricsAddress(): { readonly address: string; readonly port: number } | undefined {
    const a = this.#metricsServer?.address() as AddressInfo | null | undefined;
    return a ? { address: a.address, port: a.port } : undefined;
  }

  /** Starts the `metricsPort` server, when asked for. Rejects if it cannot listen (the caller closes the mesh). */
  async listenMetrics(): Promise<void> {
    const port = this.#options.metricsPort;
    if (port === undefined) return;
    const server = http.createServer(this.#metrics.handler());
    server.keepAliveTimeout = 65_000;
    this.#metricsServer = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.#options.metricsHost, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.unref();
  }

  explain(url: string | URL, init?: ExplainInit): Promise<Explanation> {
    return explainRequest(this.#mesh, this.#discovery, url, init);
  }

  status(): MeshStatus {
    const o = this.#options;
    const discovery = this.#discovery?.status();
    return Object.freeze({
      service: o.service,
      nodeId: o.nodeId,
      enabled: o.enabled,
      disabledBy: o.disabledBy,
      controlPlane: o.controlPlane,
      controlPlanes: o.controlPlanes,
      connectedControlPlane: discovery?.peer,
      discovery,
      registrations: this.#served.flatMap((s) => (s.registration ? [s.registration.status()] : [])),
      served: this.#served.map((s) => ({ address: s.address, port: s.port })),
      closed: this.#closing !== undefined,
      resilience: this.#mesh?.resilience() ?? {},
      concurrencyLimits: this.#policies.concurrencyLimits(),
      inbound: this.#inbound?.status(),
      identity: this.identity?.status(),
      accessLog: this.#telemetry.log.status(),
    });
  }

  configDump(): MeshConfigDump {
    const state = this.#discovery?.state.get();
    const targets: Record<string, MeshConfigDump['targets'][string]> = {};
    const clusters: Record<string, MeshConfigDump['clusters'][string]> = {};
    for (const [name, ts] of state?.targets ?? []) {
      if (ts.status === 'resolved') {
        const routes = ts.routes.virtualHosts.flatMap((vh) => vh.routes.map((r) => r.name));
        targets[name] = { status: ts.status, listener: ts.routes.listener, routeConfig: ts.routes.routeConfig, routes };
      } else targets[name] = ts.status === 'error' ? { status: ts.status, message: ts.message } : { status: ts.status };
    }
    for (const [name, c] of state?.clusters ?? []) {
      clusters[name] = { endpointsKnown: c.endpointsKnown, endpoints: c.endpoints.map((e) => `${e.address}:${e.port}`), lbPolicy: c.lbPolicy };
    }
    const d = this.#discovery as (Discovery & { configDump?: () => XdsConfigDump }) | undefined;
    return { status: this.status(), generation: state?.generation ?? 0, targets, clusters, xds: typeof d?.configDump === 'function' ? d.configDump() : undefined };
  }

  onConfig(fn: (event: ConfigEvent) => void): Disposable {
    const discovery = this.#discovery;
    if (discovery === undefined) return { dispose() {} };
    const logger = this.#options.logger;
    return discovery.state.onChange((state) => {
      if (this.#closing) return;
      try {
        fn({ generation: state.generation });
      } catch (e: unknown) {
        logger.warn('weft: an onConfig listener threw', { error: e instanceof Error ? e.message : String(e) });
      }
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const logger = this.#options.logger;
    const step = async (what: string, p: () => Promise<unknown>): Promise<void> => {
      try {
        await p();
      } catch (e: unknown) {
        logger.warn(`weft: close: ${what} failed`, { error: e instanceof Error ? e.message : String(e) });
      }
    };
    // 1. Deregister and drain every served endpoint (in parallel): callers stop picking them before they stop.
    await step('drain', () => Promise.all(this.#served.map((s) => s.close())));
    await step('registry', async () => this.#registry?.close());
    await step('telemetry', async () => this.#reporter?.close());
    // 2. Outgoing calls still running get the drain timeout to finish, then are cut.
    const drainTimeoutMs = this.#options.drain.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS;
    await step('dispatcher', () => closeWithin(this.dispatcher, drainTimeoutMs));
    this.#grpc?.close();
    this.#inbound?.close();
    this.#policies.close();
    this.#metricsSubscription?.dispose();
    await step('metrics', () => closeServer(this.#metricsServer));
    // 3. Last, the xDS stream and the certificate renewal.
    await step('discovery', async () => this.#discovery?.close());
    await step('identity', async () => this.#meshIdentity?.close());
    await step('access log', () => this.#telemetry.log.close());
  }
}

/** Opens and reads the disk cache when it is on (never fails: a bad file is ignored with a warning). */
async function loadDiskCache(o: ResolvedMeshOptions): Promise<XdsDiskCache | undefined> {
  if (!o.enabled || o.xdsCache === undefined) return undefined;
  const cache = new XdsDiskCache({
    dir: o.xdsCache.dir,
    // The replica list in a fixed order: the target itself is shuffled per process, and must not make each restart's
    // cache look foreign.
    identity: { service: o.service, nodeId: o.nodeId, controlPlane: [...o.controlPlanes].sort().join(','), locality: o.locality },
    logger: o.logger,
    minWriteIntervalMs: o.xdsCache.minWriteIntervalMs,
  });
  await cache.load();
  return cache;
}

async function closeServer(server: http.Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function closeWithin(dispatcher: Dispatcher, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
  const cut = await Promise.race([dispatcher.close().then(() => false), timedOut]);
  clearTimeout(timer);
  if (cut) await dispatcher.destroy(new MeshError(ERROR_CODES.CLOSED, `mesh closed; call still running after ${timeoutMs} ms`, { interrupted: true }));
}
