// Decodes the Envoy local_ratelimit HTTP filter config (LocalRateLimit), as an HCM filter or a per-route override.
import type { TokenBucketSpec } from '../../inbound-policy.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, bool, durationMs, isError, list, num, obj, str, wrapped } from './common.js';

/** Parts per million of each FractionalPercent denominator. */
const PER_MILLION: Readonly<Record<string, number>> = { HUNDRED: 10_000, TEN_THOUSAND: 100, MILLION: 1 };

/**
 * Validates a LocalRateLimit (`'@type'` LocalRateLimit) into its token bucket, or null when the filter is not
 * enabled (Envoy: `filter_enabled` unset or 0 %), or every problem. Never throws. Refused, because Weft would not
 * enforce them as Envoy does: an enabled or enforced share other than 0 % and 100 %, `filter_enforced` differing
 * from `filter_enabled` (shadow mode), `descriptors`, `local_rate_limit_per_downstream_connection`, an enabled filter
 * without `token_bucket`, and a bucket with `max_tokens` 0 or `fill_interval` 0. Ignored: `status` (Weft always
 * answers 429 / RESOURCE_EXHAUSTED), response headers, `stage`, `enable_x_ratelimit_headers`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/local_ratelimit/v3/local_rate_limit.proto
 */
export function decodeLocalRateLimit(config: ProtoObject, field: string): TokenBucketSpec | null | { errors: string[] } {
  const errors: string[] = [];
  const type = anyTypeUrl(config);
  if (type !== TYPE_URL.localRateLimit) return { errors: [`${field}: type '${type}' is not a LocalRateLimit`] };
  if (list(config, 'descriptors').length > 0) errors.push(`${field}.descriptors: not supported`);
  if (bool(config, 'local_rate_limit_per_downstream_connection')) errors.push(`${field}.local_rate_limit_per_downstream_connection: not supported`);
  const enabled = share(obj(config, 'filter_enabled'), `${field}.filter_enabled`, errors);
  const enforced = share(obj(config, 'filter_enforced'), `${field}.filter_enforced`, errors);
  if (enabled !== undefined && enforced !== undefined && enabled !== enforced) {
    errors.push(`${field}.filter_enforced: must equal filter_enabled (Weft does not run limits in shadow mode)`);
  }
  if (errors.length > 0) return { errors };
  if (!enabled) return null;
  const bucket = obj(config, 'token_bucket');
  if (bucket === undefined) return { errors: [`${field}.token_bucket: required when the filter is enabled`] };
  const maxTokens = num(bucket, 'max_tokens');
  const tokensPerFill = wrapped<number>(bucket, 'tokens_per_fill') ?? 1;
  const fill = durationMs(bucket, 'fill_interval');
  if (!(maxTokens >= 1)) errors.push(`${field}.token_bucket.max_tokens: must be at least 1`);
  if (!(tokensPerFill >= 1)) errors.push(`${field}.token_bucket.tokens_per_fill: must be at least 1`);
  if (isError(fill)) errors.push(`${field}.token_bucket.${fill.error}`);
  else if (fill === undefined || fill <= 0) errors.push(`${field}.token_bucket.fill_interval: must be more than 0`);
  if (errors.length > 0 || isError(fill) || fill === undefined) return { errors };
  return Object.freeze({ maxTokens, tokensPerFill, fillIntervalMs: fill });
}

/**
 * A per-route `typed_per_filter_config` entry for a local_ratelimit filter: a LocalRateLimit, or a FilterConfig
 * wrapping one (`disabled: true` turns the limit off on the route). Returns the bucket, null (off), or problems.
 */
export function decodeLocalRateLimitOverride(config: ProtoObject, field: string): TokenBucketSpec | null | { errors: string[] } {
  if (anyTypeUrl(config) === TYPE_URL.filterConfig) {
    if (bool(config, 'disabled')) return null;
    const inner = obj(config, 'config');
    if (inner === undefined) return { errors: [`${field}.config: not set`] };
    return decodeLocalRateLimit(inner, `${field}.config`);
  }
  return decodeLocalRateLimit(config, field);
}

/** true for 100 %, false for 0 % or unset, undefined (with an error) otherwise. */
function share(p: ProtoObject | undefined, field: string, errors: string[]): boolean | undefined {
  const value = obj(p, 'default_value');
  if (value === undefined) return false;
  const factor = PER_MILLION[str(value, 'denominator') || 'HUNDRED'];
  if (factor === undefined) {
    errors.push(`${field}.default_value.denominator: '${str(value, 'denominator')}' is not supported`);
    return undefined;
  }
  const perMillion = num(value, 'numerator') * factor;
  if (perMillion <= 0) return false;
  if (perMillion >= 1_000_000) return true;
  errors.push(`${field}: only 0 % or 100 % are supported (got ${perMillion / 10_000} %)`);
  return undefined;
}
