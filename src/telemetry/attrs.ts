// Span attribute names: the stable OpenTelemetry semantic conventions Weft uses, and its own `weft.*` decisions.
export {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SYSTEM_NAME,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';

/** The older RPC attribute names, still what most backends and instrumentation-grpc use (semconv ≤1.37). */
export const ATTR_RPC_SYSTEM = 'rpc.system';
/** `package.Service` (semconv ≤1.37). */
export const ATTR_RPC_SERVICE = 'rpc.service';
/** Numeric gRPC status (semconv ≤1.37). */
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';

/** Mesh decisions recorded on spans. */
export const WEFT = Object.freeze({
  /** `call` (the logical call, INTERNAL) or `attempt` (one try, CLIENT). */
  span: 'weft.span',
  route: 'weft.route',
  cluster: 'weft.cluster',
  /** `ip:port` picked for an attempt. */
  endpoint: 'weft.endpoint',
  /** 1 for the first attempt. */
  attempt: 'weft.attempt',
  /** Attempts a call made. */
  attempts: 'weft.attempts',
  /** Why this attempt was sent: the previous attempt's status (`503`, `UNAVAILABLE`) or failure (`connect-failure`). */
  retryReason: 'weft.retry.reason',
  /** The endpoint was ejected by outlier detection after this attempt. */
  outlierEjected: 'weft.outlier.ejected',
  /** The fault filter answered or delayed the call. */
  faultInjected: 'weft.fault.injected',
  /** The mesh's error code (WEFT_ERR_OVERLOADED...) of a call the mesh failed. */
  errorCode: 'weft.error.code',
  /** Why (`max_requests`, `retry_budget`, `concurrency_limit`...). */
  errorReason: 'weft.error.reason',
  /** Inbound refusal: reason code (`rbac_denied`, `jwt_missing`, `rate_limited`...). */
  deniedReason: 'weft.denied.reason',
  /** Inbound refusal: the AuthorizationPolicy or limit that decided, and the detail. */
  deniedPolicy: 'weft.denied.policy',
  deniedDetail: 'weft.denied.detail',
  /** The caller's verified SPIFFE ID (inbound). */
  peer: 'weft.peer.identity',
});

/** gRPC status names by code (for rpc.status_code and retry reasons). */
export const GRPC_STATUS_NAMES: readonly string[] = Object.freeze([
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
]);
