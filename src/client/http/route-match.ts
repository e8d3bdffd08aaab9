// Compiles MeshState routes into fast match predicates (built once per state) and explains why a route did not match.
import type { HeaderMatcher, PathMatcher, QueryParamMatcher, Route, StringMatcher, VirtualHost } from '../../discovery/mesh-state.js';
import { compilePathMatcher, compileStringMatcher } from '../../discovery/string-matcher.js';
import { getHeader, parseQuery, type UndiciHeaders } from './headers.js';

/** The parts of a request a route looks at. `path` excludes the query string, `query` is what follows '?'. */
export interface RequestFacts {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: UndiciHeaders;
  /** Logical authority (`host` or `host:port`), used for the `:authority` pseudo-header. */
  readonly authority: string;
  readonly scheme: string;
}

/** A compiled route condition: true when every condition of the route holds. Pure; never throws. */
export type RoutePredicate = (facts: RequestFacts) => boolean;

type Check = (facts: RequestFacts) => boolean;

/** Splits undici's `path` option (`/a/b?x=1`) into path and query without allocating when there is no query. */
export function splitPath(rawPath: string): { path: string; query: string } {
  const q = rawPath.indexOf('?');
  if (q < 0) return { path: rawPath, query: '' };
  return { path: rawPath.slice(0, q), query: rawPath.slice(q + 1) };
}

/** Value of a header or pseudo-header (`:method`, `:path`, `:authority`, `:scheme`) for matching. */
export function headerValue(facts: RequestFacts, name: string): string | undefined {
  if (name.charCodeAt(0) === 58 /* ':' */) {
    switch (name) {
      case ':method':
        return facts.method;
      case ':path':
        return facts.query === '' ? facts.path : `${facts.path}?${facts.query}`;
      case ':authority':
        return facts.authority;
      case ':scheme':
        return facts.scheme;
      default:
        return undefined;
    }
  }
  const value = getHeader(facts.headers, name);
  return value === undefined && name === 'host' ? facts.authority : value;
}

// Envoy semantics: an absent header fails every matcher except `present` with invert (which means "must be absent").
function headerCheck(h: HeaderMatcher): Check {
  const name = h.name;
  if (h.match.kind === 'present') {
    const invert = h.invert;
    return (f) => (headerValue(f, name) !== undefined) !== invert;
  }
  const test = compileStringMatcher(h.match);
  const invert = h.invert;
  return (f) => {
    const v = headerValue(f, name);
    return v === undefined ? false : test(v) !== invert;
  };
}

function queryCheck(q: QueryParamMatcher): Check {
  const name = q.name;
  if (q.match.kind === 'present') return (f) => parseQuery(f.query).has(name);
  const test = compileStringMatcher(q.match);
  return (f) => {
    const values = parseQuery(f.query).get(name);
    return values !== undefined && test(values[0]!);
  };
}

/** Compiles `route`'s conditions into one predicate; the path is checked first as it is the cheapest and most selective. */
export function compileRoute(route: Route): RoutePredicate {
  const path = compilePathMatcher(route.path);
  const rest: Check[] = [...route.headers.map(headerCheck), ...route.queryParams.map(queryCheck)];
  if (rest.length === 0) return (f) => path(f.path);
  if (rest.length === 1) {
    const only = rest[0]!;
    return (f) => path(f.path) && only(f);
  }
  return (f) => {
    if (!path(f.path)) return false;
    for (let i = 0; i < rest.length; i++) if (!rest[i]!(f)) return false;
    return true;
  };
}

function describeString(m: StringMatcher | { readonly kind: 'present' }): string {
  if (m.kind === 'present') return 'present';
  if (m.kind === 'regex') return `regex '${m.value}'`;
  return `${m.kind} '${m.value}'${m.ignoreCase ? ' (ignore case)' : ''}`;
}

/** Human-readable form of a path condition, e.g. `prefix '/api/'`. */
export function describePath(m: PathMatcher): string {
  if (m.kind === 'regex') return `regex '${m.value}'`;
  return `${m.kind} '${m.value}'${m.ignoreCase ? ' (ignore case)' : ''}`;
}

/**
 * Returns why `route` does not match `facts` (its first failing condition, in the order compileRoute checks them),
 * or undefined when it matches. For explain(); not on the request path.
 */
export function whyNotMatched(route: Route, facts: RequestFacts): string | undefined {
  if (!compilePathMatcher(route.path)(facts.path)) return `path '${facts.path}' does not match ${describePath(route.path)}`;
  for (const h of route.headers) {
    if (headerCheck(h)(facts)) continue;
    const v = headerValue(facts, h.name);
    const label = h.name === ':method' ? 'method' : `header '${h.name}'`;
    const want = `${h.invert ? 'not ' : ''}${describeString(h.match)}`;
    return v === undefined ? `${label} is absent (wants ${want})` : `${label} is '${v}' (wants ${want})`;
  }
  for (const q of route.queryParams) {
    if (queryCheck(q)(facts)) continue;
    const values = parseQuery(facts.query).get(q.name);
    const want = describeString(q.match);
    return values === undefined
      ? `query parameter '${q.name}' is absent (wants ${want})`
      : `query parameter '${q.name}' is '${values[0]}' (wants ${want})`;
  }
  return undefined;
}

/**
 * Picks the virtual host for `authority` as Envoy does: exact domain, then the longest `*.suffix`, then the longest
 * `prefix.*`, then `*`. Tries the authority as given, then without its port. Undefined when none matches.
 */
export function selectVirtualHost(virtualHosts: readonly VirtualHost[], authority: string): VirtualHost | undefined {
  const lower = authority.toLowerCase();
  const found = bestDomainMatch(virtualHosts, lower);
  if (found) return found;
  const colon = lower.lastIndexOf(':');
  return colon > 0 && !lower.endsWith(']') ? bestDomainMatch(virtualHosts, lower.slice(0, colon)) : undefined;
}

function bestDomainMatch(virtualHosts: readonly VirtualHost[], host: string): VirtualHost | undefined {
  let best: VirtualHost | undefined;
  let bestRank = -1;
  let bestLen = -1;
  for (const vh of virtualHosts) {
    for (const raw of vh.domains) {
      const d = raw.toLowerCase();
      let rank = -1;
      if (d === host) rank = 3;
      else if (d === '*') rank = 0;
      else if (d.startsWith('*') && host.endsWith(d.slice(1)) && host.length > d.length - 1) rank = 2;
      else if (d.endsWith('*') && host.startsWith(d.slice(0, -1)) && host.length > d.length - 1) rank = 1;
      if (rank > bestRank || (rank === bestRank && rank > 0 && d.length > bestLen)) {
        if (rank < 0) continue;
        best = vh;
        bestRank = rank;
        bestLen = d.length;
      }
    }
  }
  return best;
}
