// Property-based tests of RE2 patterns across the two sides: for generated patterns, the control plane's validation
// accepts exactly what the Weft SDK's RouteConfiguration decoder accepts, both agree with real RE2 (Google's RE2 as
// WASM, the engine grpc-js-xds matches with), and an accepted pattern matches the same values in the SDK as in RE2.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { bounded, fuzzParams } from '../../../test/fuzz/kit.js';
import { protos, TYPE_URL } from '../../../src/discovery/xds/protos.js';
import { decodeRouteConfiguration } from '../../../src/discovery/xds/resources/route-configuration.js';
import { compilePathMatcher } from '../../../src/discovery/string-matcher.js';
import { compileRe2, type Re2Compiled } from '../../../src/discovery/re2.js';
import { checkRegex } from './regex.js';

/** re2-wasm's class: compiles an RE2 pattern (it needs the `u` flag) or throws a SyntaxError saying why. */
interface Re2Wasm {
  test(input: string): boolean;
}
/**
 * Frees the WASM-side object behind `re`: re2-wasm never does, and its fixed 16 MiB heap runs out after a few
 * thousand patterns (an abort that then breaks every later call). `wrapper` is its embind object.
 */
function free(re: Re2Wasm): void {
  (re as unknown as { wrapper?: { delete?: () => void } }).wrapper?.delete?.();
}
const { RE2 } = createRequire(import.meta.url)('re2-wasm') as { RE2: new (pattern: string, flags: string) => Re2Wasm };

/** Generous: a hang or a pathological input, not a slow machine. */
const LIMIT_MS = 5000;

/**
 * Atoms patterns are built from: text, every RE2 construct (classes, escapes, \Q..\E, Unicode and POSIX classes) and
 * the Perl/JS constructs RE2 refuses. No `\c` or `\u`: re2-wasm rewrites those JS escapes before RE2 sees them, so it
 * is no oracle for them (the unit tests cover their refusal).
 */
const ATOMS = [
  'a', 'a', 'A', 'k', 's', '/', '-', 'é', '😀', ' ', '.', '.', '^', '$',
  '\\d', '\\D', '\\s', '\\S', '\\w', '\\W', '\\b', '\\B', '\\A', '\\z', '\\.', '\\(', '\\[', '\\-', '\\_', '\\ ',
  '\\Q(?=\\E', '\\Qa.', '\\x41', '\\x{1F600}', '\\x{110000}', '\\xg', '\\12', '\\0', '\\1', '\\8', '\\k<n>', '\\e', '\\G',
  '\\pL', '\\p{Greek}', '\\PL', '\\p{^Lu}', '\\p{Latn}', '\\pC', '\\C', '\\',
  '[(?=]', '[^a-z]', '[]a]', '[a-]', '[[:alpha:]]', '[[:^digit:]]', '[[:foo:]]', '[z-a]', '[\\d-z]', '[a-\\d]', '[^\\W]',
  '[\\P{Lu}k]', '[\\b]', '[^\\n]', '[\\s\\S]', '[', ')', '(?i)', '(?-i)', '(?s)', '(?-s)', '(?m)', '(?U)', '(?-)', '(?#x)', '(?P=n)',
  '{', '}', '{2}', '*', '|',
];
const OPENERS = ['(', '(?:', '(?:', '(?P<n>', '(?<m>', '(?P<>', '(?i:', '(?s:', '(?m:', '(?U:', '(?-i:', '(?=', '(?<!', '(?>'];
const QUANTIFIERS = ['*', '+', '?', '*?', '+?', '??', '{2}', '{1,3}', '{0,}', '{2,}?', '{1001}', '{2,1}', '{,3}', '{01}', '{40}', '{30,}', '**', '{2}{3}'];

/** RE2-shaped patterns, mostly well-formed so that their meaning gets compared, with refused constructs mixed in. */
const { pattern: structured } = fc.letrec((tie) => ({
  pattern: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    tie('sequence'),
    fc.tuple(tie('sequence'), tie('sequence')).map(([a, b]) => `${a as string}|${b as string}`),
  ),
  sequence: fc.array(tie('item'), { maxLength: 4 }).map((items) => items.join('')),
  item: fc
    .tuple(tie('atom'), fc.oneof(fc.constant(''), fc.constant(''), fc.constantFrom(...QUANTIFIERS)))
    .map(([atom, q]) => `${atom as string}${q}`),
  atom: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constantFrom(...ATOMS),
    fc.tuple(fc.constantFrom(...OPENERS), tie('pattern')).map(([open, body]) => `${open}${body as string})`),
  ),
}));
/** Single characters, so that patterns no grammar would spell get tried too. */
const CHARS = 'a(){}[]?*+\\|^$.-:=!<>P^i1,QEdxpLs'.split('');
const patterns = fc.oneof(
  structured.map((p) => p as string),
  fc.array(fc.constantFrom(...CHARS), { maxLength: 12 }).map((p) => p.join('')),
);
const VALUES = ['', 'a', 'A', 'aa', 'k', 'K', '\u212a', 's', '\u017f', '\n', '\r', '\u2028', '\u00a0', '/', '(', '?', '=', '1', 'é', '😀', ' ', '-', '_'];
const values = fc.array(fc.string({ unit: fc.constantFrom(...VALUES), maxLength: 4 }), { maxLength: 6 });

