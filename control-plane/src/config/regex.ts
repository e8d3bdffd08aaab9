// Checks that a user's regular expression works in every xDS client: JS RegExp (the Weft SDK) and RE2 (Envoy, gRPC).

/**
 * Returns why `pattern` cannot be used, or undefined if it compiles as a JS RegExp and uses no construct RE2 lacks
 * (look-ahead/look-behind, back-references). Matching is always on the whole value (anchored).
 */
export function checkRegex(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
  } catch (e: unknown) {
    return `is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  const unsupported = findNonRe2(pattern);
  return unsupported ? `uses ${unsupported}, which RE2 (the regex engine of Envoy and gRPC) does not support` : undefined;
}

function findNonRe2(pattern: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '\\') {
      const next = pattern[i + 1] ?? '';
      if (!inClass && /[1-9]/.test(next)) return `a back-reference (\\${next})`;
      if (!inClass && next === 'k') return 'a named back-reference (\\k<...>)';
      i++;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') inClass = true;
    else if (c === '(' && pattern[i + 1] === '?') {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith('=') || rest.startsWith('!')) return 'a look-ahead ((?= or (?!)';
      if (rest === '<=' || rest === '<!') return 'a look-behind ((?<= or (?<!)';
    }
  }
  return undefined;
}
