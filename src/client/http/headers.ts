// Reads and adds request headers in every shape undici accepts (object, flat array, iterable of pairs) without copying.
import type { Dispatcher } from 'undici';

/** The `headers` field of undici DispatchOptions. */
export type UndiciHeaders = Dispatcher.DispatchOptions['headers'];

type HeaderValue = string | string[] | number | Buffer | readonly (string | Buffer)[] | undefined | null;

function asString(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => String(v)).join(',');
  return String(value);
}

function isPlainRecord(headers: object): boolean {
  const proto = Object.getPrototypeOf(headers) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * Returns the value of header `lowerName` (already lower-case), repeated headers joined with ',' as Envoy does,
 * or undefined when absent. Never throws on well-formed undici headers.
 */
export function getHeader(headers: UndiciHeaders, lowerName: string): string | undefined {
  if (headers === undefined || headers === null) return undefined;
  if (Array.isArray(headers)) {
    let found: string | undefined;
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown as [unknown, unknown][]) {
        if (String(pair[0]).toLowerCase() === lowerName) found = join(found, asString(pair[1]));
      }
      return found;
    }
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const key = headers[i] as unknown;
      const name = typeof key === 'string' ? key : String(key);
      if (name.length === lowerName.length && name.toLowerCase() === lowerName) {
        found = join(found, asString(headers[i + 1]));
      }
    }
    return found;
  }
  if (typeof headers !== 'object') return undefined;
  if (!isPlainRecord(headers)) {
    let found: string | undefined;
    for (const pair of headers as Iterable<[unknown, unknown]>) {
      if (String(pair[0]).toLowerCase() === lowerName) found = join(found, asString(pair[1]));
    }
    return found;
  }
  const record = headers as Record<string, HeaderValue>;
  const direct = record[lowerName];
  if (direct !== undefined) return asString(direct);
  for (const key in record) {
    if (key.length === lowerName.length && key.toLowerCase() === lowerName) return asString(record[key]);
  }
  return undefined;
}

function join(a: string | undefined, b: string | undefined): string | undefined {
  if (b === undefined) return a;
  return a === undefined ? b : `${a},${b}`;
}

/**
 * Returns `headers` with `host: <authority>` added, unless a host header is already there (kept as the caller set it).
 * Returns a new value; never mutates `headers`, so callers may reuse their option objects.
 */
export function withHost(headers: UndiciHeaders, authority: string): UndiciHeaders {
  if (headers === undefined || headers === null) return ['host', authority];
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      const flat: string[] = [];
      let hasHost = false;
      for (const pair of headers as unknown as [string, string][]) {
        if (String(pair[0]).toLowerCase() === 'host') hasHost = true;
        flat.push(pair[0], pair[1]);
      }
      if (!hasHost) flat.push('host', authority);
      return flat;
    }
    for (let i = 0; i < headers.length; i += 2) {
      const key = headers[i] as unknown;
      if (typeof key === 'string' && key.length === 4 && key.toLowerCase() === 'host') return headers;
    }
    return [...(headers as string[]), 'host', authority];
  }
  if (typeof headers !== 'object') return headers;
  if (!isPlainRecord(headers)) {
    const flat: string[] = [];
    let hasHost = false;
    for (const [key, value] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (value === undefined) continue;
      if (key.toLowerCase() === 'host') hasHost = true;
      if (Array.isArray(value)) for (const v of value) flat.push(key, v);
      else flat.push(key, value);
    }
    if (!hasHost) flat.push('host', authority);
    return flat;
  }
  const record = headers as Record<string, unknown>;
  if (record.host !== undefined) return headers;
  for (const key in record) {
    if (key.length === 4 && key.toLowerCase() === 'host') return headers;
  }
  return { ...(headers as Record<string, string | string[]>), host: authority };
}

/** Parses a query string (without '?') into decoded name → values. Malformed escapes are kept as written. */
export function parseQuery(query: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  if (query === '') return out;
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : decode(part.slice(eq + 1));
    const list = out.get(name);
    if (list) list.push(value);
    else out.set(name, [value]);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
