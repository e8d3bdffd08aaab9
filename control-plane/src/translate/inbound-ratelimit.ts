// Translates a LocalRateLimit into the inbound HCM's local_ratelimit filter (the default bucket) and inbound routes
// carrying per-route buckets in typed_per_filter_config (wrapped in an optional FilterConfig, so gRPC servers that
// do not know the filter still accept the routes).
import { parseGatewayDurationMs } from '../config/duration.js';
import type { TokenBucketConfig } from '../config/local-rate-limit-schema.js';
import type { LocalRateLimitResource } from '../config/mesh-config.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { durationFromMs } from './names.js';

/** HCM name of the local rate limit filter (per-route configs are keyed by it). */
export const LOCAL_RATELIMIT_FILTER = 'envoy.filters.http.local_ratelimit';
/** Stat prefix of Weft's inbound rate limits. */
export const RATELIMIT_STAT_PREFIX = 'weft_inbound_rate_limit';

/** A local rate limit route name: `LocalRateLimit/<name>/routes/<i>` (both Envoy routes of a PathPrefix share it). */
export function rateLimitRouteName(resource: string, index: number): string {
  return `LocalRateLimit/${resource}/routes/${index}`;
}

const ALWAYS = (key: string): ProtoObject => ({ default_value: { numerator: 100, denominator: 'HUNDRED' }, runtime_key: key });

function limitConfig(bucket: TokenBucketConfig | undefined): ProtoObject {
  if (bucket === undefined) return { '@type': TYPE_URL.localRateLimit, stat_prefix: RATELIMIT_STAT_PREFIX };
  return {
    '@type': TYPE_URL.localRateLimit,
    stat_prefix: RATELIMIT_STAT_PREFIX,
    token_bucket: { max_tokens: bucket.maxTokens, tokens_per_fill: { value: bucket.tokensPerFill }, fill_interval: durationFromMs(parseGatewayDurationMs(bucket.fillInterval)!) },
    filter_enabled: ALWAYS('weft_inbound_rate_limit_enabled'),
    filter_enforced: ALWAYS('weft_inbound_rate_limit_enforced'),
  };
}

/** The HCM filter entry for `limit` (disabled at this level when it has no default bucket). */
export function rateLimitHttpFilter(limit: LocalRateLimitResource): ProtoObject {
  return { name: LOCAL_RATELIMIT_FILTER, is_optional: true, typed_config: limitConfig(limit.spec.tokenBucket) };
}

/**
 * The inbound routes of `limit`'s per-route buckets, in spec order, each `non_forwarding_action` with its bucket; a
 * PathPrefix other than `/` becomes two routes (exact, then `<prefix>/`) with the same name, so they share one bucket.
 */
export function rateLimitRoutes(limit: LocalRateLimitResource): ProtoObject[] {
  const out: ProtoObject[] = [];
  limit.spec.routes.forEach((r, i) => {
    const name = rateLimitRouteName(limit.metadata.name, i);
    const headers = r.match.method === undefined ? [] : [{ name: ':method', string_match: { exact: r.match.method } }];
    const perFilter = { [LOCAL_RATELIMIT_FILTER]: { '@type': TYPE_URL.filterConfig, is_optional: true, config: limitConfig(r.tokenBucket) } };
    const value = r.match.path.value;
    const base = value.replace(/\/+$/, ''); // PathPrefix ignores a trailing '/', as HTTPRoute does
    const matches = r.match.path.type === 'Exact' ? [{ path: value }] : base === '' ? [{ prefix: '/' }] : [{ path: base }, { prefix: `${base}/` }];
    for (const m of matches) out.push({ name, match: { ...m, ...(headers.length > 0 && { headers }) }, non_forwarding_action: {}, typed_per_filter_config: perFilter });
  });
  return out;
}
