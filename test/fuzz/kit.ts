// Shared pieces of the property-based (fast-check) tests: run count and seed from the environment, a per-input time
// bound, and one mutator of plain data (config documents and decoded protos alike) that "valid but odd" inputs grow from.
import fc from 'fast-check';

/** Default runs per property: small, so the whole fuzz set adds seconds to the normal suite. */
export const DEFAULT_FUZZ_RUNS = 60;

/**
 * fast-check parameters for one property, `runs` scaled by `WEFT_FUZZ_RUNS` (a multiplier of the default count:
 * `WEFT_FUZZ_RUNS=5000` runs each property 5000 / DEFAULT_FUZZ_RUNS times its default). `WEFT_FUZZ_SEED` replays
 * the seed a failure printed (with `WEFT_FUZZ_PATH` for its shrunk path), so a counterexample reproduces exactly.
 */
export function fuzzParams<T>(runs = DEFAULT_FUZZ_RUNS): fc.Parameters<T> {
  const env = process.env;
  const scaled = env['WEFT_FUZZ_RUNS'] ? Math.max(1, Math.round((runs * Number(env['WEFT_FUZZ_RUNS'])) / DEFAULT_FUZZ_RUNS)) : runs;
  const seed = env['WEFT_FUZZ_SEED'] ? Number(env['WEFT_FUZZ_SEED']) : undefined;
  return {
    numRuns: Number.isFinite(scaled) ? scaled : runs,
    ...(seed !== undefined && Number.isFinite(seed) && { seed }),
    ...(env['WEFT_FUZZ_PATH'] && { path: env['WEFT_FUZZ_PATH'] }),
    // The report fast-check prints on failure names the seed and path; say how to replay them here.
    reporter: (details) => {
      if (!details.failed) return;
      const message = fc.defaultReportMessage(details) ?? 'property failed';
      throw new Error(`${message}\nReplay: WEFT_FUZZ_SEED=${details.seed} WEFT_FUZZ_PATH=${details.counterexamplePath ?? ''}`, {
        cause: details.errorInstance,
      });
    },
  };
}

/** Runs `fn` and fails if it took longer than `limitMs` (a hang or a pathological input, not a speed check). */
export function bounded<T>(what: string, limitMs: number, fn: () => T): T {
  const start = performance.now();
  const out = fn();
  const took = performance.now() - start;
  if (took > limitMs) throw new Error(`${what} took ${Math.round(took)} ms on one input (bound ${limitMs} ms)`);
  return out;
}

/** Scalars that sit at the edges of what configs and protos accept: zero, negatives, huge, empty, odd strings. */
export const ODD_SCALARS: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1,
  0.5,
  -0.000001,
  2 ** 31,
  2 ** 32 + 1,
  Number.MAX_SAFE_INTEGER,
  1e308,
  '',
  ' ',
  '0',
  '-1',
  '0s',
  '0ms',
  '-1s',
  '1ns',
  '99999999999h',
  '1.5s',
  'NaN',
  'Infinity',
  '*',
  '.*',
  '(',
  '(a+)+$',
  '/',
  '\u0000',
  '\u{1F600}',
  'a'.repeat(300),
  'x'.repeat(70_000),
  '10.0.0.1',
  '::1',
  '-',
  'UPPER',
  'a.b',
  [],
  {},
  [null],
];

/** One way to change a value at a path. */
export type Mutation =
  | { readonly op: 'delete'; readonly path: readonly PropertyKey[] }
  | { readonly op: 'set'; readonly path: readonly PropertyKey[]; readonly value: unknown }
  | { readonly op: 'duplicate'; readonly path: readonly PropertyKey[] };

/** Every path to a value inside `value` (objects and arrays, depth-first), the root excluded. */
export function pathsOf(value: unknown, prefix: readonly PropertyKey[] = [], out: PropertyKey[][] = []): PropertyKey[][] {
  if (value === null || typeof value !== 'object') return out;
  const entries: [PropertyKey, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [k, v] of entries) {
    const path = [...prefix, k];
    out.push(path);
    pathsOf(v, path, out);
  }
  return out;
}

/** A deep copy of plain data (JSON-like values; Uint8Arrays copied). */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/**
 * Applies `mutation` to a copy of `value`: deletes the field (or array entry), sets it, or duplicates an array entry
 * (the entry at the path is appended again, e.g. a second resource or rule of the same name). A path that no longer
 * exists (an earlier mutation removed it) leaves the value as it is.
 */
