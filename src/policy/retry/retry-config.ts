// Compiles a route's RetryPolicy (or its absence: the safe default) into the values the retry layer reads per request.
import { compileClassifier, type Classifier } from '../../core/classify.js';
import type { RetryPolicy } from '../../discovery/mesh-state.js';

/** Default cap on a request body buffered so it can be sent again (Linkerd: 64 KiB); larger bodies are not retried. */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;
/** Envoy's default backoff base, ms. */
export const DEFAULT_BASE_INTERVAL_MS = 25;
/** Header carrying the 1-based attempt number to the server. */
export const ATTEMPT_HEADER = 'x-weft-attempt';
/** Longest Retry-After honoured when the route has no timeout, ms (Linkerd caps it at 300 s; Weft at 30 s). */
export const MAX_RETRY_AFTER_MS = 30_000;

/** Methods retried without an opt-in (RFC 9110 §9.2.2 idempotent methods). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** What the retry layer reads for one route. Immutable. */
export interface CompiledRetry {
  /** False for the safe default (no policy): only never-sent failures are retried, once. */
  readonly configured: boolean;
  readonly classifier: Classifier;
  /** 1 + num_retries (the safe default: 2). */
  readonly maxAttempts: number;
  readonly perTryTimeoutMs: number | undefined;
  readonly baseIntervalMs: number;
  readonly maxIntervalMs: number;
  readonly retryNonIdempotent: boolean;
  /** Bodies larger than this are sent once, unbuffered, and never retried. */
  readonly maxRequestBytes: number;
  /** True when the conditions name a gRPC status (the layer then reads grpc-status). */
  readonly readsGrpcStatus: boolean;
  /** True when a response status may be retried at all (so Retry-After is worth reading). */
  readonly retriesResponses: boolean;
}

/** Options that are not in xDS. */
export interface RetryOptions {
  /** See CompiledRetry.maxRequestBytes; default 64 KiB. */
  readonly maxRequestBytes?: number;
}

const GRPC_CONDITIONS = new Set(['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable']);

/** Compiles `policy` (undefined = the safe default). Pure; never throws. */
export function compileRetry(policy: RetryPolicy | undefined, options: RetryOptions = {}): CompiledRetry {
  const maxRequestBytes = options.maxRequestBytes ?? DEFAULT_MAX_REQUEST_BYTES;
  if (policy === undefined) {
    return Object.freeze({
      configured: false,
      classifier: compileClassifier(undefined),
      maxAttempts: 2,
      perTryTimeoutMs: undefined,
      baseIntervalMs: DEFAULT_BASE_INTERVAL_MS,
      maxIntervalMs: DEFAULT_BASE_INTERVAL_MS * 10,
      retryNonIdempotent: true, // nothing was sent, so any method is safe to send again
      maxRequestBytes,
      readsGrpcStatus: false,
      retriesResponses: false,
    });
  }
  const conditions = policy.conditions;
  return Object.freeze({
    configured: true,
    classifier: compileClassifier({ conditions, retriableStatusCodes: policy.retriableStatusCodes }),
    maxAttempts: 1 + policy.numRetries,
    perTryTimeoutMs: policy.perTryTimeoutMs,
    baseIntervalMs: policy.baseIntervalMs,
    maxIntervalMs: policy.maxIntervalMs,
    retryNonIdempotent: policy.retryNonIdempotent,
    maxRequestBytes,
    readsGrpcStatus: conditions.some((c) => GRPC_CONDITIONS.has(c)),
    retriesResponses: conditions.some((c) => c !== 'reset' && c !== 'connect-failure' && c !== 'refused-stream'),
  });
}

/** True when a request with `method` may be retried under `retry` after it may have reached the server. */
export function methodRetryable(retry: CompiledRetry, method: string): boolean {
  return retry.retryNonIdempotent || IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/**
 * Exponential backoff with full jitter (Envoy): before retry `n` (1-based) wait a uniform random time in
 * [0, min(max, base × 2^(n-1))). `random` returns [0, 1).
 */
export function backoffMs(retry: CompiledRetry, retryNumber: number, random: () => number): number {
  const ceiling = Math.min(retry.maxIntervalMs, retry.baseIntervalMs * 2 ** Math.min(30, retryNumber - 1));
  return Math.floor(random() * ceiling);
}

/**
 * Parses a Retry-After value (delta seconds, or an HTTP date) into ms from `nowEpochMs`; undefined when absent or
 * unparsable; 0 for a date in the past. Never throws.
 */
export function parseRetryAfterMs(value: string | undefined, nowEpochMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowEpochMs);
}
