// Small helpers the resource decoders share: a Result type, safe field access on decoded protos, durations, RE2 regexes.
import type { ProtoObject } from '../protos.js';
import { compileRe2, describeRe2Problem, isRe2Problem } from '../../re2.js';
import type { StringMatcher } from '../../mesh-state.js';

/** A decoder's answer: the validated value, or every problem found (`<field>: <reason>`, one per entry). */
export type Result<T, E = string[]> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errors: E };

/** Builds a successful Result. */
export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** Builds a failed Result from a non-empty list of `<field>: <reason>` lines. */
export function fail<T>(errors: string[]): Result<T> {
  return { ok: false, errors };
}

/** Returns `value[key]` as a ProtoObject, or undefined when it is unset (null), missing or not an object. */
export function obj(value: ProtoObject | null | undefined, key: string): ProtoObject | undefined {
  const v = value?.[key];
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as ProtoObject) : undefined;
}

/** Returns `value[key]` as a string ('' when unset). 64-bit integers and enums are strings in decoded protos. */
export function str(value: ProtoObject | null | undefined, key: string): string {
  const v = value?.[key];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '';
}

/** Returns `value[key]` as a number (0 when unset); accepts the string form of 64-bit integers. */
export function num(value: ProtoObject | null | undefined, key: string): number {
  const v = value?.[key];
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v !== '') return Number(v);
  return 0;
}

/** Returns `value[key]` as a boolean (false when unset). */
export function bool(value: ProtoObject | null | undefined, key: string): boolean {
  return value?.[key] === true;
}

/** Returns `value[key]` as a list of ProtoObjects ([] when unset). */
export function list(value: ProtoObject | null | undefined, key: string): ProtoObject[] {
  const v = value?.[key];
  return Array.isArray(v) ? (v.filter((x) => typeof x === 'object' && x !== null) as ProtoObject[]) : [];
}

/** Returns `value[key]` as a list of strings ([] when unset). */
export function strings(value: ProtoObject | null | undefined, key: string): string[] {
  const v = value?.[key];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** Returns a google.protobuf.*Value wrapper's `value` (e.g. UInt32Value, BoolValue), or undefined when unset. */
export function wrapped<T extends number | boolean>(value: ProtoObject | null | undefined, key: string): T | undefined {
  const w = obj(value, key);
  if (w === undefined) return undefined;
  const v = w['value'];
  return (typeof v === 'string' ? Number(v) : v) as T;
}

/** The type URL of an Any as decoded by protos(): `'@type'` when the type is known, else `type_url`. */
export function anyTypeUrl(any: ProtoObject | undefined): string {
  if (any === undefined) return '';
  const t = any['@type'] ?? any['type_url'];
  return typeof t === 'string' ? t : '';
}

/** Largest value of a proto uint32. */
export const UINT32_MAX = 0xffffffff;

/**
 * Converts a google.protobuf.Duration to milliseconds (fractions of a ms rounded up, so 1ns is not "no timeout").
 * Returns undefined when unset, or an error string when negative or out of range.
 */
export function durationMs(value: ProtoObject | null | undefined, key: string): number | undefined | { error: string } {
  const d = obj(value, key);
  if (d === undefined) return undefined;
  const seconds = num(d, 'seconds');
  const nanos = num(d, 'nanos');
  if (!Number.isFinite(seconds) || seconds < 0 || nanos < 0 || nanos > 999_999_999 || seconds > 315_576_000_000) {
    return { error: `${key}: invalid duration ${seconds}s ${nanos}ns (must be non-negative)` };
  }
  return seconds * 1000 + Math.ceil(nanos / 1_000_000);
}

/**
 * Compiles an RE2 pattern (Envoy `safe_regex`) into a JS RegExp anchored to the whole value, as Envoy and gRPC match,
 * through the one RE2 reader the control plane validates with (`../../re2.ts`), so both sides accept the same
 * patterns. Returns the RegExp or a reason naming the pattern and the offset; never throws.
 */
export function compileSafeRegex(pattern: string): RegExp | { error: string } {
  const compiled = compileRe2(pattern);
  return isRe2Problem(compiled) ? { error: `regex '${pattern}': ${describeRe2Problem(compiled)}` } : compiled.regex;
}

/** Decodes an envoy.type.matcher.v3.StringMatcher into a StringMatcher, or a reason (`field` names it). */
export function decodeStringMatcher(m: ProtoObject, field: string): StringMatcher | { error: string } {
  const ignoreCase = bool(m, 'ignore_case');
  const pattern = str(m, 'match_pattern');
  switch (pattern) {
    case 'exact':
    case 'prefix':
    case 'suffix':
    case 'contains': {
      const value = str(m, pattern);
      if (pattern !== 'exact' && value === '') return { error: `${field}.${pattern}: must not be empty` };
      return { kind: pattern, value, ignoreCase };
    }
    case 'safe_regex':
      return decodeRegexMatcher(obj(m, 'safe_regex'), `${field}.safe_regex`);
    case '':
      return { error: `${field}: no match_pattern set` };
    default:
      return { error: `${field}: match_pattern '${pattern}' is not supported` };
  }
}

/** Decodes an envoy.type.matcher.v3.RegexMatcher into a regex StringMatcher, or a reason. */
export function decodeRegexMatcher(m: ProtoObject | undefined, field: string): StringMatcher | { error: string } {
  const value = str(m, 'regex');
  const regex = compileSafeRegex(value);
  if (!(regex instanceof RegExp)) return { error: `${field}: ${regex.error}` };
  return { kind: 'regex', value, regex };
}

/** True if `x` is the `{ error }` shape the helpers above return. */
export function isError(x: unknown): x is { error: string } {
  return typeof x === 'object' && x !== null && !(x instanceof RegExp) && typeof (x as { error?: unknown }).error === 'string';
}
