// Compiles an xDS StringMatcher (as decoded into mesh-state.ts) into a predicate, once per configuration.
import type { StringMatcher } from './mesh-state.js';

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
