// The RE2 reader: which patterns it accepts, what they then match (RE2's meaning, not JS's), and how it refuses.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileRe2, describeRe2Problem, isRe2Problem } from './re2.js';

function regex(pattern: string): RegExp {
  const r = compileRe2(pattern);
  assert.ok(!isRe2Problem(r), `${pattern}: ${isRe2Problem(r) ? describeRe2Problem(r) : ''}`);
  return r.regex;
}

function refusal(pattern: string): string {
  const r = compileRe2(pattern);
  assert.ok(isRe2Problem(r), `${pattern} should be refused`);
  return describeRe2Problem(r);
}

/** Asserts which of `values` the pattern matches as a whole. */
function matches(pattern: string, yes: readonly string[], no: readonly string[]): void {
  const re = regex(pattern);
  for (const v of yes) assert.ok(re.test(v), `${pattern} should match ${JSON.stringify(v)} (as ${re})`);
  for (const v of no) assert.ok(!re.test(v), `${pattern} should not match ${JSON.stringify(v)} (as ${re})`);
}

describe('compileRe2', () => {
  it('reads (?= inside a class as the three characters, as RE2 does', () => {
    matches('/items/[(?=]', ['/items/(', '/items/?', '/items/='], ['/items/x', '/items/']);
  });

  it('matches the whole value', () => {
    matches('a|b', ['a', 'b'], ['ab', 'xa', '']);
  });

  it('gives ., \\s, \\w, \\d and \\b their RE2 (ASCII, \\n-only) meaning', () => {
    matches('.', ['\r', '\u2028', '😀'], ['\n', '']);
    matches('(?s).', ['\n'], []);
    matches('\\s', [' ', '\t', '\n', '\f', '\r'], ['\v', '\u00a0', '\u2003']);
    matches('\\w+', ['a_Z9'], ['é', 'ſ']);
    matches('\\S', ['\u00a0'], [' ']);
    matches('a\\b.', ['a-'], ['ab']);
  });

  it('reads \\Q…\\E, octal, \\x and control escapes', () => {
    matches('\\Qa.b(\\E+', ['a.b(', 'a.b(((('], ['axb(']);
    matches('\\Qa.*', ['a.*'], ['ab']);
    matches('\\12\\0\\x41\\x{1F600}\\t', ['\n\0A😀\t'], []);
  });

  it('reads named groups, flags and their scopes', () => {
    matches('(?P<first>a)(?<second>b)', ['ab'], []);
    matches('(?i)ab(?:c)', ['ABC', 'aBc'], ['abd']);
    matches('(?i)k', ['K', '\u212a'], []);
    matches('(?m)a$\\n^b', ['a\nb'], []);
    matches('(?s:.)(?-s).', ['\nx'], ['\n\n']);
    matches('(?U)(a+)(a*)', ['aaa'], []);
  });

  it('reads POSIX and Unicode classes, folding before negating under (?i)', () => {
    matches('[[:alpha:][:digit:]]+', ['aZ9'], ['-']);
    matches('[[:^digit:]]', ['a'], ['5']);
    matches('\\pL\\p{Greek}\\PN\\p{^Lu}', ['xΩ-a'], ['xΩ1a', 'xxxx']);
    matches('\\p{C}', ['\u0000', '\u200b'], ['a', '\u0378']); // RE2's C has no unassigned (Cn) code points
    matches('(?i)\\W', ['-'], ['s', 'S', 'ſ', 'k']);
    matches('(?i)[^a]', ['b'], ['a', 'A']);
    matches('[]a-]+', [']a-'], ['b']);
    matches('[\\d-z]+', ['1-z'], ['y']);
  });

  it('keeps braces that are not a repetition as text, and repetitions with their bounds', () => {
    matches('a{,3}', ['a{,3}'], ['aaa']);
    matches('a{01}', ['a{01}'], ['a']);
    matches('a{2,3}', ['aa', 'aaa'], ['a', 'aaaa']);
    matches('^*a\\b+', ['a'], []);
  });

  it('refuses what RE2 refuses, saying what and where', () => {
    assert.match(refusal('/a(?=b)'), /look-ahead \(\?=.*at offset 2/);
    assert.match(refusal('(?<!a)b'), /look-behind \(\?<!.*at offset 0/);
    assert.match(refusal('(a)\\1'), /back-reference \(\\1\).*at offset 3/);
    assert.match(refusal('(?P<n>a)(?P=n)'), /named back-reference.*at offset 8/);
    assert.match(refusal('a{1001}'), /repetition \{1001\}.*at offset 1/);
    assert.match(refusal('(a{10}){101}'), /multiply to 1010.*at offset 7/);
    assert.match(refusal('a**'), /right after another.*at offset 2/);
    matches('a*(?i)*\\Q\\E+', ['', 'aaa'], ['b']); // a flag group between the operators: RE2 repeats a* again
    assert.match(refusal('*a'), /nothing before it.*at offset 0/);
    assert.match(refusal('(?P<a>x)(?P<a>y)'), /second group named 'a'.*at offset 8/);
    assert.match(refusal('[[:foo:]]'), /unknown POSIX class \[:foo:\]/);
    assert.match(refusal('\\p{Latn}'), /unknown Unicode class/);
    assert.match(refusal('[z-a]'), /range z-a.*at offset 1/);
    assert.match(refusal('[a'), /never closed \(missing \]\)/);
    assert.match(refusal('(a'), /never closed \(missing \)\)/);
    assert.match(refusal('a)'), /unmatched \).*at offset 1/);
    assert.match(refusal('\\cA'), /control escape/);
    assert.match(refusal('\\u0041'), /\\u escape/);
    assert.match(refusal('(?#comment)'), /group syntax \(\?#/);
    assert.match(refusal('(?i-)'), /group syntax \(\?i-\)/);
    assert.match(refusal('a\\'), /at the end with nothing to escape/);
  });

  it('refuses the two RE2 forms a JS RegExp cannot mean the same way', () => {
    assert.match(refusal('a\\C'), /\\C .*at offset 1/);
    assert.match(refusal('(?i)a(?-i)b'), /\(\?i\) covers only part.*case-insensitive at offset 4, case-sensitive at offset 10/);
    // Parts without letters do not care about case, so (?i) there still covers the whole pattern.
    matches('/1/(?i)users', ['/1/USERS'], []);
  });
});
