// Serves a node:http handler or server on behalf of the mesh: listen, register the endpoint, and drain on close.
import http from 'node:http';
import https from 'node:https';
import net, { isIP, type AddressInfo } from 'node:net';
import os from 'node:os';
import { invalidArg } from '../../core/errors.js';
import { NOOP_LOGGER, type Logger } from '../../core/logger.js';
import type { EndpointRegistration, Registration } from '../../discovery/registration.js';
import type { InboundRuntime } from '../inbound/runtime.js';
import { enforceDeadlines, withDeadline } from './deadline-listener.js';
import { enforceInbound, withInbound } from './inbound-listener.js';
import { traceHttpServer } from '../../telemetry/http-server.js';
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import type { MeshTls } from '../../identity/mesh-tls.js';
import { TLS_MODE_LABEL, TLS_MODE_WEFT } from '../../identity/mtls-wire.js';
import { createInboundFront, MeshTlsTerminator } from '../tls/inbound-front.js';
import type { MeshMetrics } from '../../telemetry/mesh-metrics.js';
import { observeHttpServer } from '../../telemetry/http-server-metrics.js';

/** Default time the server keeps serving after deregistering, so the removal reaches callers first (ms). */
export const DEFAULT_DRAIN_DELAY_MS = 500;
/** Default bound on waiting for in-flight requests once the listener is closed (ms); then they are cut. */
export const DEFAULT_DRAIN_TIMEOUT_MS = 10_000;
/**
 * How long a server Weft creates keeps an idle keep-alive connection (ms). The caller must be the one to close an idle
 * connection, or a request can be written to a connection the server is closing (the keep-alive race): this is longer
 * than any Weft client keeps one (MAX_CLIENT_IDLE_TIMEOUT_MS, and they leave a margin below the `Keep-Alive: timeout`
 * the server advertises) and than the 60 s idle timeout of common load balancers and proxies. Node's own default, 5 s,
 * is shorter than many callers' and is the classic cause of ECONNRESET behind a proxy.
 */
export const DEFAULT_SERVER_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Where and how to serve. */
export interface ServeOptions {
  /** TCP port; 0 picks a free one (read it from the returned ServedEndpoint). */
  readonly port: number;
  /** Interface to bind; default '127.0.0.1'. Use '0.0.0.0' to accept remote callers. */
  readonly host?: string;
  /** Service port name this endpoint serves; default the Service's first port. */
  readonly portName?: string;
  /** IP literal callers should use; default the bound address (or the first non-internal IPv4 when bound to all). */
  readonly advertiseAddress?: string;
  /** Relative load-balancing weight; default 1. */
  readonly weight?: number;
  readonly labels?: Readonly<Record<string, string>>;
  /** Lease TTL asked of the control plane (ms); default 10000. */
  readonly leaseTtlMs?: number;
  /**
   * Idle keep-alive timeout of the HTTP server (ms), advertised to callers as `Keep-Alive: timeout`. Default 65000 for
   * a server serve() creates; a server passed in keeps its own unless this is given. Ignored by gRPC serve.
   */
  readonly keepAliveTimeoutMs?: number;
}

/** How close() drains. */
export interface DrainOptions {
  /** Keep serving this long after deregistering, answering with `connection: close` (ms); default 500. */
  readonly drainDelayMs?: number;
  /** Then wait at most this long for in-flight requests before closing their connections (ms); default 10000. */
  readonly drainTimeoutMs?: number;
}

/** A listening, registered endpoint. */
export interface ServedEndpoint {
  /** The address registered for callers (an IP literal). */
  readonly address: string;
  /** The port actually bound. */
  readonly port: number;
  /** The node:http server (the caller's own, when one was passed; an https.Server serves TLS). */
  readonly server: http.Server | https.Server;
  /** The registration, or undefined when the mesh is disabled. */
  readonly registration: Registration | undefined;
  /** Deregisters, drains and closes the server; resolves when it is closed. Never rejects. Idempotent. */
  close(): Promise<void>;
}

/** What serveHttp needs from the mesh. */
export interface ServeDeps {
  /** Registers the endpoint, or returns undefined when the mesh is disabled. */
  readonly register: (endpoint: EndpointRegistration, ttlMs: number | undefined) => Registration | undefined;
  readonly service: string;
  readonly nodeId: string;
  readonly drain?: DrainOptions;
  readonly logger?: Logger;
  /** The service's inbound policy (authn, authz, rate limit); undefined when the mesh is disabled. */
  readonly inbound?: InboundRuntime;
  /**
   * The workload certificate's TLS side, when the process has an identity: servers then take mTLS connections (and
   * plaintext ones, on the same port) and register as serving mTLS. Undefined: plaintext only.
   */
  readonly tls?: MeshTls;
  /** Golden metrics of served requests (HTTP and gRPC); undefined = none. */
  readonly metrics?: MeshMetrics;
  /** Tracing and access logs: a SERVER span and a log line per request (src/telemetry/http-server.ts). */
  readonly telemetry?: MeshTelemetry;
}

