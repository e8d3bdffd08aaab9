// Serves a grpc-js Server on behalf of the mesh: bind, register the endpoint, report health, and drain on close.
import type * as grpcTypes from '@grpc/grpc-js';
import type { HealthImplementation, ServingStatus } from 'grpc-health-check';
import { invalidArg } from '../../core/errors.js';
import { NOOP_LOGGER } from '../../core/logger.js';
import type { GrpcJs } from '../../client/grpc/grpc-js.js';
import { currentDeadline, runWithDeadline, startDeadline } from '../../policy/deadline/index.js';
import type { Registration } from '../../discovery/registration.js';
import net, { type AddressInfo } from 'node:net';
import { advertisable, delay, drainTimes, registerServed, type ServeDeps, type ServeOptions } from '../http/serve.js';
import { createInboundFront, MeshTlsTerminator, peerOf } from '../tls/inbound-front.js';
import type { InboundRuntime } from '../inbound/runtime.js';
import { inboundInterceptor } from './inbound-interceptor.js';
import type { MeshMetrics } from '../../telemetry/mesh-metrics.js';
import { grpcServerMetricsInterceptor } from '../../telemetry/grpc-metrics.js';
import { traceServerInterceptor } from '../../telemetry/grpc-server.js';
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';

/** A listening, registered gRPC endpoint. */
export interface ServedGrpcEndpoint {
  /** The address registered for callers (an IP literal). */
  readonly address: string;
  /** The port actually bound. */
  readonly port: number;
  readonly server: grpcTypes.Server;
  /** The registration, or undefined when the mesh is disabled. */
  readonly registration: Registration | undefined;
  /** The server's grpc.health.v1 service, when it has Weft's (mesh.grpc.server() adds it). */
  readonly health: HealthImplementation | undefined;
  /**
   * Deregisters, reports NOT_SERVING, keeps serving for the drain delay, then shuts the server down gracefully (GOAWAY;
   * calls in flight finish) and cuts what is left after the drain timeout. Never rejects. Idempotent.
   */
  close(): Promise<void>;
}

/** Options of mesh.grpc.server(): grpc-js server options, plus what Weft adds. */
export interface MeshGrpcServerOptions extends grpcTypes.ServerOptions {
  /** Serve grpc.health.v1 (status SERVING until close() starts draining); default true. */
  readonly health?: boolean;
  /**
   * Serve gRPC server reflection (grpc.reflection.v1 and v1alpha) for this package definition, e.g. the one
   * @grpc/proto-loader loaded; needs the optional peer dependency @grpc/reflection.
   */
  readonly reflection?: object;
}

const healthOf = new WeakMap<grpcTypes.Server, HealthImplementation>();
/** Servers made by createMeshGrpcServer with an inbound runtime (the only ones that enforce inbound policy). */
const enforcing = new WeakSet<grpcTypes.Server>();

/**
 * A grpc-js Server with Weft's inbound path: the service's inbound policy (authn → authz → rate limit, when `inbound`
 * is given; subscribed now, so it is usually in hand before the first call), then the caller's deadline
 * (grpc-timeout) as the handler's currentDeadline(), so HTTP calls it makes through the mesh inherit what is left;
 * grpc.health.v1 unless `health: false`; reflection if asked. Interceptors in `options.interceptors` run after Weft's.
 * The policy covers every service on the server, health and reflection included.
 */
