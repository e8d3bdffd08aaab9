// The one table that turns a Weft failure into a gRPC status at the edge of the gRPC client: every refusal the
// resolver, ConfigSelector or picker makes is a MeshError first (the same error, message and code an HTTP call gets),
// and reaches the caller as `{ code, details: "<WEFT_ERR_*>: <message>" }`.
import { GRPC_STATUS } from '../../core/classify.js';
import { ERROR_CODES, type ErrorCode, type MeshError } from '../../core/errors.js';

/** The gRPC status code for each Weft error code (docs/errors.md, "gRPC"). */
export const GRPC_STATUS_FOR_ERROR: Readonly<Record<ErrorCode, number>> = Object.freeze({
  [ERROR_CODES.INVALID_ARG]: GRPC_STATUS.INTERNAL,
  // Gateway API GRPCRoute: a call no rule matches is UNIMPLEMENTED.
  [ERROR_CODES.NO_ROUTE]: GRPC_STATUS.UNIMPLEMENTED,
  [ERROR_CODES.NO_ENDPOINTS]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.CONFIG_TIMEOUT]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.CONFIG_REJECTED]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.INVALID_CONFIG]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.QUEUE_FULL]: GRPC_STATUS.RESOURCE_EXHAUSTED,
  [ERROR_CODES.READY_TIMEOUT]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.TIMEOUT]: GRPC_STATUS.DEADLINE_EXCEEDED,
  [ERROR_CODES.CLOSED]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.LISTEN]: GRPC_STATUS.UNAVAILABLE,
  // Envoy answers a circuit-breaker overflow 503, which gRPC maps to UNAVAILABLE.
  [ERROR_CODES.OVERLOADED]: GRPC_STATUS.UNAVAILABLE,
  // Not NOT_FOUND: gRFC A54 forbids control-plane-derived NOT_FOUND (grpc-js turns it into INTERNAL).
  [ERROR_CODES.UNKNOWN_SERVICE]: GRPC_STATUS.UNAVAILABLE,
  // Inbound policy (a Weft server's answers): a bad or missing credential, a denial, a rate limit.
  [ERROR_CODES.UNAUTHENTICATED]: GRPC_STATUS.UNAUTHENTICATED,
  [ERROR_CODES.PERMISSION_DENIED]: GRPC_STATUS.PERMISSION_DENIED,
  [ERROR_CODES.RATE_LIMITED]: GRPC_STATUS.RESOURCE_EXHAUSTED,
  // No usable workload certificate (not enrolled yet, expired, or the peer's identity is not the expected one).
  [ERROR_CODES.IDENTITY]: GRPC_STATUS.UNAVAILABLE,
  // The control plane's etcd store did not answer (start-up only; never on a call, kept total for the table).
  [ERROR_CODES.STORE_UNAVAILABLE]: GRPC_STATUS.UNAVAILABLE,
  [ERROR_CODES.INTERNAL]: GRPC_STATUS.INTERNAL,
});

/** The gRPC status of `error`: the table's code, and details that start with the Weft code so logs can be grepped. */
export function grpcStatusOf(error: MeshError): { readonly code: number; readonly details: string } {
  return { code: GRPC_STATUS_FOR_ERROR[error.code] ?? GRPC_STATUS.UNKNOWN, details: `${error.code}: ${error.message}` };
}
