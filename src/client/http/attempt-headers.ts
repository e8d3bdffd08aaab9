// Sets mesh headers (attempt number, remaining deadline) on a copy of a request's headers, in any shape undici takes.
import type { UndiciHeaders } from './headers.js';

/**
 * Returns `headers` with each `[name, value]` of `set` (names lower-case) set, replacing any value of the same name
 * the caller sent (a proxying service must not forward its own caller's deadline or attempt). Never mutates
 * `headers`; returns a plain object for object input, else a flat array.
 */
export function withMeshHeaders(headers: UndiciHeaders, set: readonly (readonly [string, string])[]): UndiciHeaders {
  if (headers === undefined || headers === null) {
    const flat: string[] = [];
    for (const [k, v] of set) flat.push(k, v);
    return flat;
  }
  if (Array.isArray(headers)) {
    const flat: string[] = [];
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown as [string, string][]) if (!named(set, pair[0])) flat.push(pair[0], pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) {
        const key = headers[i] as unknown as string;
        if (!named(set, key)) flat.push(key, headers[i + 1] as unknown as string);
      }
    }
    for (const [k, v] of set) flat.push(k, v);
    return flat;
  }
  if (typeof headers !== 'object') return headers;
  const proto = Object.getPrototypeOf(headers) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const flat: string[] = [];
    for (const [key, value] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (value === undefined || named(set, key)) continue;
      if (Array.isArray(value)) for (const v of value) flat.push(key, v);
      else flat.push(key, value);
    }
    for (const [k, v] of set) flat.push(k, v);
    return flat;
  }
  const out: Record<string, unknown> = {};
  for (const key in headers as Record<string, unknown>) {
    if (!named(set, key)) out[key] = (headers as Record<string, unknown>)[key];
  }
  for (const [k, v] of set) out[k] = v;
  return out as UndiciHeaders;
}

function named(set: readonly (readonly [string, string])[], key: unknown): boolean {
  const k = String(key);
  for (const [name] of set) if (k.length === name.length && k.toLowerCase() === name) return true;
  return false;
}
