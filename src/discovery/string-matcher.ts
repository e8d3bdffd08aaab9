// Compiles xDS string and path matchers (as decoded into mesh-state.ts) into predicates, once per configuration.
import type { PathMatcher, StringMatcher } from './mesh-state.js';

/** Returns a predicate for `m` (exact/prefix/suffix/contains with ignore_case, or an anchored regex). Never throws. */
export function compileStringMatcher(m: StringMatcher): (value: string) => boolean {
  if (m.kind === 'regex') {
    const re = m.regex;
    return (v) => re.test(v);
  }
  const want = m.ignoreCase ? m.value.toLowerCase() : m.value;
  const norm = m.ignoreCase ? (v: string) => v.toLowerCase() : (v: string) => v;
  switch (m.kind) {
    case 'exact':
      return (v) => norm(v) === want;
    case 'prefix':
      return (v) => norm(v).startsWith(want);
    case 'suffix':
      return (v) => norm(v).endsWith(want);
    case 'contains':
      return (v) => norm(v).includes(want);
  }
}

/**
 * Returns a predicate for a route PathMatcher applied to a path without its query: exact, prefix, separated-prefix
 * (`/a` matches `/a` and `/a/b`, not `/ab`) or an anchored regex; `ignoreCase` as configured. Never throws.
 */
export function compilePathMatcher(m: PathMatcher): (path: string) => boolean {
  if (m.kind === 'regex') {
    const re = m.regex;
    return (p) => re.test(p);
  }
  const value = m.ignoreCase ? m.value.toLowerCase() : m.value;
  const norm = m.ignoreCase ? (p: string) => p.toLowerCase() : (p: string) => p;
  switch (m.kind) {
    case 'exact':
      return (p) => norm(p) === value;
    case 'prefix':
      return (p) => norm(p).startsWith(value);
    case 'separated-prefix': {
      if (value === '' || value.endsWith('/')) return (p) => norm(p).startsWith(value);
      const len = value.length;
      return (p) => {
        const s = norm(p);
        return s.startsWith(value) && (s.length === len || s.charCodeAt(len) === 47 /* '/' */);
      };
    }
  }
}
