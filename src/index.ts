// Weft's stable public API: createMesh() and the types and errors a service sees. Extension points live in ./experimental.

/** Creates the mesh for one service process; see Mesh. */
export { createMesh } from './mesh.js';
/** The mesh handle, its status and config-dump views. */
export type { Mesh, MeshStatus, MeshConfigDump, ConfigEvent } from './mesh.js';
/** Options of createMesh() and the ready() timeout policy. */
export type { MeshOptions, MetricsOptions, ReadyOnTimeout } from './mesh/options.js';
/** The `xds.protocol` option of createMesh(): 'auto', 'delta' or 'sotw'. */
export type { XdsProtocol } from './discovery/xds/ads-client.js';
/** Defaults of createMesh() (control plane URL, ready() bound). */
export { DEFAULT_CONTROL_PLANE, DEFAULT_READY_TIMEOUT_MS } from './mesh/options.js';

/** The workload identity (mesh.identity): the certificate TLS presents, its status, and the SPIFFE ID helpers. */
export type { WorkloadIdentity, WorkloadCertificate, IdentityStatus } from './identity/workload-identity.js';
/** SPIFFE IDs: format, parse, and read from a certificate's subjectAltName. */
export { formatSpiffeId, parseSpiffeId, spiffeIdOfSans, DEFAULT_TRUST_DOMAIN, DEFAULT_NAMESPACE, type WorkloadId } from './identity/spiffe.js';

/** The gRPC side of a mesh (mesh.grpc) and its client constructor type. */
export type { MeshGrpc, GrpcClientConstructor } from './client/grpc/mesh-grpc.js';
/** The cap on a gRPC call's messages buffered for retries. */
export { GRPC_RETRY_BUFFER_BYTES } from './client/grpc/mesh-grpc.js';
/** Options of mesh.grpc.server() and the result of mesh.grpc.serve(). */
export type { MeshGrpcServerOptions, ServedGrpcEndpoint } from './server/grpc/serve.js';
/** The `weft:` URI scheme and the channel option naming a channel's mesh. */
export { WEFT_SCHEME, MESH_OPTION } from './client/grpc/resolver.js';
/** How Weft errors become gRPC statuses at the gRPC edge (docs/errors.md "gRPC"). */
export { GRPC_STATUS_FOR_ERROR, grpcStatusOf } from './client/grpc/status-map.js';

/** Options and result of mesh.serve(). */
export type { ServeOptions, ServedEndpoint, DrainOptions } from './server/http/serve.js';
/** Defaults of the drain on close. */
export { DEFAULT_DRAIN_DELAY_MS, DEFAULT_DRAIN_TIMEOUT_MS } from './server/http/serve.js';
/** Who is calling a served request or gRPC call: the SPIFFE ID of its verified certificate, and its verified JWT claims. */
export { peerIdentity, jwtClaims, type GrpcCallLike } from './server/inbound/identity.js';
/** The inbound section of mesh.status() (policy in force, refusals by reason). */
export type { InboundStatus } from './server/inbound/runtime.js';
/** Request deadlines: what a served request's caller allows (deadlineOf(req)), and the one calls made inside inherit. */
export { deadlineOf, currentDeadline, TIMEOUT_HEADER } from './policy/deadline/index.js';
/** A request's deadline as a server handler sees it (signal, remainingMs()). */
export type { Deadline } from './policy/deadline/index.js';
/** Outcome classification shared by retries, breakers, outlier detection and metrics. */
export { classifyOutcome, compileClassifier, isGatewayError, isConnectFailure } from './core/classify.js';
/** Classification types. */
export type { Outcome, AttemptOutcome, Classifier, RetryCondition } from './core/classify.js';
/** One registration's state, as in mesh.status(). */
export type { RegistrationStatus } from './discovery/registration.js';

/** mesh.explain() results and their text rendering. */
export { formatExplanation, parseRouteName } from './explain.js';
/** Types of mesh.explain() results. */
export type { Explanation, ExplainInit, ExplainedBreaker, ExplainedCluster, ExplainedEndpoint, RouteCheck, RouteSource } from './explain.js';
/** Circuit-breaker counters and outlier ejections per cluster, as in mesh.status().resilience. */
export type { ClusterResilienceStatus } from './client/http/policy-dispatch.js';
export type { BreakerSnapshot, OverflowReason } from './policy/circuit-breaker/index.js';
export type { ConcurrencyLimitSnapshot } from './policy/concurrency/index.js';
export type { Ejection, EjectionReason } from './policy/outlier/index.js';

/** The error type, its codes (docs/errors.md) and helpers to test for them. */
export { MeshError, isMeshError, findCause, ERROR_CODES } from './core/errors.js';
/** Error code, flag and option types. */
export type { ErrorCode, ErrorFlags, MeshErrorOptions } from './core/errors.js';

/** Pluggable logging: the interface, a no-op default and a JSON-lines console logger. */
export { NOOP_LOGGER, consoleLogger } from './core/logger.js';
/** The Logger interface. */
export type { Logger } from './core/logger.js';
/** Disposable (returned by every onX) and the read-only Watch of a changing value. */
export type { Disposable, Watch } from './core/watch.js';
/** Discovery status as shown by mesh.status(). */
export type { DiscoveryStatus, TypeStatus, NackEvent } from './discovery/discovery.js';
/** Access logs: where lines go (createMesh `accessLog`), the writer's counters (mesh.status().accessLog), a line's fields. */
export type { AccessLogOptions, AccessLogStatus, AccessLogRecord } from './telemetry/access-log.js';
/** Default bound of unwritten access-log bytes before lines are dropped (1 MiB). */
export { DEFAULT_ACCESS_LOG_BUFFER_BYTES } from './telemetry/access-log.js';
/** The instrumentation scope name of Weft's spans (`weft`), and the span attribute names it sets (`weft.*`). */
export { TRACER_NAME } from './telemetry/tracing.js';
export { WEFT as WEFT_SPAN_ATTRIBUTES } from './telemetry/attrs.js';
