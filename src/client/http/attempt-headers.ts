// Sets mesh headers (attempt number, remaining deadline) on a copy of a request's headers, in any shape undici takes.
import { ATTEMPT_HEADER } from '../../policy/retry/retry-config.js';
import { TIMEOUT_HEADER } from '../../policy/deadline/deadline.js';
import type { UndiciHeaders } from './headers.js';

/**
 * Returns `headers` with `x-weft-attempt: <attempt>` (when given) and `x-weft-timeout-ms: <timeoutMs>` (when given)
 * set, replacing any value of those names the caller sent (a proxying service must not forward its own caller's
 * deadline or attempt). Never mutates `headers`; returns a plain object for object input, else a flat array. On the
 * request path of every call with a deadline: one copy, no other allocation.
 */
export function withMeshHeaders(headers: UndiciHeaders, attempt: string | undefined, timeoutMs: string | undefined): UndiciHeaders {
  if (headers === undefined || headers === null) {
    const flat: string[] = [];
    if (attempt !== undefined) flat.push(ATTEMPT_HEADER, attempt);
    if (timeoutMs !== undefined) flat.push(TIMEOUT_HEADER, timeoutMs);
    return flat;
  }
  if (Array.isArray(headers)) {
    const flat: string[] = [];
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown as [string, string][]) if (!isMeshHeader(pair[0])) flat.push(pair[0], pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const key = headers[i] as unknown as string;
        if (!isMeshHeader(key)) flat.push(key, headers[i + 1] as unknown as string);
      }
    }
    if (attempt !== undefined) flat.push(ATTEMPT_HEADER, attempt);
    if (timeoutMs !== undefined) flat.push(TIMEOUT_HEADER, timeoutMs);
    return flat;
  }
  if (typeof headers !== 'object') return headers;
  const proto = Object.getPrototypeOf(headers) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const flat: string[] = [];
    for (const [key, value] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (value === undefined || isMeshHeader(key)) continue;
      if (Array.isArray(value)) for (const v of value) flat.push(key, v);
      else flat.push(key, value);
    }
    if (attempt !== undefined) flat.push(ATTEMPT_HEADER, attempt);
    if (timeoutMs !== undefined) flat.push(TIMEOUT_HEADER, timeoutMs);
    return flat;
  }
  const out: Record<string, unknown> = {};
  const record = headers as Record<string, unknown>;
  for (const key in record) if (!isMeshHeader(key)) out[key] = record[key];
  if (attempt !== undefined) out[ATTEMPT_HEADER] = attempt;
  if (timeoutMs !== undefined) out[TIMEOUT_HEADER] = timeoutMs;
  return out as UndiciHeaders;
}

/** True for `x-weft-attempt` and `x-weft-timeout-ms` in any case (a length test first: most names fail it). */
function isMeshHeader(key: unknown): boolean {
  const k = typeof key === 'string' ? key : String(key);
  if (k.length !== ATTEMPT_HEADER.length && k.length !== TIMEOUT_HEADER.length) return false;
  const lower = k.toLowerCase();
  return lower === ATTEMPT_HEADER || lower === TIMEOUT_HEADER;
}