/** What the SDK does with `pattern` as a route's safe_regex: its path predicate, or its refusal. */
function sdkPathMatcher(pattern: string): ((path: string) => boolean) | { error: string } {
  const wire = protos().fromAny(
    protos().toAny({
      '@type': TYPE_URL.routeConfiguration,
      name: 'fuzz',
      virtual_hosts: [{ name: 'vh', domains: ['*'], routes: [{ match: { safe_regex: { regex: pattern } }, route: { cluster: 'c' } }] }],
    }),
  );
  const decoded = decodeRouteConfiguration(wire);
  return decoded.ok ? compilePathMatcher(decoded.value.virtualHosts[0]!.routes[0]!.path) : { error: decoded.errors.join('; ') };
}

/** Whether `pattern` (valid RE2) ends inside a `\Q…` quote with no `\E`. */
function endsInQuote(pattern: string): boolean {
  for (let i = 0; i < pattern.length; i += 2) {
    if (pattern[i] !== '\\') {
      i--;
      continue;
    }
    if (pattern[i + 1] !== 'Q') continue;
    const end = pattern.indexOf('\\E', i + 2);
    if (end < 0) return true;
    i = end;
  }
  return false;
}

/** Real RE2's verdict: a whole-value matcher and a search (match anywhere), or its error; `free` when done. */
function re2(pattern: string): { whole: Re2Wasm; search: Re2Wasm; free(): void } | { error: string } {
  let search: Re2Wasm;
  try {
    search = new RE2(pattern, 'u');
  } catch (e: unknown) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
  // Anchored as Envoy matches; a pattern ending inside \Q...\E would swallow the anchors, so close it first.
  const closed = endsInQuote(pattern) ? `${pattern}\\E` : pattern;
  const whole = new RE2(`^(?:${closed})$`, 'u');
  return { whole, search, free: () => [whole, search].forEach(free) };
}

/** The RE2 forms the reader refuses on purpose, because a JS RegExp cannot mean the same (see compileRe2). */
const REFUSED_ON_PURPOSE = /\\C \(any single byte\)|\(\?i\) covers only part/;

describe('RE2 patterns on both sides', () => {
  it('the control plane accepts a pattern exactly when the SDK accepts it', () => {
    fc.assert(
      fc.property(patterns, (pattern) => {
        const cp = bounded('checkRegex', LIMIT_MS, () => checkRegex(pattern));
        const sdk = bounded('SDK decode', LIMIT_MS, () => sdkPathMatcher(pattern));
        assert.equal(cp === undefined, typeof sdk === 'function', `control plane: ${cp ?? 'accepts'}; SDK: ${typeof sdk === 'function' ? 'accepts' : sdk.error}`);
      }),
      fuzzParams(300),
    );
  });

  it('both agree with real RE2, and an accepted pattern matches what RE2 matches', () => {
    fc.assert(
      fc.property(patterns, values, (pattern, inputs) => {
        const sdk = bounded('SDK decode', LIMIT_MS, () => sdkPathMatcher(pattern));
        const real = re2(pattern);
        if ('error' in real) {
          // RE2 also refuses over-large programs (its memory budget), which no syntax check predicts; none are generated.
          assert.ok(typeof sdk !== 'function', `RE2 refuses ${JSON.stringify(pattern)} (${real.error}) but the SDK accepts it`);
          return;
        }
        try {
          if (typeof sdk !== 'function') {
            assert.match(sdk.error, REFUSED_ON_PURPOSE, `RE2 accepts ${JSON.stringify(pattern)} but the SDK refuses it: ${sdk.error}`);
            return;
          }
          const matchSdk: (value: string) => boolean = sdk;
          // The same translation unanchored, so that the meaning of each part shows in searches too (a whole-value
          // match of random values rarely succeeds, so it alone would let a wrong `.` or `\s` pass unseen).
          const anchored = compileRe2(pattern) as Re2Compiled;
          const searchSdk = new RegExp(anchored.regex.source.slice('^(?:'.length, -')$'.length), anchored.regex.flags);
          for (const v of [...VALUES, ...inputs]) {
            // Known difference under (?i): JS counts ſ and K (Kelvin) as word characters for \b and \B.
            if (/\(\?[a-zA-Z-]*i/.test(pattern) && /\\[bB]/.test(pattern) && /[\u017f\u212a]/.test(v)) continue;
            const where = `${JSON.stringify(pattern)} on ${JSON.stringify(v)}`;
            assert.equal(bounded('SDK match', LIMIT_MS, () => matchSdk(v)), real.whole.test(v), `whole value: ${where}`);
            assert.equal(bounded('SDK search', LIMIT_MS, () => searchSdk.test(v)), real.search.test(v), `search (${searchSdk}): ${where}`);
          }
        } finally {
          real.free();
        }
      }),
      fuzzParams(300),
    );
  });
});
