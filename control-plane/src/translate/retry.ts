// Translates HTTPRoute retries (GEP-1731), per-try timeouts and the non-idempotent opt-in into Envoy
// RouteAction.retry_policy and Route metadata (docs/xds-mapping.md "Retries").
import type { ProtoObject } from '../../../src/discovery/xds/protos.js';
import { parseGatewayDurationMs } from '../config/duration.js';
import type { GRPCRouteRule } from '../config/grpc-route-schema.js';
import type { HTTPRouteRule } from '../config/http-route-schema.js';
import type { RouteResource } from '../config/mesh-config.js';
import { DEFAULT_RETRY_ATTEMPTS, nonIdempotentRules, RETRY_NON_IDEMPOTENT_ANNOTATION } from '../config/retry-schema.js';
import { durationFromMs } from './names.js';

/** Retried on every retry policy (GEP-1731: connection errors SHOULD be retried when a retry stanza is set). */
const CONNECTION_CONDITIONS = 'connect-failure,refused-stream,reset';
/** Envoy's backoff cap is 10 × the base. */
const MAX_INTERVAL_FACTOR = 10;
/** For Envoy and other xDS clients: retry only idempotent methods unless the rule opted in (Weft's SDK applies the same rule itself). */
const IDEMPOTENT_METHOD_MATCHER: ProtoObject = Object.freeze({
  name: ':method',
  string_match: { safe_regex: { regex: 'GET|HEAD|OPTIONS|PUT|DELETE|TRACE' } },
});

/** Indices of the rules of `route` that opted into retrying non-idempotent methods (validated config: never an error). */
export function nonIdempotentRuleSet(route: RouteResource): ReadonlySet<number> {
  if (route.kind !== 'HTTPRoute') return new Set();
  const set = nonIdempotentRules(route.metadata.annotations?.[RETRY_NON_IDEMPOTENT_ANNOTATION], route.spec.rules.length);
  return 'error' in set ? new Set() : set;
}

/**
 * Envoy RetryPolicy for an HTTPRoute rule, or undefined when it has neither `retry` nor `timeouts.backendRequest`:
 * - `retry`: retry_on `connect-failure,refused-stream,reset` (+ `retriable-status-codes` with `codes`),
 *   num_retries = attempts (default 1), retry_back_off.base_interval = backoff (max 10 ×);
 * - `timeouts.backendRequest` (> 0): per_try_timeout; alone, it comes with the safe default's conditions
 *   (`connect-failure,refused-stream`, one retry), so a per-try timeout never adds unsafe retries;
 * - unless `optIn`, retriable_request_headers restricts Envoy to idempotent methods.
 */
export function retryPolicyFor(rule: HTTPRouteRule, optIn: boolean): ProtoObject | undefined {
  const perTryMs = rule.timeouts?.backendRequest === undefined ? 0 : (parseGatewayDurationMs(rule.timeouts.backendRequest) ?? 0);
  const retry = rule.retry;
  if (retry === undefined && perTryMs === 0) return undefined;
  const policy: ProtoObject = {};
  if (retry !== undefined) {
    policy['retry_on'] = retry.codes.length > 0 ? `${CONNECTION_CONDITIONS},retriable-status-codes` : CONNECTION_CONDITIONS;
    if (retry.codes.length > 0) policy['retriable_status_codes'] = [...retry.codes];
    policy['num_retries'] = { value: retry.attempts ?? DEFAULT_RETRY_ATTEMPTS };
    const baseMs = retry.backoff === undefined ? undefined : parseGatewayDurationMs(retry.backoff);
    if (baseMs !== undefined && baseMs > 0) {
      policy['retry_back_off'] = { base_interval: durationFromMs(baseMs), max_interval: durationFromMs(baseMs * MAX_INTERVAL_FACTOR) };
    }
  } else {
    policy['retry_on'] = 'connect-failure,refused-stream';
    policy['num_retries'] = { value: 1 };
  }
  if (perTryMs > 0) policy['per_try_timeout'] = durationFromMs(perTryMs);
  if (!optIn) policy['retriable_request_headers'] = [IDEMPOTENT_METHOD_MATCHER];
  return policy;
}

/**
 * Envoy RetryPolicy for a GRPCRoute rule's `retry`, or undefined without one: retry_on the codes' Envoy gRPC names
 * (`unavailable`, `resource-exhausted`, ...), num_retries = attempts (default 1), backoff as for HTTPRoute. No method
 * restriction: a gRPC call is retried only when its status says so, and clients that follow gRFC A6 never retry a
 * call once the server has sent response headers.
 */
export function grpcRetryPolicyFor(rule: GRPCRouteRule): ProtoObject | undefined {
  const retry = rule.retry;
  if (retry === undefined) return undefined;
  const policy: ProtoObject = {
    retry_on: retry.codes.map((c) => c.toLowerCase().replace(/_/g, '-')).join(','),
    num_retries: { value: retry.attempts ?? DEFAULT_RETRY_ATTEMPTS },
  };
  const baseMs = retry.backoff === undefined ? undefined : parseGatewayDurationMs(retry.backoff);
  if (baseMs !== undefined && baseMs > 0) {
    policy['retry_back_off'] = { base_interval: durationFromMs(baseMs), max_interval: durationFromMs(baseMs * MAX_INTERVAL_FACTOR) };
  }
  return policy;
}