export function createMeshGrpcServer(
  grpc: GrpcJs,
  options: MeshGrpcServerOptions = {},
  requireModule: (id: string) => unknown,
  inbound?: InboundRuntime,
  metrics?: MeshMetrics,
  telemetry?: MeshTelemetry,
): grpcTypes.Server {
  const { health, reflection, interceptors, ...serverOptions } = options;
  const policy = inbound === undefined ? [deadlineInterceptor(grpc)] : [inboundInterceptor(grpc, inbound), deadlineInterceptor(grpc)];
  // grpc-js wraps the base call with the first interceptor: `metrics` there sees every status, refusals included.
  // `trace` next (src/telemetry/grpc-server.ts): the inbound interceptor answers refusals on the call it hands on.
  const traced = telemetry === undefined ? policy : [traceServerInterceptor(grpc, telemetry, () => inbound?.telemetry), ...policy];
  const own = metrics === undefined ? traced : [grpcServerMetricsInterceptor(grpc, metrics), ...traced];
  const server = new grpc.Server({ ...serverOptions, interceptors: [...own, ...(interceptors ?? [])] });
  if (inbound !== undefined) {
    enforcing.add(server);
    void inbound.start();
  }
  if (health !== false) {
    // Loaded here, not at import: HTTP-only services never pay for its proto parsing.
    const { HealthImplementation: Health } = requireModule('grpc-health-check') as typeof import('grpc-health-check');
    const impl = new Health({ '': 'SERVING' });
    impl.addToServer(server);
    healthOf.set(server, impl);
  }
  if (reflection !== undefined) {
    let mod: { ReflectionService: new (pkg: object) => { addToServer(server: grpcTypes.Server): void } };
    try {
      mod = requireModule('@grpc/reflection') as typeof mod;
    } catch (e: unknown) {
      invalidArg(`mesh.grpc.server({ reflection }) needs the optional peer dependency @grpc/reflection: run \`npm install @grpc/reflection\` (${String(e)})`);
    }
    new mod.ReflectionService(reflection).addToServer(server);
  }
  return server;
}

/**
 * The server interceptor that runs each call's handler inside the caller's deadline (grpc-timeout), as the HTTP
 * server does with x-weft-timeout-ms: currentDeadline() inside the handler, and its signal aborts when time is up or
 * the call ends. Calls without a deadline pass untouched.
 */
function deadlineInterceptor(grpc: GrpcJs): grpcTypes.ServerInterceptor {
  return (_method, call) => {
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
    if (!Number.isFinite(ms)) return new grpc.ServerInterceptingCall(call);
    const d = startDeadline(Math.max(0, ms));
    const run = (fn: () => void): void => (currentDeadline() === d ? fn() : runWithDeadline(d, fn));
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMessage: (message, nextMessage) => run(() => nextMessage(message)),
          onReceiveHalfClose: (nextHalfClose) => run(() => nextHalfClose()),
          onCancel: () => d.dispose(),
        }),
      sendStatus: (status, nextStatus) => {
        d.dispose();
        nextStatus(status);
      },
    });
  };
}

/**
 * Binds `server` on `options.host:options.port`, registers the endpoint under a lease and sets its health SERVING.
 * Without a workload identity (`deps.tls`) the server binds plaintext itself. With one, it listens through the inbound
 * front (server/tls/inbound-front.ts), as HTTP serve does: mTLS (TLS 1.3, ALPN h2, client certificate verified against
 * the trust bundle, handshake bounded) and plaintext on one port, both injected into the server's HTTP/2 side, and the
 * endpoint registers as serving mTLS; the inbound policy's filter chains then decide per call (a STRICT server refuses
 * plaintext calls with PERMISSION_DENIED `no_filter_chain`). A server not made by mesh.grpc.server() cannot refuse per
 * call, so under STRICT its plaintext connections are refused whole (`plaintext_refused`, logged and counted).
 * Rejects only if binding fails; throws WEFT_ERR_INVALID_ARG for bad options.
 */
