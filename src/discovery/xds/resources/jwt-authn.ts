// Decodes the Envoy jwt_authn HTTP filter config (JwtAuthentication) into a JwtAuthnFilter: providers and rules.
import type { JwksSource, JwtAuthnFilter, JwtHeaderSource, JwtProvider, JwtRequirement, JwtRule } from '../../inbound-policy.js';
import { isSymmetricJwk } from '../../jwk-kinds.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, bool, durationMs, isError, list, num, obj, str, strings } from './common.js';
import { decodePath } from './route-configuration.js';

/** JWKS fetch timeout when the provider's `http_uri.timeout` is unset (ms). */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
/** How long fetched keys are used before they are fetched again (Envoy `cache_duration` default: 600 s). */
export const DEFAULT_JWKS_CACHE_MS = 600_000;
/** Envoy's `clock_skew_seconds` default. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 60;

const DEFAULT_FROM_HEADERS: readonly JwtHeaderSource[] = Object.freeze([Object.freeze({ name: 'authorization', valuePrefix: 'Bearer ' })]);
const MAX_DEPTH = 8;

/**
 * Validates a JwtAuthentication (`'@type'` JwtAuthentication) named `name`, or returns every problem. Never throws.
 * Refused, because Weft would not enforce them as Envoy does: `requirement_map` and per-route requirements,
 * `filter_state_rules`, `provider_and_audiences`, `from_params`, `from_cookies`, JWKS from a file or environment
 * variable, `subjects`, rules whose match has headers or query parameters, and a requirement naming an unknown
 * provider. Ignored (outputs Weft does not produce): `forward_payload_header`, `claim_to_headers`, `header_in_metadata`,
 * `jwt_cache_config`, `bypass_cors_preflight`, `remote_jwks.async_fetch` and `retry_policy`.
 * https://www.envoyproxy.io/docs/envoy/latest/api-v3/extensions/filters/http/jwt_authn/v3/config.proto
 */
export function decodeJwtAuthn(config: ProtoObject, name: string, field: string): JwtAuthnFilter | { errors: string[] } {
  const errors: string[] = [];
  const type = anyTypeUrl(config);
  if (type !== TYPE_URL.jwtAuthn) return { errors: [`${field}: type '${type}' is not a JwtAuthentication`] };
  if (Object.keys(obj(config, 'requirement_map') ?? {}).length > 0) errors.push(`${field}.requirement_map: not supported (use rules)`);
  if (obj(config, 'filter_state_rules') !== undefined) errors.push(`${field}.filter_state_rules: not supported`);
  const providers = new Map<string, JwtProvider>();
  const map = obj(config, 'providers') ?? {};
  for (const key of Object.keys(map).sort()) {
    const p = decodeProvider(obj(map, key) ?? {}, key, `${field}.providers['${key}']`, errors);
    if (p !== undefined) providers.set(key, p);
  }
  const rules: JwtRule[] = [];
  list(config, 'rules').forEach((r, i) => {
    const at = `${field}.rules[${i}]`;
    const match = obj(r, 'match');
    if (match === undefined) {
      errors.push(`${at}.match: not set`);
      return;
    }
    if (list(match, 'headers').length > 0 || list(match, 'query_parameters').length > 0) {
      errors.push(`${at}.match: headers and query_parameters are not supported in jwt_authn rules`);
    }
    const path = decodePath(match, `${at}.match`, errors);
    let requires: JwtRequirement | undefined;
    const spec = str(r, 'requirement_type');
    if (spec === 'requires') requires = requirement(obj(r, 'requires') ?? {}, `${at}.requires`, providers, errors, 0);
    else if (spec !== '') errors.push(`${at}.${spec}: not supported (use requires)`);
    if (path !== undefined) rules.push(Object.freeze({ match: path, requires }));
  });
  if (errors.length > 0) return { errors };
  return Object.freeze({ kind: 'jwt-authn', name, providers, rules: Object.freeze(rules) });
}

function decodeProvider(p: ProtoObject, name: string, field: string, errors: string[]): JwtProvider | undefined {
  const before = errors.length;
  if (strings(p, 'from_params').length > 0) errors.push(`${field}.from_params: not supported (tokens come from headers)`);
  if (strings(p, 'from_cookies').length > 0) errors.push(`${field}.from_cookies: not supported (tokens come from headers)`);
  if (obj(p, 'subjects') !== undefined) errors.push(`${field}.subjects: not supported`);
  if (obj(p, 'max_lifetime') !== undefined) errors.push(`${field}.max_lifetime: not supported`);
  const jwks = jwksSource(p, field, errors);
  const fromHeaders: JwtHeaderSource[] = [];
  list(p, 'from_headers').forEach((h, i) => {
    const headerName = str(h, 'name').toLowerCase();
    if (headerName === '') errors.push(`${field}.from_headers[${i}].name: must not be empty`);
    else fromHeaders.push(Object.freeze({ name: headerName, valuePrefix: str(h, 'value_prefix') }));
  });
  const skew = num(p, 'clock_skew_seconds');
  if (errors.length > before || jwks === undefined) return undefined;
  return Object.freeze({
    name,
    issuer: str(p, 'issuer'),
    audiences: Object.freeze(strings(p, 'audiences')),
    jwks,
    fromHeaders: fromHeaders.length > 0 ? Object.freeze(fromHeaders) : DEFAULT_FROM_HEADERS,
    forward: bool(p, 'forward'),
    payloadInMetadata: str(p, 'payload_in_metadata'),
    clockSkewSeconds: skew > 0 ? skew : DEFAULT_CLOCK_SKEW_SECONDS,
  });
}

