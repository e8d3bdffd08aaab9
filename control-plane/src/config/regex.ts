// Checks that a user's regular expression works in every xDS client: RE2 (Envoy, gRPC) and the Weft SDK, which reads
// it with the same RE2 reader (src/discovery/re2.ts), so what is accepted here is exactly what the SDK accepts.
import { compileRe2, describeRe2Problem, isRe2Problem } from '../../../src/discovery/re2.js';

/**
 * Returns why `pattern` cannot be used, or undefined if it is valid RE2 that the Weft SDK can match with the same
 * meaning (see `compileRe2` for the few RE2 forms a JS RegExp cannot express). Matching is on the whole value.
 */
export function checkRegex(pattern: string): string | undefined {
  const compiled = compileRe2(pattern);
  return isRe2Problem(compiled) ? `is not usable RE2 (the regex syntax of Envoy and gRPC): ${describeRe2Problem(compiled)}` : undefined;
}

/**
 * The one RE2 pattern a GRPCRoute `RegularExpression` method match becomes (`/(?:service)/(?:method)`, either part
 * defaulting to `[^/]+`). Validation checks this composed pattern too, since parts valid alone can combine badly
 * (`(?i)` in only one part, an unterminated `\Q`).
 */
export function grpcMethodPattern(service: string | undefined, method: string | undefined): string {
  return `/(?:${service ?? '[^/]+'})/(?:${method ?? '[^/]+'})`;
}
