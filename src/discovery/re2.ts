// Reads an RE2 pattern (Envoy's and gRPC's `safe_regex`) and writes a JS RegExp with the same meaning, or says what
// RE2 (or JS) cannot do and where. The control plane (validation) and the SDK (route matching) both call this, so a
// pattern one side accepts the other accepts too. Syntax: https://github.com/google/re2/wiki/Syntax

/** A pattern RE2 accepts, as an equivalent JS RegExp anchored to the whole value (`^(?:…)$`), as Envoy and gRPC match. */
export interface Re2Compiled {
  /** The compiled JS RegExp (flags `u`, plus `i` when the whole pattern is case-insensitive); test with `.test()`. */
  readonly regex: RegExp;
}

/** Why a pattern was refused: what is wrong and the 0-based offset (in UTF-16 units) in the pattern where it is. */
export interface Re2Problem {
  /** What is wrong, as a phrase ("a look-ahead (?=, which RE2 does not support"). */
  readonly reason: string;
  /** Where in the pattern (0-based UTF-16 offset). */
  readonly offset: number;
}

/** Largest count RE2 allows in `{n,m}`, and the largest product of nested counts. */
const MAX_REPEAT = 1000;
/** Deepest group nesting RE2 parses. */
const MAX_DEPTH = 1000;

/**
 * Compiles an RE2 pattern into a JS RegExp that matches exactly the values RE2 fully matches, or returns why it
 * cannot (RE2 rejects it, or it uses something JS cannot express the same way). Never throws. Cost is linear in the
 * pattern; it runs once when config arrives, and matching then runs at plain JS RegExp speed.
 *
 * Translation: captures become non-capturing groups; `.`, `^`, `$`, `\s`, `\b`, `(?s)`, `(?m)`, `(?U)`,
 * `[[:posix:]]`, `\pN`/`\p{Script}`, `\Q…\E`, octal and `\x{…}` escapes get their RE2 meaning (ASCII Perl classes,
 * `\n` as the only line end). Refused beyond what RE2 refuses: `\C` (one byte), and `(?i)` on only part of the
 * pattern (Node 20's RegExp cannot switch case-folding mid-pattern; JS's `i` flag is used when it covers it all).
 * Known difference: under `(?i)`, JS also counts ſ (U+017F) and K (U+212A) as word characters for `\b`/`\B`.
 */
export function compileRe2(pattern: string): Re2Compiled | Re2Problem {
  let translated: { source: string; flags: string };
  try {
    translated = new Re2Reader(pattern).read();
  } catch (e: unknown) {
    if (e instanceof Refusal) return { reason: e.reason, offset: e.offset };
    throw e;
  }
  try {
    return { regex: new RegExp(`^(?:${translated.source})$`, translated.flags) };
  } catch (e: unknown) {
    // A bug in the translation, not in the user's pattern; still a clear refusal rather than a crash.
    return { reason: `cannot be translated to a JS RegExp (${e instanceof Error ? e.message : String(e)})`, offset: 0 };
  }
}

/** True when `r` is a refusal rather than a compiled pattern. */
export function isRe2Problem(r: Re2Compiled | Re2Problem): r is Re2Problem {
  return 'reason' in r;
}

/** One line for a refusal: the reason and where it is. */
export function describeRe2Problem(p: Re2Problem): string {
  return `${p.reason} (at offset ${p.offset})`;
}

class Refusal {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {}
}

interface Flags {
  i: boolean;
  m: boolean;
  s: boolean;
  U: boolean;
}

/** One atom of the output with what a following repetition needs to know about it. */
interface Piece {
  src: string;
  /** Zero-width (JS refuses a quantifier on it unless wrapped in a group). */
  assertion: boolean;
  /** Largest product of `{n,m}` counts along any nesting chain inside it (RE2 refuses more than 1000). */
  weight: number;
  /** Already carries a repetition operator (a further one must wrap it: `(?:a*)*`). */
  repeated: boolean;
}

type Range = readonly [number, number];

/**
 * A character class under construction: code-point ranges, positive JS property escapes, and negated parts (the
 * contents of a `[^…]` each). Negations stay `[^…]` rather than becoming complement ranges or `\P{…}` so that JS's
 * `i` flag folds before negating, as RE2 does: `(?i)\W` must not match `s` although ſ folds to it.
 */