export function mutate<T>(value: T, mutation: Mutation): T {
  const copy = clone(value);
  const path = mutation.path;
  if (path.length === 0) return mutation.op === 'set' ? (mutation.value as T) : copy;
  let parent: unknown = copy;
  for (const seg of path.slice(0, -1)) {
    if (parent === null || typeof parent !== 'object') return copy;
    parent = (parent as Record<PropertyKey, unknown>)[seg];
  }
  if (parent === null || typeof parent !== 'object') return copy;
  const key = path[path.length - 1]!;
  const holder = parent as Record<PropertyKey, unknown>;
  if (!(key in holder)) return copy;
  if (mutation.op === 'delete') {
    if (Array.isArray(parent) && typeof key === 'number') parent.splice(key, 1);
    else delete holder[key];
  } else if (mutation.op === 'set') {
    holder[key] = clone(mutation.value);
  } else if (Array.isArray(parent)) {
    parent.push(clone(holder[key]));
  } else {
    holder[key] = clone(holder[key]);
  }
  return copy;
}

/** Values a field is set to: the odd scalars, small structures, and (rarely) anything fast-check makes. */
export const oddValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...ODD_SCALARS) },
  { weight: 2, arbitrary: fc.oneof(fc.integer(), fc.double(), fc.string({ maxLength: 20 })) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2, maxKeys: 3 }) },
);

/**
 * Up to `max` mutations of `value`, each at one of its paths, as the list applied in order. `extraValues` adds
 * values that matter for this data (names of other resources, so references cross to something unexpected).
 */
export function mutationsOf(value: unknown, max = 3, extraValues: readonly unknown[] = []): fc.Arbitrary<Mutation[]> {
  const paths = pathsOf(value);
  if (paths.length === 0) return fc.constant([]);
  const values = extraValues.length > 0 ? fc.oneof({ weight: 4, arbitrary: oddValue }, { weight: 1, arbitrary: fc.constantFrom(...extraValues) }) : oddValue;
  const one: fc.Arbitrary<Mutation> = fc.oneof(
    { weight: 2, arbitrary: fc.constantFrom(...paths).map((path): Mutation => ({ op: 'delete', path })) },
    { weight: 3, arbitrary: fc.tuple(fc.constantFrom(...paths), values).map(([path, v]): Mutation => ({ op: 'set', path, value: v })) },
    {
      weight: 4,
      arbitrary: fc.constantFrom(...paths).chain((path) => similarTo(valueAt(value, path)).map((v): Mutation => ({ op: 'set', path, value: v }))),
    },
    { weight: 1, arbitrary: fc.constantFrom(...paths).map((path): Mutation => ({ op: 'duplicate', path })) },
  );
  return fc.array(one, { minLength: 1, maxLength: max });
}

/** `value` with every mutation of `list` applied in order. */
export function mutateAll<T>(value: T, list: readonly Mutation[]): T {
  return list.reduce((v, m) => mutate(v, m), value);
}

const DURATION = /^\d+(\.\d+)?(ns|us|ms|s|m|h)$/;

/**
 * Values of the same type as `original` at its edges: a duration becomes 0s, 1ns or hours; a number 0, negative,
 * fractional or huge; a string empty, huge or full of odd characters. These pass type checks, so they probe the
 * range checks (what a schema accepts but a consumer refuses).
 */
export function similarTo(original: unknown): fc.Arbitrary<unknown> {
  if (typeof original === 'string' && DURATION.test(original)) {
    return fc.oneof(
      fc.constantFrom('0s', '0ms', '0h', '1ns', '1us', '1ms', '0.001s', '999999h', '2147483648s', '100000000000ms', '1.5ms'),
      fc.tuple(fc.nat({ max: 100_000 }), fc.constantFrom('ms', 's', 'm', 'h')).map(([n, u]) => `${n}${u}`),
    );
  }
  if (typeof original === 'number') {
    return fc.oneof(
      fc.constantFrom(0, -1, 1, 2, 0.5, 0.999, 1.0001, 99, 100, 101, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 1e15),
      Number.isInteger(original) ? fc.integer({ min: -1, max: Math.max(2, original * 4) }) : fc.double({ min: -1, max: 1e6, noNaN: true }),
    );
  }
  if (typeof original === 'string') {
    return fc.oneof(fc.constantFrom('', ' ', '*', '/', 'a'.repeat(254), 'x'.repeat(5000), '\u00e9', 'A', '-a', 'a-', '.', '..'), fc.string({ maxLength: 8 }));
  }
  if (Array.isArray(original)) return fc.constantFrom([], [original[0]], [...original, ...original]);
  if (typeof original === 'boolean') return fc.boolean();
  return oddValue;
}

/** The value at `path` inside `value`, or undefined. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let v = value;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}
