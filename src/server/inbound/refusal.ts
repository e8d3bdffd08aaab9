// The one table that turns an inbound refusal into its wire answer: HTTP status and headers, or gRPC status and
// trailers, each with `x-mesh-error: <WEFT_ERR code>` and `<code>: <reason>: <detail>` as body or details.
import { GRPC_STATUS_FOR_ERROR } from '../../client/grpc/status-map.js';
import type { ErrorCode } from '../../core/errors.js';
import { MESH_ERROR_HEADER } from '../http/deadline-listener.js';

/** Why the inbound pipeline refused a request. */
export interface Refusal {
  readonly code: Extract<ErrorCode, 'WEFT_ERR_UNAUTHENTICATED' | 'WEFT_ERR_PERMISSION_DENIED' | 'WEFT_ERR_RATE_LIMITED' | 'WEFT_ERR_CONFIG_TIMEOUT' | 'WEFT_ERR_CONFIG_REJECTED' | 'WEFT_ERR_INTERNAL'>;
  /** A stable reason code: `jwt_expired`, `rbac_denied`, `rate_limited`, ... (docs/errors.md). */
  readonly reason: string;
  /** What exactly: `policy deny-post`, `limit default`, jose's message... */
  readonly detail: string;
  /** The AuthorizationPolicy that decided (`default-deny` when ALLOW policies exist and none matched). */
  readonly policy?: string;
  /** Rate limits: the limit that refused (a route name, or `default`). */
  readonly limit?: string;
  /** Rate limits: when a token will be there again (ms). */
  readonly retryAfterMs?: number;
}

const HTTP_STATUS: Readonly<Record<Refusal['code'], number>> = Object.freeze({
  WEFT_ERR_UNAUTHENTICATED: 401,
  WEFT_ERR_PERMISSION_DENIED: 403,
  WEFT_ERR_RATE_LIMITED: 429,
  WEFT_ERR_CONFIG_TIMEOUT: 503,
  WEFT_ERR_CONFIG_REJECTED: 503,
  WEFT_ERR_INTERNAL: 500,
});

/** `<code>: <reason>: <detail>`: the HTTP body (plus a newline) and the gRPC status details. */
export function refusalText(r: Refusal): string {
  return `${r.code}: ${r.reason}: ${r.detail}`;
}

/** Whole seconds to wait, at least 1 (the `retry-after` value). */
export function retryAfterSeconds(r: Refusal): number {
  return Math.max(1, Math.ceil((r.retryAfterMs ?? 1000) / 1000));
}

/**
 * The HTTP answer: 401 (+ `www-authenticate: Bearer realm="<service>"`, with `error="invalid_token"` when a token
 * was presented, RFC 6750 §3), 403, 429 (+ `retry-after`), 503 while the policy is unknown or refused, 500 for a bug.
 */
export function httpRefusal(r: Refusal, service: string): { readonly status: number; readonly headers: Record<string, string>; readonly body: string } {
  const headers: Record<string, string> = { [MESH_ERROR_HEADER]: r.code, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' };
  if (r.code === 'WEFT_ERR_UNAUTHENTICATED') {
    headers['www-authenticate'] =
      r.reason === 'jwt_missing' ? `Bearer realm="${service}"` : `Bearer realm="${service}", error="invalid_token", error_description="${r.reason}"`;
  }
  if (r.code === 'WEFT_ERR_RATE_LIMITED') headers['retry-after'] = String(retryAfterSeconds(r));
  return { status: HTTP_STATUS[r.code], headers, body: `${refusalText(r)}\n` };
}

/** The gRPC answer: status from the error table (UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED...) and trailers. */
export function grpcRefusal(r: Refusal): { readonly code: number; readonly details: string; readonly trailers: Readonly<Record<string, string>> } {
  const trailers: Record<string, string> = { [MESH_ERROR_HEADER]: r.code };
  if (r.code === 'WEFT_ERR_RATE_LIMITED') {
    trailers['retry-after'] = String(retryAfterSeconds(r));
    // gRFC A6: a client that retries RESOURCE_EXHAUSTED waits this long first.
    trailers['grpc-retry-pushback-ms'] = String(Math.max(1, Math.ceil(r.retryAfterMs ?? 1000)));
  }
  return { code: GRPC_STATUS_FOR_ERROR[r.code], details: refusalText(r), trailers };
}