interface ClassSet {
  ranges: Range[];
  props: string[];
  negParts: string[];
}

const MAX_CODE_POINT = 0x10ffff;
const PERL: Readonly<Record<string, readonly Range[]>> = {
  d: [[0x30, 0x39]],
  s: [[0x09, 0x0a], [0x0c, 0x0d], [0x20, 0x20]],
  w: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
};
const POSIX: Readonly<Record<string, readonly Range[]>> = {
  alnum: [[0x30, 0x39], [0x41, 0x5a], [0x61, 0x7a]],
  alpha: [[0x41, 0x5a], [0x61, 0x7a]],
  ascii: [[0x00, 0x7f]],
  blank: [[0x09, 0x09], [0x20, 0x20]],
  cntrl: [[0x00, 0x1f], [0x7f, 0x7f]],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [[0x21, 0x2f], [0x3a, 0x40], [0x5b, 0x60], [0x7b, 0x7e]],
  space: [[0x09, 0x0d], [0x20, 0x20]],
  upper: [[0x41, 0x5a]],
  word: [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]],
  xdigit: [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]],
};
/** The general categories RE2 names (RE2's `C` leaves out unassigned `Cn`, so it is spelt out below). */
const CATEGORIES = new Set(
  'Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs'.split(' '),
);
/** Script names of four letters that are full names, not the ISO 15924 codes RE2 does not accept (`Latn`). */
const FOUR_LETTER_SCRIPTS = new Set(['Thai', 'Cham', 'Lisu', 'Modi', 'Newa', 'Toto', 'Kawi']);

/** Special words for escapes RE2 lacks, so the refusal says what the user probably meant. */
const MISSING_ESCAPES: Readonly<Record<string, string>> = {
  k: 'a named back-reference (\\k<…>), which RE2 does not support',
  c: 'a control escape (\\c), which RE2 does not support; write \\x{HH}',
  u: 'a \\u escape, which RE2 does not support; write \\x{HHHH}',
  Z: 'the escape \\Z, which RE2 does not support; write \\z or $',
  G: 'the escape \\G, which RE2 does not support',
};

class Re2Reader {
  private i = 0;
  private depth = 0;
  private readonly names = new Set<string>();
  /** Offsets of the first case-sensitive atom read with (?i) on and with it off. */
  private foldedAt: number | undefined;
  private exactAt: number | undefined;

  constructor(private readonly re: string) {}

  read(): { source: string; flags: string } {
    const body = this.alternation({ i: false, m: false, s: false, U: false });
    if (this.i < this.re.length) throw new Refusal('an unmatched )', this.i);
    if (this.foldedAt !== undefined && this.exactAt !== undefined) {
      throw new Refusal(
        `(?i) covers only part of the pattern (case-insensitive at offset ${this.foldedAt}, case-sensitive at offset ` +
          `${this.exactAt}), which a JS RegExp on Node 20 cannot express; make the whole pattern (?i) or spell the cases out ([Aa])`,
        Math.max(this.foldedAt, this.exactAt),
      );
    }
    return { source: body.src, flags: this.foldedAt !== undefined ? 'iu' : 'u' };
  }

  /** Reads alternatives up to `)` or the end; `flags` is the enclosing group's, changed in place by `(?x)`. */
  private alternation(flags: Flags): Piece {
    const branches: string[] = [];
    let weight = 1;
    for (;;) {
      const pieces = this.concatenation(flags);
      branches.push(pieces.map((p) => p.src).join(''));
      for (const p of pieces) weight = Math.max(weight, p.weight);
      if (this.re[this.i] !== '|') break;
      this.i++;
    }
    return { src: branches.join('|'), assertion: false, weight, repeated: false };
  }