/**
 * Listens with `handlerOrServer` (a request listener, or an http.Server or https.Server, which may already be
 * listening; the inbound policy and the caller's deadline wrap its request listeners as they are now), registers
 * `{ service, address, port, portName, nodeId }` under a lease and returns once listening (registration goes on in the
 * background; `registration.registered()` tells when it is done). Rejects only if listening fails (e.g. EADDRINUSE).
 * Throws WEFT_ERR_INVALID_ARG for bad options.
 */
export async function serveHttp(
  handlerOrServer: http.RequestListener | http.Server | https.Server,
  options: ServeOptions,
  deps: ServeDeps,
): Promise<ServedEndpoint> {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) invalidArg(`serve: port must be an integer in [0, 65535], got ${options.port}`);
  if (options.advertiseAddress !== undefined && isIP(options.advertiseAddress) === 0) {
    invalidArg(`serve: advertiseAddress must be an IP literal, got '${options.advertiseAddress}'`);
  }
  if (options.keepAliveTimeoutMs !== undefined && !(Number.isInteger(options.keepAliveTimeoutMs) && options.keepAliveTimeoutMs > 0)) {
    invalidArg(`serve: keepAliveTimeoutMs must be a positive integer, got ${options.keepAliveTimeoutMs}`);
  }
  const inbound = deps.inbound;
  const wrap = (l: http.RequestListener): http.RequestListener => (inbound === undefined ? l : withInbound(l, inbound));
  const server = typeof handlerOrServer === 'function' ? http.createServer(wrap(withDeadline(handlerOrServer))) : handlerOrServer;
  if (!((server as object) instanceof http.Server || (server as object) instanceof https.Server)) invalidArg('serve: expected a request handler (req, res) => void, an http.Server or an https.Server');
  const keepAliveMs = options.keepAliveTimeoutMs ?? (server === handlerOrServer ? undefined : DEFAULT_SERVER_KEEP_ALIVE_TIMEOUT_MS);
  if (keepAliveMs !== undefined) {
    server.keepAliveTimeout = keepAliveMs;
    // Node closes a connection whose next request's headers are not in within headersTimeout of it starting; keep
    // that above the idle timeout so the two never race on a keep-alive connection.
    if (server.headersTimeout <= keepAliveMs) server.headersTimeout = keepAliveMs + 1_000;
  }
  // The caller's deadline (x-weft-timeout-ms) and then the inbound policy around it: a handler is wrapped above; a
  // server's own listeners, as they are now.
  if (server === handlerOrServer) {
    enforceDeadlines(server as http.Server);
    if (inbound !== undefined) enforceInbound(server as http.Server, inbound);
  }
  // `metrics` last, so its patch of emit is outermost: it sees the requests the inbound policy refuses too.
  if (deps.metrics !== undefined) observeHttpServer(server as http.Server, deps.metrics);
  // `trace` outermost (after the inbound guard was patched in), so refused requests are traced and logged too.
  if (deps.telemetry !== undefined) traceHttpServer(server as http.Server, deps.telemetry, () => inbound?.telemetry);
  // Subscribe before listening so the policy is usually in hand for the first request (which waits for it otherwise).
  void inbound?.start();
  // With a workload certificate, a plain http.Server listens through the inbound front: mTLS and plaintext on one port
  // (the inbound policy's filter chains decide per request which it accepts). An https.Server, or one already
  // listening, keeps its own socket (no mTLS from the mesh).
  const tls = deps.tls;
  const fronted = tls !== undefined && !server.listening && !((server as object) instanceof https.Server);
  if ((tls !== undefined && !fronted) || (server as object) instanceof https.Server) {
    (deps.logger ?? NOOP_LOGGER).warn(
      'weft: serve() got an https.Server or a listening server, so it serves without mesh mTLS: to inbound policy its connections are plaintext (STRICT refuses them) and its client certificates name no mesh identity',
      { service: deps.service },
    );
  }
  const listener: net.Server = fronted ? meshFront(server as http.Server, tls, deps.inbound) : server;
  const drainer = new Drainer(server, listener);
  if (!listener.listening) await listen(listener, options.port, options.host ?? '127.0.0.1');
  // node:http tracks its connections (idle closing, header and request timeouts) once it sees 'listening'.
  if (fronted) server.emit('listening');
  const bound = listener.address() as AddressInfo;
  const address = options.advertiseAddress ?? advertisable(bound.address);
  const registration = registerServed(deps, options, address, bound.port, fronted);
  const logger = deps.logger ?? NOOP_LOGGER;
  const { drainDelayMs, drainTimeoutMs } = drainTimes(deps);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await registration?.close();
      drainer.startDraining();
      if (drainDelayMs > 0) await delay(drainDelayMs);
      const forced = await drainer.closeServer(drainTimeoutMs);
      if (forced > 0) logger.warn('weft: drain timeout; closed connections with requests in flight', { port: bound.port, forced });
    })());
  return Object.freeze({ address, port: bound.port, server, registration, close });
}