export async function serveGrpc(grpc: GrpcJs, server: grpcTypes.Server, options: ServeOptions, deps: ServeDeps): Promise<ServedGrpcEndpoint> {
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65_535) invalidArg(`mesh.grpc.serve: port must be an integer in [0, 65535], got ${options.port}`);
  if (!(server instanceof grpc.Server)) invalidArg('mesh.grpc.serve: expected a grpc-js Server (from mesh.grpc.server() or new grpc.Server())');
  if (deps.inbound !== undefined && !enforcing.has(server)) {
    // grpc-js takes interceptors only at construction: a server made elsewhere cannot get the inbound policy.
    (deps.logger ?? NOOP_LOGGER).warn('weft: this gRPC server was not made by mesh.grpc.server(), so inbound policy (AuthorizationPolicy, RequestAuthentication, LocalRateLimit) is NOT enforced on it', { service: deps.service });
  }
  const host = options.host ?? '127.0.0.1';
  let front: net.Server | undefined;
  let port: number;
  if (deps.tls !== undefined) {
    front = meshFront(grpc, server, deps);
    await listen(front, options.port, host);
    port = (front.address() as AddressInfo).port;
  } else {
    const hostPort = host.includes(':') ? `[${host}]:${options.port}` : `${host}:${options.port}`;
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(hostPort, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
  }
  const address = options.advertiseAddress ?? advertisable(host);
  const health = healthOf.get(server);
  const setHealth = (status: ServingStatus): void => {
    health?.setStatus('', status);
    health?.setStatus(deps.service, status);
  };
  setHealth('SERVING');
  const registration = registerServed(deps, options, address, port, front !== undefined);
  const logger = deps.logger ?? NOOP_LOGGER;
  const { drainDelayMs, drainTimeoutMs } = drainTimes(deps);
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      await registration?.close();
      setHealth('NOT_SERVING');
      if (drainDelayMs > 0) await delay(drainDelayMs);
      const frontClosed = front === undefined ? undefined : new Promise<void>((resolve) => front.close(() => resolve()));
      const graceful = new Promise<boolean>((resolve) => server.tryShutdown(() => resolve(true)));
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), drainTimeoutMs)));
      const clean = await Promise.race([graceful, timedOut]);
      clearTimeout(timer);
      if (!clean) {
        logger.warn('weft: gRPC drain timeout; cancelled calls still in flight', { port });
        server.forceShutdown();
      }
      await frontClosed;
    })());
  return Object.freeze({ address, port, server, registration, health, close });
}

/**
 * The inbound front of a gRPC server with a workload identity: plaintext connections and (once mTLS is terminated with
 * the current certificate) TLS ones go to one connection injector of the server, whose calls then see the TLS socket
 * (getAuthContext(): the verified peer certificate, so peerIdentity(call) and the AuthorizationPolicy principals work).
 * Refusals are counted and logged by the inbound runtime.
 */
function meshFront(grpc: GrpcJs, server: grpcTypes.Server, deps: ServeDeps): net.Server {
  const inbound = deps.inbound;
  const refused = (reason: string, detail: string, peer: string): void => {
    if (inbound !== undefined) inbound.refuseConnection(reason, detail, peer);
    else (deps.logger ?? NOOP_LOGGER).warn('weft: inbound connection refused', { service: deps.service, reason, detail, peer });
  };
  // Plaintext credentials on the HTTP/2 side: TLS is already terminated by the front, and grpc-js reads the peer
  // certificate from the session's socket whatever the credentials.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const inject = (socket: net.Socket): void => injector.injectConnection(socket);
  const terminator = new MeshTlsTerminator(deps.tls, inject, refused, ['h2']);
  const gate = inbound !== undefined && !enforcing.has(server) ? plaintextGate(inbound, inject, refused) : inject;
  return createInboundFront({ plaintext: gate, tls: (socket) => terminator.handle(socket), refused });
}

/**
 * For a server that does not enforce inbound policy per call: lets a plaintext connection through only while the policy
 * in force has a plaintext filter chain (not STRICT). Before the first policy it waits for it (bounded by the runtime's
 * start timeout); with none by then it refuses (fail closed, as requests do).
 */
function plaintextGate(inbound: InboundRuntime, inject: (socket: net.Socket) => void, refused: (reason: string, detail: string, peer: string) => void): (socket: net.Socket) => void {
  const decide = (socket: net.Socket): void => {
    const current = inbound.current;
    if (socket.destroyed) return;
    if (current !== undefined && current.plaintextAllowed) return inject(socket);
    refused(
      'plaintext_refused',
      current === undefined ? 'a plaintext connection arrived before the inbound policy, which did not come in time' : 'a plaintext connection to a server that takes mTLS only (STRICT)',
      peerOf(socket),
    );
    socket.destroy();
  };
  return (socket) => {
    if (inbound.current !== undefined) return decide(socket);
    void inbound.start(POLICY_WAIT_MS).then(() => decide(socket));
  };
}

/** Bound on waiting for the first inbound policy before deciding a plaintext connection (ms). */
const POLICY_WAIT_MS = 5_000;

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
