// Classifies one attempt's outcome (a response or an error) as success, retryable or failure: the one rule per route
// that retries, circuit breakers, outlier detection and metrics all read (STYLE §1 "classify, then act").
// No undici or grpc-js here: transports describe what happened as an `AttemptOutcome` and ask.

/** What the retry layer (and every other reader) should make of an attempt. */
export type Outcome = 'success' | 'retryable' | 'failure';

/** Whether the request may have reached the server's application. `no` is a proof; `maybe` is everything else. */
export type Reached = 'no' | 'maybe';

/** How an attempt failed without a response (the transport maps its own errors onto these). */
export type ErrorKind =
  /** Connection refused, connect timeout, host/network unreachable: nothing was sent. */
  | 'connect-failure'
  /** HTTP/2 REFUSED_STREAM, or GOAWAY naming a stream the server never processed: nothing was handled. */
  | 'refused-stream'
  /** The connection was reset or closed while the request was in flight (the server may have handled it). */
  | 'reset'
  /** A per-try timeout fired (the server may have handled it). */
  | 'timeout'
  /** Anything else (local errors, aborts, protocol errors): never retried. */
  | 'other';

/** The facts about one attempt, as the transport saw them. */
export type AttemptOutcome =
  | {
      readonly kind: 'response';
      /** HTTP status. */
      readonly status: number;
      /** gRPC status code from `grpc-status` (headers of a trailers-only response, or trailers), when known. */
      readonly grpcStatus?: number;
    }
  | {
      readonly kind: 'error';
      readonly error: ErrorKind;
      /** True when the request provably never reached a server (no connection was assigned to it). */
      readonly neverSent: boolean;
    };

/** gRPC status codes by name (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GRPC_STATUS = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  INTERNAL: 13,
  RESOURCE_EXHAUSTED: 8,
  PERMISSION_DENIED: 7,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/**
 * Retry conditions, as Envoy's `retry_on` names them (x-envoy-retry-on / x-envoy-retry-grpc-on). `5xx` includes
 * `connect-failure`, `reset` and `refused-stream`, as in Envoy.
 * https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/router_filter#x-envoy-retry-on
 */
export type RetryCondition =
  | '5xx'
  | 'gateway-error'
  | 'reset'
  | 'connect-failure'
  | 'refused-stream'
  | 'retriable-status-codes'
  | 'retriable-4xx'
  | 'cancelled'
  | 'deadline-exceeded'
  | 'internal'
  | 'resource-exhausted'
  | 'unavailable';

/** Every RetryCondition Weft understands. */
export const RETRY_CONDITIONS: ReadonlySet<string> = new Set<RetryCondition>([
  '5xx',
  'gateway-error',
  'reset',
  'connect-failure',
  'refused-stream',
  'retriable-status-codes',
  'retriable-4xx',
  'cancelled',
  'deadline-exceeded',
  'internal',
  'resource-exhausted',
  'unavailable',
]);

/** What a classifier is compiled from: the route's retry conditions and status codes (none = the safe default). */
export interface ClassifierSpec {
  readonly conditions: readonly RetryCondition[];
  /** Status codes retried under `retriable-status-codes`. */
  readonly retriableStatusCodes: readonly number[];
}

/** A compiled per-route classifier. Pure and allocation-free; never throws. */
export interface Classifier {
  /** Classifies one attempt. */
  classify(outcome: AttemptOutcome): Outcome;
  /** Whether a request that ended this way may have reached the server's application. */
  reached(outcome: AttemptOutcome): Reached;
}

/** True for 502, 503 and 504: the status a proxy or gateway answers when the upstream failed (Envoy `gateway-error`). */
export function isGatewayError(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** True when the outcome is a failure to connect, or a refused stream: nothing reached the server. */
export function isConnectFailure(outcome: AttemptOutcome): boolean {
  return outcome.kind === 'error' && (outcome.error === 'connect-failure' || outcome.error === 'refused-stream' || outcome.neverSent);
}

/** Whether the request may have reached the server's application (`no` only with proof). */
export function reachedServer(outcome: AttemptOutcome): Reached {
  return isConnectFailure(outcome) ? 'no' : 'maybe';
}

/**
 * The default outcome without any retry policy: 5xx responses, gRPC errors and transport errors are failures (for
 * breakers, outlier detection and metrics), and only a request that provably never reached the server is retryable
 * (the safe default of issue 3; see istio#50506 for why 503 and resets are not).
 */
export function classifyOutcome(outcome: AttemptOutcome): Outcome {
  if (outcome.kind === 'error') return isConnectFailure(outcome) ? 'retryable' : 'failure';
  if (outcome.status >= 500) return 'failure';
  if (outcome.grpcStatus !== undefined && outcome.grpcStatus !== GRPC_STATUS.OK) return 'failure';
  return 'success';
}

const SAFE_DEFAULT: Classifier = Object.freeze({ classify: classifyOutcome, reached: reachedServer });

/**
 * Compiles a classifier from a route's retry conditions (Envoy semantics): a response is `retryable` when a condition
 * names it (`5xx`: status ≥ 500; `gateway-error`: 502/503/504; `retriable-4xx`: 409; `retriable-status-codes`: the
 * listed codes; gRPC names: that grpc-status), a `failure` when it is otherwise a 5xx or a gRPC error, else a
 * `success`. Errors: `connect-failure`/`refused-stream`/never-sent are always retryable (the safe default holds under
 * every policy); `reset` and `timeout` (per-try) are retryable under `reset`, `5xx` or `gateway-error`.
 * With no conditions it is the safe default (classifyOutcome). Never throws.
 */
export function compileClassifier(spec: ClassifierSpec | undefined): Classifier {
  if (spec === undefined || spec.conditions.length === 0) return SAFE_DEFAULT;
  const has = new Set<string>(spec.conditions);
  const all5xx = has.has('5xx');
  const gateway = all5xx || has.has('gateway-error');
  const codes = has.has('retriable-status-codes') ? new Set(spec.retriableStatusCodes) : new Set<number>();
  if (has.has('retriable-4xx')) codes.add(409);
  const resets = all5xx || gateway || has.has('reset');
  const grpcCodes = new Set<number>();
  if (has.has('cancelled')) grpcCodes.add(GRPC_STATUS.CANCELLED);
  if (has.has('deadline-exceeded')) grpcCodes.add(GRPC_STATUS.DEADLINE_EXCEEDED);
  if (has.has('internal')) grpcCodes.add(GRPC_STATUS.INTERNAL);
  if (has.has('resource-exhausted')) grpcCodes.add(GRPC_STATUS.RESOURCE_EXHAUSTED);
  if (has.has('unavailable')) grpcCodes.add(GRPC_STATUS.UNAVAILABLE);
  const classify = (outcome: AttemptOutcome): Outcome => {
    if (outcome.kind === 'error') {
      if (isConnectFailure(outcome)) return 'retryable';
      return resets && (outcome.error === 'reset' || outcome.error === 'timeout') ? 'retryable' : 'failure';
    }
    const { status, grpcStatus } = outcome;
    if (grpcStatus !== undefined && grpcStatus !== GRPC_STATUS.OK) return grpcCodes.has(grpcStatus) ? 'retryable' : 'failure';
    if (codes.has(status)) return 'retryable';
    if (status >= 500) return all5xx || (gateway && isGatewayError(status)) ? 'retryable' : 'failure';
    return 'success';
  };
  return Object.freeze({ classify, reached: reachedServer });
}