  private concatenation(flags: Flags): Piece[] {
    const pieces: Piece[] = [];
    // RE2 refuses a repetition operator right after another (`a**`, `a{2}{3}`), but not after a token that adds
    // nothing, such as `(?i)` or `\Q\E`: `a*(?i)*` repeats `a*` again.
    let afterRepeat = false;
    while (this.i < this.re.length) {
      const c = this.re[this.i]!;
      if (c === '|' || c === ')') break;
      const isRepeat = c === '*' || c === '+' || c === '?' || (c === '{' && this.counts() !== undefined);
      if (isRepeat) this.repeat(pieces, flags, afterRepeat);
      else pieces.push(...this.atom(flags));
      afterRepeat = isRepeat;
    }
    return pieces;
  }

  /** Parses `{n}`, `{n,}` or `{n,m}` at the cursor without moving it; undefined if it is not one (then `{` is literal). */
  private counts(): { min: number; max: number; end: number } | undefined {
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.re.slice(this.i, this.i + 40));
    if (!m) return undefined;
    // RE2 reads no leading zeros and nothing past 10^8; such braces are literal text.
    const ok = (s: string): boolean => !(s.length > 1 && s[0] === '0') && s.length <= 9;
    if (!ok(m[1]!) || (m[3] && !ok(m[3]))) return undefined;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? -1 : Number(m[3]);
    return { min, max, end: this.i + m[0].length };
  }

  private repeat(pieces: Piece[], flags: Flags, afterRepeat: boolean): void {
    const start = this.i;
    const c = this.re[start]!;
    let quantifier: string;
    let counted: { min: number; max: number } | undefined;
    if (c === '{') {
      const n = this.counts()!;
      counted = n;
      quantifier = n.max === n.min ? `{${n.min}}` : n.max === -1 ? `{${n.min},}` : `{${n.min},${n.max}}`;
      this.i = n.end;
    } else {
      quantifier = c;
      this.i++;
    }
    const lazy = this.re[this.i] === '?';
    if (lazy) this.i++;
    const op = this.re.slice(start, this.i);
    const last = pieces.at(-1);
    if (!last) throw new Refusal(`a repetition operator (${op}) with nothing before it to repeat`, start);
    if (afterRepeat) throw new Refusal(`a repetition operator (${op}) right after another (write (?:x*)* to mean that)`, start);
    let weight = last.weight;
    if (counted) {
      const { min, max } = counted;
      if (min > MAX_REPEAT || max > MAX_REPEAT || (max !== -1 && min > max)) {
        throw new Refusal(`the repetition ${op} (RE2 allows counts up to ${MAX_REPEAT}, minimum not above maximum)`, start);
      }
      const factor = max === -1 ? min : max;
      if (factor > 0) weight *= factor;
      if (weight > MAX_REPEAT) {
        throw new Refusal(`nested repetitions whose counts multiply to ${weight} at ${op} (RE2 allows ${MAX_REPEAT})`, start);
      }
    }
    // (?U) swaps which form is greedy.
    const nonGreedy = lazy !== flags.U;
    const target = last.assertion || last.repeated ? `(?:${last.src})` : last.src;
    pieces[pieces.length - 1] = { src: `${target}${quantifier}${nonGreedy ? '?' : ''}`, assertion: false, weight, repeated: true };
  }

  /** Reads one atom; a flag group or an empty `\Q\E` yields none, `\Q…\E` one per character. */
  private atom(flags: Flags): Piece[] {
    const start = this.i;
    const c = this.re[start]!;
    switch (c) {
      case '(':
        return this.group(flags);
      case '[':
        return [this.charClass(flags)];
      case '.':
        this.i++;
        return [simple(flags.s ? '[^]' : '[^\\n]')];
      case '^':
        this.i++;
        return [assertion(flags.m ? '(?<![^\\n])' : '^')];
      case '$':
        this.i++;
        return [assertion(flags.m ? '(?![^\\n])' : '$')];
      case '\\':
        return this.escape(flags);
      default: {
        const cp = this.re.codePointAt(start)!;
        this.i += cp > 0xffff ? 2 : 1;
        return [this.literal(cp, flags, start)];
      }
    }
  }

  private literal(cp: number, flags: Flags, offset: number): Piece {
    const ch = String.fromCodePoint(cp);
    if (ch.toLowerCase() !== ch || ch.toUpperCase() !== ch) this.noteCase(flags, offset);
    return simple(/^[A-Za-z0-9]$/.test(ch) ? ch : codePoint(cp));
  }

  private noteCase(flags: Flags, offset: number): void {
    if (flags.i) this.foldedAt ??= offset;
    else this.exactAt ??= offset;
  }

  private group(outer: Flags): Piece[] {
    const start = this.i;
    const re = this.re;
    this.i++;
    if (re[this.i] !== '?') return [this.groupBody({ ...outer }, start)];
    const rest = re.slice(this.i, this.i + 4);
    if (rest.startsWith('?P<') || (rest.startsWith('?<') && rest[2] !== '=' && rest[2] !== '!')) {
      const nameStart = this.i + (rest[1] === 'P' ? 3 : 2);
      const end = re.indexOf('>', nameStart);
      const name = end < 0 ? re.slice(nameStart) : re.slice(nameStart, end);
      if (end < 0 || !/^[A-Za-z0-9_]+$/.test(name)) {
        throw new Refusal(`an invalid group name '${name}' (RE2 names are letters, digits and _, closed by >)`, start);
      }
      if (this.names.has(name)) throw new Refusal(`a second group named '${name}'`, start);
      this.names.add(name);
      this.i = end + 1;
      return [this.groupBody({ ...outer }, start)];
    }
    if (rest.startsWith('?=') || rest.startsWith('?!')) throw new Refusal(`a look-ahead (${rest.slice(0, 2)}, which RE2 does not support`, start);
    if (rest.startsWith('?<=') || rest.startsWith('?<!')) throw new Refusal(`a look-behind (${rest.slice(0, 3)}, which RE2 does not support`, start);
    if (rest.startsWith('?P=')) throw new Refusal('a named back-reference ((?P=name)), which RE2 does not support', start);
    // Flags: (?i), (?i-s), (?U:re); a '-' must be followed by a flag, once.
    this.i++;
    const flags = { ...outer };
    let negated = false;
    let sawFlag = false;
    for (;;) {
      const ch = re[this.i];
      if (ch === undefined) throw new Refusal('a group that is never closed (missing ))', start);
      this.i++;
      if (ch === 'i' || ch === 'm' || ch === 's' || ch === 'U') {
        flags[ch] = !negated;
        sawFlag = true;
      } else if (ch === '-' && !negated) {
        negated = true;
        sawFlag = false;
      } else if ((ch === ':' || ch === ')') && !(negated && !sawFlag)) {
        if (ch === ':') return [this.groupBody(flags, start)];
        Object.assign(outer, flags); // (?flags) holds to the end of the enclosing group
        return [];
      } else {
        throw new Refusal(`the group syntax ${re.slice(start, this.i)}, which RE2 does not support (flags are i, m, s, U)`, start);
      }
    }
  }

  private groupBody(flags: Flags, start: number): Piece {
    if (++this.depth > MAX_DEPTH) throw new Refusal(`groups nested more than ${MAX_DEPTH} deep`, start);
    const inner = this.alternation(flags);
    if (this.re[this.i] !== ')') throw new Refusal('a group that is never closed (missing ))', start);
    this.i++;
    this.depth--;
    return { src: `(?:${inner.src})`, assertion: false, weight: inner.weight, repeated: false };
  }

  private escape(flags: Flags): Piece[] {
    const start = this.i;
    const n = this.re[start + 1];
    switch (n) {
      case 'b':
      case 'B':
        this.i += 2;
        return [assertion(`\\${n}`)];
      case 'A':
        this.i += 2;
        return [assertion('^')];
      case 'z':
        this.i += 2;
        return [assertion('$')];
      case 'C':
        throw new Refusal('\\C (any single byte), which has no JS RegExp equivalent', start);
      case 'Q': {
        this.i += 2;
        const end = this.re.indexOf('\\E', this.i);
        const stop = end < 0 ? this.re.length : end;
        const out: Piece[] = [];
        while (this.i < stop) {
          const cp = this.re.codePointAt(this.i)!;
          out.push(this.literal(cp, flags, this.i));
          this.i += cp > 0xffff ? 2 : 1;
        }
        if (end >= 0) this.i += 2;
        return out;
      }
      case 'p':
      case 'P':
      case 'd':
      case 'D':
      case 's':
      case 'S':
      case 'w':
      case 'W': {
        const set: ClassSet = { ranges: [], props: [], negParts: [] };
        this.classEscape(set);
        if (set.props.length > 0 || set.negParts.length > 0 || hasCase(set.ranges)) this.noteCase(flags, start);
        return [simple(emitClass(set, false))];
      }
      default:
        return [this.literal(this.charEscape(), flags, start)];
    }
  }

  /** Reads `\d`-style or `\p`-style escapes at the cursor into `set`; false if the cursor is at neither. */
  private classEscape(set: ClassSet): boolean {
    const start = this.i;
    const n = this.re[start + 1] ?? '';
    const perl = PERL[n.toLowerCase()];
    if (perl) {
      this.i += 2;
      if (n === n.toLowerCase()) set.ranges.push(...perl);
      else set.negParts.push(formatRanges(perl));
      return true;
    }
    if (n !== 'p' && n !== 'P') return false;
    let negated = n === 'P';
    let name: string;
    this.i += 2;
    if (this.re[this.i] === '{') {
      const end = this.re.indexOf('}', this.i);
      if (end < 0) throw new Refusal(`a \\${n}{ without its closing }`, start);
      name = this.re.slice(this.i + 1, end);
      this.i = end + 1;
    } else {
      const cp = this.re.codePointAt(this.i);
      if (cp === undefined) throw new Refusal(`a \\${n} without a class name`, start);
      name = String.fromCodePoint(cp);
      this.i += name.length;
    }
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const escapes = unicodeClass(name);
    if (escapes === 'any') set.ranges.push(...(negated ? [] : [[0, MAX_CODE_POINT] as const]));
    else if (!escapes) throw new Refusal(`an unknown Unicode class \\p{${name}} (RE2 knows general categories such as Lu and scripts such as Greek)`, start);
    else if (!negated) set.props.push(...escapes);
    else set.negParts.push(escapes.join(''));
    return true;
  }

  /** Reads an escape that stands for one character (octal, hex, control letters, escaped punctuation). */
  private charEscape(): number {
    const start = this.i;
    const re = this.re;
    const n = re[start + 1];
    if (n === undefined) throw new Refusal('a \\ at the end with nothing to escape', start);
    const isOctal = (ch: string | undefined): boolean => ch !== undefined && ch >= '0' && ch <= '7';
    // \1-\7 are octal only with a second digit; alone they are Perl back-references, which RE2 lacks.
    if ((n >= '1' && n <= '7' && isOctal(re[start + 2])) || n === '0') {
      let end = start + 2;
      while (end < start + 4 && isOctal(re[end])) end++;
      this.i = end;
      return parseInt(re.slice(start + 1, end), 8);
    }
    if (n >= '1' && n <= '9') throw new Refusal(`a back-reference (\\${n}), which RE2 does not support`, start);
    if (n === 'x') {
      const m = /^\\x(?:\{([0-9A-Fa-f]{1,8})\}|([0-9A-Fa-f]{2}))/.exec(re.slice(start, start + 12));
      const code = m ? parseInt(m[1] ?? m[2]!, 16) : NaN;
      if (!m || code > MAX_CODE_POINT) throw new Refusal('a \\x escape that is not \\xHH or \\x{H…} up to 10FFFF', start);
      this.i = start + m[0].length;
      return code;
    }
    const controls: Record<string, number> = { a: 7, f: 12, n: 10, r: 13, t: 9, v: 11 };
    const control = controls[n];
    this.i = start + 2;
    if (control !== undefined) return control;
    if (/^[\x00-\x7f]$/.test(n) && !/^[A-Za-z0-9]$/.test(n)) return n.charCodeAt(0);
    const escaped = String.fromCodePoint(re.codePointAt(start + 1)!);
    throw new Refusal(MISSING_ESCAPES[n] ?? `the escape \\${escaped}, which RE2 does not define here`, start);
  }

  private charClass(flags: Flags): Piece {
    const start = this.i;
    const re = this.re;
    this.i++;
    const negated = re[this.i] === '^';
    if (negated) this.i++;
    const set: ClassSet = { ranges: [], props: [], negParts: [] };
    for (let first = true; ; first = false) {
      if (this.i >= re.length) throw new Refusal('a character class that is never closed (missing ])', start);
      const c = re[this.i];
      if (c === ']' && !first) break;
      if (c === '[' && re[this.i + 1] === ':') {
        const end = re.indexOf(':]', this.i + 2);
        if (end >= 0) {
          const name = re.slice(this.i + 2, end);
          const ranges = POSIX[name.replace(/^\^/, '')];
          if (!ranges) throw new Refusal(`an unknown POSIX class [:${name}:]`, this.i);
          if (name.startsWith('^')) set.negParts.push(formatRanges(ranges));
          else set.ranges.push(...ranges);
          this.i = end + 2;
          continue;
        }
      }
      if (c === '\\' && this.classEscape(set)) continue;
      const rangeStart = this.i;
      const lo = this.classChar();
      let hi = lo;
      if (re[this.i] === '-' && this.i + 1 < re.length && re[this.i + 1] !== ']') {
        this.i++;
        hi = this.classChar();
        if (hi < lo) throw new Refusal(`the class range ${re.slice(rangeStart, this.i)}, whose end comes before its start`, rangeStart);
      }
      set.ranges.push([lo, hi]);
    }
    this.i++;
    if (set.props.length > 0 || set.negParts.length > 0 || hasCase(set.ranges)) this.noteCase(flags, start);
    return simple(emitClass(set, negated));
  }

  private classChar(): number {
    const re = this.re;
    if (re[this.i] === '\\') {
      const n = re[this.i + 1] ?? '';
      if ('dDsSwWpP'.includes(n) && n !== '') throw new Refusal(`a class escape (\\${n}) as the end of a range`, this.i);
      return this.charEscape();
    }
    const cp = re.codePointAt(this.i)!;
    this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }
}