/**
 * The inbound front of `server` (server/tls/inbound-front.ts): plaintext connections go to it as they are, TLS ones
 * once mTLS is terminated with the workload certificate; refused ones are counted and logged by the inbound runtime.
 */
function meshFront(server: http.Server, tls: MeshTls, inbound: InboundRuntime | undefined): net.Server {
  const refused = (reason: string, detail: string, peer: string): void => inbound?.refuseConnection(reason, detail, peer);
  const terminator = new MeshTlsTerminator(tls, (secured) => server.emit('connection', secured), refused, ['http/1.1']);
  return createInboundFront({ plaintext: (socket) => server.emit('connection', socket), tls: (socket) => terminator.handle(socket), refused });
}

/**
 * Registers a served endpoint of `deps.service` at `address:port` under a lease (HTTP and gRPC serve alike). `mtls`:
 * the endpoint serves mTLS (label security.weft.dev/tlsMode: weft), so callers of a PERMISSIVE Service use it.
 */
export function registerServed(deps: ServeDeps, options: ServeOptions, address: string, port: number, mtls: boolean): Registration | undefined {
  return deps.register(
    {
      service: deps.service,
      address,
      port,
      portName: options.portName ?? '',
      nodeId: deps.nodeId,
      ...(options.weight !== undefined ? { weight: options.weight } : {}),
      ...(options.labels !== undefined || mtls ? { labels: { ...options.labels, ...(mtls && { [TLS_MODE_LABEL]: TLS_MODE_WEFT }) } } : {}),
    },
    options.leaseTtlMs,
  );
}

/** The drain delay and timeout of `deps`, with the defaults filled in. */
export function drainTimes(deps: ServeDeps): { readonly drainDelayMs: number; readonly drainTimeoutMs: number } {
  return { drainDelayMs: deps.drain?.drainDelayMs ?? DEFAULT_DRAIN_DELAY_MS, drainTimeoutMs: deps.drain?.drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS };
}

/** Tracks in-flight requests, marks responses `connection: close` while draining, and closes the server in order. */
class Drainer {
  readonly #server: http.Server | https.Server;
  /** What accepts connections: the server itself, or the inbound front listening for it. */
  readonly #listener: net.Server;
  readonly #inFlight = new Set<http.ServerResponse>();
  #draining = false;
  #idle: (() => void) | undefined;

  constructor(server: http.Server | https.Server, listener: net.Server) {
    this.#server = server;
    this.#listener = listener;
    // Prepended so the mark is set before the application's handler writes its headers.
    server.prependListener('request', (_req: http.IncomingMessage, res: http.ServerResponse) => {
      this.#inFlight.add(res);
      if (this.#draining) res.setHeader('connection', 'close');
      res.once('close', () => {
        this.#inFlight.delete(res);
        if (this.#inFlight.size === 0) this.#idle?.();
      });
    });
  }

  /** From now on every response asks the client to close its connection (in-flight ones too, if not yet sent). */
  startDraining(): void {
    this.#draining = true;
    for (const res of this.#inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
  }

  /** Stops accepting, closes idle connections, waits for in-flight requests up to `timeoutMs`, then cuts the rest. */
  async closeServer(timeoutMs: number): Promise<number> {
    const server = this.#server;
    const listener = this.#listener;
    if (!listener.listening) return 0;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    // A fronted server never listened itself: its close() only stops its connection tracking (and reports it was
    // not running, which is expected).
    if (listener !== server) server.close(() => {});
    server.closeIdleConnections();
    let forced = 0;
    if (this.#inFlight.size > 0) {
      const idle = new Promise<void>((resolve) => (this.#idle = resolve));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs)));
      const cut = await Promise.race([idle.then(() => false), timedOut]);
      clearTimeout(timer);
      if (cut) forced = this.#inFlight.size;
    }
    server.closeAllConnections();
    await closed;
    return forced;
  }
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** The bound address, or for a wildcard bind the first non-internal IPv4 of this host (127.0.0.1 if none). */
export function advertisable(bound: string): string {
  if (bound !== '0.0.0.0' && bound !== '::') return bound.startsWith('::ffff:') ? bound.slice(7) : bound;
  for (const list of Object.values(os.networkInterfaces())) {
    for (const info of list ?? []) if (info.family === 'IPv4' && !info.internal) return info.address;
  }
  return '127.0.0.1';
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