function jwksSource(p: ProtoObject, field: string, errors: string[]): JwksSource | undefined {
  const kind = str(p, 'jwks_source_specifier');
  if (kind === 'remote_jwks') {
    const remote = obj(p, 'remote_jwks');
    const httpUri = obj(remote, 'http_uri');
    const uri = str(httpUri, 'uri');
    let url: URL | undefined;
    try {
      url = new URL(uri);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:')) {
      errors.push(`${field}.remote_jwks.http_uri.uri: '${uri}' is not an http(s) URL`);
      return undefined;
    }
    const timeout = durationMs(httpUri, 'timeout');
    const cache = durationMs(remote, 'cache_duration');
    if (isError(timeout)) errors.push(`${field}.remote_jwks.http_uri.${timeout.error}`);
    if (isError(cache)) errors.push(`${field}.remote_jwks.${cache.error}`);
    if (isError(timeout) || isError(cache)) return undefined;
    return Object.freeze({
      kind: 'remote',
      uri,
      timeoutMs: timeout === undefined || timeout === 0 ? DEFAULT_JWKS_TIMEOUT_MS : timeout,
      cacheDurationMs: cache === undefined || cache === 0 ? DEFAULT_JWKS_CACHE_MS : cache,
    });
  }
  if (kind === 'local_jwks') {
    const source = obj(p, 'local_jwks');
    const specifier = str(source, 'specifier');
    let text: string;
    if (specifier === 'inline_string') text = str(source, 'inline_string');
    else if (specifier === 'inline_bytes') text = Buffer.from((source?.['inline_bytes'] as Uint8Array | undefined) ?? []).toString('utf8');
    else {
      errors.push(`${field}.local_jwks.${specifier || 'specifier'}: only inline_string and inline_bytes are supported`);
      return undefined;
    }
    const keys = parseJwks(text);
    if (isError(keys)) {
      errors.push(`${field}.local_jwks: ${keys.error}`);
      return undefined;
    }
    return Object.freeze({ kind: 'local', keys });
  }
  errors.push(`${field}: needs remote_jwks or local_jwks`);
  return undefined;
}

/**
 * Parses a JWK Set document: `{ "keys": [ { "kty": ..., ... }, ... ] }`; every key needs a `kty`. Only public keys
 * are accepted: a private key (`d`), a symmetric key (`kty` `oct`) or a key for an HMAC algorithm (`alg` `HS*`) is
 * refused, since inline keys are pushed to every workload and shown by `weft get` (a shared secret there would let
 * anyone who reads it mint tokens).
 */
export function parseJwks(text: string): readonly Readonly<Record<string, unknown>>[] | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e: unknown) {
    return { error: `not JSON: ${e instanceof Error ? e.message : String(e)}` };
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) return { error: 'a JWK Set needs a non-empty "keys" list' };
  for (const [i, k] of keys.entries()) {
    if (typeof k !== 'object' || k === null || typeof (k as { kty?: unknown }).kty !== 'string') return { error: `keys[${i}] is not a JWK (no "kty")` };
    if ('d' in k) return { error: `keys[${i}] is a private key; publish public keys only` };
    if (isSymmetricJwk(k)) {
      return { error: `keys[${i}] is a symmetric key (kty "${String((k as { kty: unknown }).kty)}"${typeof (k as { alg?: unknown }).alg === 'string' ? `, alg "${(k as { alg: string }).alg}"` : ''}): its secret would be sent to every workload; HMAC (HS*) tokens are not accepted, publish public keys only (RSA, EC, OKP)` };
    }
  }
  return Object.freeze(keys.map((k: Record<string, unknown>) => Object.freeze({ ...k })));
}

function requirement(r: ProtoObject, field: string, providers: ReadonlyMap<string, JwtProvider>, errors: string[], depth: number): JwtRequirement | undefined {
  if (depth > MAX_DEPTH) {
    errors.push(`${field}: nested more than ${MAX_DEPTH} levels`);
    return undefined;
  }
  const kind = str(r, 'requires_type');
  switch (kind) {
    case 'provider_name': {
      const provider = str(r, 'provider_name');
      if (!providers.has(provider)) {
        errors.push(`${field}.provider_name: no provider named '${provider}'`);
        return undefined;
      }
      return Object.freeze({ kind: 'provider', provider });
    }
    case 'requires_any':
    case 'requires_all': {
      const list_ = list(obj(r, kind), 'requirements')
        .map((x, i) => requirement(x, `${field}.${kind}.requirements[${i}]`, providers, errors, depth + 1))
        .filter((x): x is JwtRequirement => x !== undefined);
      if (list_.length === 0) errors.push(`${field}.${kind}.requirements: empty`);
      return Object.freeze({ kind: kind === 'requires_any' ? 'any' : 'all', requirements: Object.freeze(list_) });
    }
    case 'allow_missing':
      return Object.freeze({ kind: 'allow-missing' });
    case 'allow_missing_or_failed':
      return Object.freeze({ kind: 'allow-missing-or-failed' });
    default:
      errors.push(`${field}: ${kind ? `'${kind}' is not supported` : 'no requirement set'}`);
      return undefined;
  }
}