function simple(src: string): Piece {
  return { src, assertion: false, weight: 1, repeated: false };
}

function assertion(src: string): Piece {
  return { src, assertion: true, weight: 1, repeated: false };
}

function codePoint(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

/** JS escapes for an RE2 Unicode class name, 'any' for `Any`, or undefined if RE2 does not know the name. */
function unicodeClass(name: string): readonly string[] | 'any' | undefined {
  if (name === 'Any') return 'any';
  if (name === 'C') return ['\\p{Cc}', '\\p{Cf}', '\\p{Co}', '\\p{Cs}'];
  if (CATEGORIES.has(name)) return [`\\p{${name}}`];
  // RE2 takes full script names only; JS also takes ISO codes (Latn), which all have four letters.
  if (!/^[A-Z][A-Za-z_]*$/.test(name) || (name.length === 4 && !FOUR_LETTER_SCRIPTS.has(name))) return undefined;
  try {
    new RegExp(`\\p{Script=${name}}`, 'u');
    return [`\\p{Script=${name}}`];
  } catch {
    return undefined;
  }
}

function formatRanges(ranges: readonly Range[]): string {
  return ranges.map(([lo, hi]) => (lo === hi ? codePoint(lo) : `${codePoint(lo)}-${codePoint(hi)}`)).join('');
}

/** Whether case-folding could change what `ranges` match (large ranges are assumed to contain cased letters). */
function hasCase(ranges: readonly Range[]): boolean {
  return ranges.some(([lo, hi]) => {
    if (hi - lo > 512) return true;
    for (let cp = lo; cp <= hi; cp++) {
      const ch = String.fromCodePoint(cp);
      if (ch.toLowerCase() !== ch || ch.toUpperCase() !== ch) return true;
    }
    return false;
  });
}

/** Writes a class as JS: one `[…]` where it can, else a union of `[…]` and `[^…]` parts (negated: a look-ahead). */
function emitClass(set: ClassSet, negated: boolean): string {
  const positive = formatRanges(set.ranges) + set.props.join('');
  if (set.negParts.length === 0) return `[${negated ? '^' : ''}${positive}]`;
  if (!positive && set.negParts.length === 1) return `[${negated ? '' : '^'}${set.negParts[0]!}]`;
  const parts = [...(positive ? [`[${positive}]`] : []), ...set.negParts.map((p) => `[^${p}]`)];
  const union = `(?:${parts.join('|')})`;
  return negated ? `(?:(?!${union})[^])` : union;
}
