// Decodes an Envoy RouteAction.retry_policy (plus Weft's route metadata opt-in) into a validated RetryPolicy.
import { RETRY_CONDITIONS, type RetryCondition } from '../../../core/classify.js';
import type { RetryPolicy } from '../../mesh-state.js';
import type { ProtoObject } from '../protos.js';
import { durationMs, isError, obj, str, wrapped } from './common.js';

/** Envoy's default backoff base (retry_back_off.base_interval), ms. */
export const DEFAULT_RETRY_BASE_INTERVAL_MS = 25;
/** Envoy's default backoff cap is 10 × the base. */
export const DEFAULT_RETRY_MAX_INTERVAL_FACTOR = 10;
/** The `filter_metadata` key of Weft's route metadata, and the field that opts a route into retrying any method. */
export const WEFT_METADATA_KEY = 'weft';
/** Route.metadata.filter_metadata['weft'].retryNonIdempotent: true lets POST/PATCH/CONNECT be retried. */
export const RETRY_NON_IDEMPOTENT_FIELD = 'retryNonIdempotent';

/**
 * Decodes `route.retry_policy` (Envoy RouteAction.RetryPolicy) and the route's metadata. Returns undefined when the
 * route has no retry policy. Never throws; problems go to `errors` (the route is then refused, NACK).
 * Read: retry_on (comma list; unknown conditions are dropped, as grpc-js-xds does), num_retries (default 1),
 * per_try_timeout, retriable_status_codes (100..599), retry_back_off {base_interval (> 0, default 25 ms),
 * max_interval (≥ base, default 10 × base)}.
 * Ignored with no effect (Weft has its own equivalents or none): retry_host_predicate (Weft always prefers another
 * endpoint on retry), host_selection_retry_max_attempts, retry_priority, rate_limited_retry_back_off (Weft reads
 * Retry-After itself), retriable_headers, retriable_request_headers (Weft's idempotency rule applies instead),
 * per_try_idle_timeout, retry_options_predicates.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#envoy-v3-api-msg-config-route-v3-retrypolicy
 */
export function decodeRetryPolicy(route: ProtoObject, action: ProtoObject, field: string, errors: string[]): RetryPolicy | undefined {
  const rp = obj(action, 'retry_policy');
  if (rp === undefined) return undefined;
  const before = errors.length;
  const conditions: RetryCondition[] = [];
  for (const raw of str(rp, 'retry_on').split(',')) {
    const c = raw.trim();
    if (c === '') continue;
    // Unknown conditions are dropped, as grpc-js-xds does, so another control plane's policy still applies in part.
    if (RETRY_CONDITIONS.has(c) && !conditions.includes(c as RetryCondition)) conditions.push(c as RetryCondition);
  }
  const numRetries = wrapped<number>(rp, 'num_retries') ?? 1;
  if (!Number.isInteger(numRetries) || numRetries < 0 || numRetries > 100) {
    errors.push(`${field}.retry_policy.num_retries: must be 0..100 (got ${numRetries})`);
  }
  const codes: number[] = [];
  const rawCodes = rp['retriable_status_codes'];
  for (const code of Array.isArray(rawCodes) ? rawCodes : []) {
    const n = Number(code);
    if (!Number.isInteger(n) || n < 100 || n > 599) errors.push(`${field}.retry_policy.retriable_status_codes: ${String(code)} is not an HTTP status`);
    else if (!codes.includes(n)) codes.push(n);
  }
  const perTry = durationMs(rp, 'per_try_timeout');
  if (isError(perTry)) errors.push(`${field}.retry_policy.${perTry.error}`);
  const backoff = obj(rp, 'retry_back_off');
  const base = durationMs(backoff, 'base_interval');
  const max = durationMs(backoff, 'max_interval');
  if (isError(base)) errors.push(`${field}.retry_policy.retry_back_off.${base.error}`);
  if (isError(max)) errors.push(`${field}.retry_policy.retry_back_off.${max.error}`);
  if (backoff !== undefined && base === 0) errors.push(`${field}.retry_policy.retry_back_off.base_interval: must be greater than 0`);
  if (errors.length > before || isError(perTry) || isError(base) || isError(max)) return undefined;
  const baseIntervalMs = base ?? DEFAULT_RETRY_BASE_INTERVAL_MS;
  const maxIntervalMs = max ?? baseIntervalMs * DEFAULT_RETRY_MAX_INTERVAL_FACTOR;
  if (maxIntervalMs < baseIntervalMs) {
    errors.push(`${field}.retry_policy.retry_back_off.max_interval: must be at least base_interval (${baseIntervalMs} ms)`);
    return undefined;
  }
  return Object.freeze({
    conditions: Object.freeze(conditions),
    retriableStatusCodes: Object.freeze(codes),
    numRetries,
    perTryTimeoutMs: perTry === 0 ? undefined : perTry,
    baseIntervalMs,
    maxIntervalMs,
    retryNonIdempotent: weftMetadataBool(route, RETRY_NON_IDEMPOTENT_FIELD),
  });
}

/** Reads a bool from Route.metadata.filter_metadata['weft'] (a google.protobuf.Struct); false when absent. */
export function weftMetadataBool(route: ProtoObject, key: string): boolean {
  const struct = obj(obj(obj(route, 'metadata'), 'filter_metadata'), WEFT_METADATA_KEY);
  const value = obj(obj(struct, 'fields'), key);
  // protobufjs' built-in google.protobuf.Value uses camelCase field names even with keepCase (its common types).
  return value?.['boolValue'] === true || value?.['stringValue'] === 'true' || value?.['bool_value'] === true;
}

