// Turns zod validation issues into ConfigErrors a user can act on: a dotted field path and a plain message.
import type { z } from 'zod';
import type { ConfigError } from '../model.js';
import { UNSUPPORTED_GATEWAY_FIELDS } from './schema.js';

/** A path segment of a field inside a resource. */
export type FieldPath = readonly PropertyKey[];

/** `['spec','rules',0,'weight']` → `spec.rules[0].weight`. */
export function formatFieldPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out;
}

/** Where an error is: file and `Kind/name` (both already known when issues are converted). */
export interface ErrorPlace {
  readonly file: string;
  readonly resource: string;
}

/** Converts every issue of a failed parse of `input` (the raw document) against `schema` into ConfigErrors. */
export function issuesToErrors(
  issues: readonly z.core.$ZodIssue[],
  input: unknown,
  schema: z.ZodType,
  place: ErrorPlace,
  routeKind: boolean,
): ConfigError[] {
  const errors: ConfigError[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, issue.path);
      const parent = [...issue.path].reverse().find((s): s is string => typeof s === 'string') ?? '';
      for (const key of issue.keys) {
        errors.push({ ...place, field: formatFieldPath([...issue.path, key]), message: unknownKeyMessage(key, known, parent, routeKind) });
      }
      continue;
    }
    errors.push({ ...place, field: formatFieldPath(issue.path), message: issueMessage(issue, valueAt(input, issue.path)) });
  }
  return errors;
}

function unknownKeyMessage(key: string, known: readonly string[], parent: string, routeKind: boolean): string {
  if (routeKind && UNSUPPORTED_GATEWAY_FIELDS.get(key)?.includes(parent)) {
    return `"${key}" is a Gateway API field that Weft does not support yet; remove it`;
  }
  const guess = closest(key, known);
  const hint = guess ? ` (did you mean "${guess}"?)` : known.length ? ` (known fields: ${known.join(', ')})` : '';
  return `unknown field "${key}"${hint}`;
}

/** Default zod messages are rewritten; messages written in the schemas are kept as they are. */
function issueMessage(issue: z.core.$ZodIssue, value: unknown): string {
  const isDefault = /^(Invalid|Too (small|big)|Unrecognized)/.test(issue.message);
  if (!isDefault) return issue.message;
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required';
      if (issue.expected === 'int') return `must be a whole number (got ${describe(value)})`;
      return `must be ${article(issue.expected)} (got ${describe(value)})`;
    case 'invalid_value':
      if (value === undefined) return 'is required';
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')} (got ${describe(value)})`;
    case 'too_small':
      if (issue.origin === 'array') return `needs at least ${String(issue.minimum)} entr${issue.minimum === 1 ? 'y' : 'ies'}`;
      if (issue.origin === 'string') return issue.minimum === 1 ? 'must not be empty' : `must be at least ${String(issue.minimum)} characters`;
      return `must be at least ${String(issue.minimum)} (got ${describe(value)})`;
    case 'too_big':
      if (issue.origin === 'array') return `may have at most ${String(issue.maximum)} entries`;
      if (issue.origin === 'string') return `must be at most ${String(issue.maximum)} characters`;
      return `must be at most ${String(issue.maximum)} (got ${describe(value)})`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  if (expected === 'object') return 'a mapping (key: value pairs)';
  if (expected === 'array') return 'a list';
  return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  return String(value);
}

/** The value at `path` inside `input`, or undefined. */
export function valueAt(input: unknown, path: FieldPath): unknown {
  let v: unknown = input;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

type Def = { type?: string; innerType?: unknown; in?: unknown; element?: unknown; shape?: Record<string, unknown> };

function defOf(schema: unknown): Def {
  return ((schema as { _zod?: { def?: Def } })?._zod?.def ?? {}) as Def;
}

function unwrap(schema: unknown): unknown {
  for (let i = 0; i < 16; i++) {
    const def = defOf(schema);
    if (def.innerType !== undefined) schema = def.innerType;
    else if (def.type === 'pipe') schema = def.in;
    else return schema;
  }
  return schema;
}

/** The field names the object schema at `path` accepts (empty if it cannot be found). */
export function knownKeysAt(schema: z.ZodType, path: FieldPath): string[] {
  let s: unknown = unwrap(schema);
  for (const seg of path) {
    const def = defOf(s);
    if (def.type === 'array' && typeof seg === 'number') s = unwrap(def.element);
    else if (def.type === 'object' && typeof seg === 'string' && def.shape) s = unwrap(def.shape[seg]);
    else return [];
  }
  const def = defOf(s);
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : [];
}

/** The known name closest to `key` (a typo, a missing 's', another case), if one is close enough. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = k.toLowerCase() === key.toLowerCase() ? 0 : editDistance(key, k);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  }
  return bestDistance <= Math.max(1, Math.min(3, Math.floor(key.length / 3))) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}
