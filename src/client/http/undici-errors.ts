// The one table that maps undici / Node errors on an attempt to the transport-neutral ErrorKind of core/classify.ts,
// read by the retry layer (undiciOutcome) and by the observers of outlier detection and load tracking (errorKind).
import type { AttemptOutcome, ErrorKind } from '../../core/classify.js';
import { ERROR_CODES, isMeshError } from '../../core/errors.js';

/** Error code → kind. Codes not listed are `other`. */
const KIND_BY_CODE: ReadonlyMap<string, ErrorKind> = new Map<string, ErrorKind>([
  // The connection could not be opened: nothing was sent.
  ...['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'].map((c) => [c, 'connect-failure'] as const),
  // The connection broke while the request was on it: the server may have seen it.
  ...['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_INFO', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION'].map(
    (c) => [c, 'reset'] as const,
  ),
  ...['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'].map((c) => [c, 'timeout'] as const),
]);

/** Failures that happen locally before anything is sent (a bad request, an abort, a closed pool): never retried. */
const LOCAL_CODES: ReadonlySet<string> = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_ABORTED',
  'UND_ERR_DESTROYED',
  'UND_ERR_CLOSED',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_RETRY',
  'ABORT_ERR',
]);

/**
 * Maps an undici / Node error to an ErrorKind: connect failures, resets and timeouts (undici's header/body timeouts and
 * Weft's route timeout); everything else (a caller's abort, a closed pool, a mesh refusal) is `other`, which no policy
 * counts against an endpoint. Walks one level of `cause` (undici wraps socket errors).
 */
export function errorKind(err: unknown): ErrorKind {
  if (isMeshError(err)) return err.code === ERROR_CODES.TIMEOUT ? 'timeout' : 'other';
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 2; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      const kind = KIND_BY_CODE.get(code);
      if (kind !== undefined) return kind;
      if (LOCAL_CODES.has(code)) return 'other';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return 'other';
}

function isLocal(err: unknown): boolean {
  if (isMeshError(err)) return true;
  const e = err as { code?: unknown; name?: unknown } | null;
  return (typeof e?.code === 'string' && LOCAL_CODES.has(e.code)) || e?.name === 'AbortError';
}

/**
 * Maps an undici error on one attempt to an AttemptOutcome. `connected` says whether undici assigned the attempt a
 * connection (called onConnect): undici fails requests whose connection could not be opened (ECONNREFUSED, connect
 * timeout, unreachable host) without ever calling onConnect, so a non-local error then is a proof nothing was sent.
 * A Weft error (a refusal, the route timeout) is `other`: the retry layer decides about those itself.
 */
export function undiciOutcome(err: unknown, connected: boolean, perTryTimedOut: boolean): AttemptOutcome {
  if (perTryTimedOut) return { kind: 'error', error: 'timeout', neverSent: !connected };
  if (isLocal(err)) return { kind: 'error', error: 'other', neverSent: false };
  if (!connected) return { kind: 'error', error: 'connect-failure', neverSent: true };
  const kind = errorKind(err);
  // A connect-failure code on a connection that was open (a socket timeout) may have reached the server.
  return { kind: 'error', error: kind === 'connect-failure' ? 'reset' : kind, neverSent: false };
}
