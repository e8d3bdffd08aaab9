// Request authentication (Envoy jwt_authn semantics): extract each provider's token, verify what the matching rule
// requires, and return the verified payloads or why the request is refused. Compiled once per policy update.
import type { JwtAuthnFilter, JwtProvider, JwtRequirement } from '../../discovery/inbound-policy.js';
import { compilePathMatcher } from '../../discovery/string-matcher.js';
import type { KeySourceOptions } from './jwks.js';
import { compileProvider, type CompiledProvider, type JwtFailureReason, type VerifyOutcome } from './jwt-provider.js';

/** A verified JWT payload. */
export type JwtClaims = Readonly<Record<string, unknown>>;

/** What authn reads of a request. */
export interface AuthnRequest {
  /** Normalized path without the query (rules match on it). */
  readonly path: string;
  /** A request header by lower-case name, or undefined. */
  header(name: string): string | undefined;
}

/** The outcome of authenticating one request. */
export type AuthnResult =
  | {
      readonly ok: true;
      /** The payload of the first verified token (what jwtClaims(req) returns); undefined when none was verified. */
      readonly claims: JwtClaims | undefined;
      /** Verified payloads by `payload_in_metadata` key (what RBAC metadata matchers read). */
      readonly metadata: ReadonlyMap<string, JwtClaims> | undefined;
      /** Token headers to remove before the handler runs (providers with `forward: false`). */
      readonly strip: readonly string[];
    }
  | { readonly ok: false; readonly reason: JwtFailureReason; readonly detail: string };

/** A jwt_authn filter compiled for evaluation. */
export interface CompiledJwtAuthn {
  readonly name: string;
  /**
   * Authenticates `req`: synchronous when every token involved was verified before (cache hit) or none is needed,
   * a Promise otherwise. Never throws or rejects.
   */
  check(req: AuthnRequest): AuthnResult | Promise<AuthnResult>;
}

/** Compiled providers kept across policy updates (same spec, same keys and verified-token cache). */
export class ProviderPool {
  #providers = new Map<string, CompiledProvider>();
  #used = new Set<string>();
  readonly #options: KeySourceOptions;
  readonly #onPrefetchError: (provider: string, e: unknown) => void;

  constructor(options: KeySourceOptions, onPrefetchError: (provider: string, e: unknown) => void) {
    this.#options = options;
    this.#onPrefetchError = onPrefetchError;
  }

  /** The compiled provider for `spec`: the one already held for an equal spec, or a new one (remote keys prefetched). */
  get(spec: JwtProvider): CompiledProvider {
    const key = JSON.stringify(spec);
    this.#used.add(key);
    let p = this.#providers.get(key);
    if (p === undefined) {
      p = compileProvider(spec, this.#options);
      p.prefetch((e) => this.#onPrefetchError(spec.name, e));
      this.#providers.set(key, p);
    }
    return p;
  }

  /** Forgets providers no compile used since the last sweep (call after compiling a new policy). */
  sweep(): void {
    for (const key of this.#providers.keys()) if (!this.#used.has(key)) this.#providers.delete(key);
    this.#used = new Set();
  }
}

const NOTHING: AuthnResult = Object.freeze({ ok: true, claims: undefined, metadata: undefined, strip: Object.freeze([]) });

type Eval = { readonly ok: true } | { readonly ok: false; readonly reason: JwtFailureReason; readonly detail: string; readonly rank: number };

/** Compiles `filter`: providers from `pool`, rule matchers built now. */
export function compileJwtAuthn(filter: JwtAuthnFilter, pool: ProviderPool): CompiledJwtAuthn {
  const providers = new Map<string, CompiledProvider>();
  for (const [name, spec] of filter.providers) providers.set(name, pool.get(spec));
  const rules = filter.rules.map((r) => ({
    match: compilePathMatcher(r.match),
    requires: r.requires,
    needed: new Set(r.requires ? neededBy(r.requires) : []),
    // The result for a request with no token, and, per provider, for its one cached verified token: most requests
    // repeat one of these, so they cost no allocation once seen.
    none: [undefined, undefined] as (AuthnResult | undefined)[],
    single: new Map<string, WeakMap<VerifyOutcome, AuthnResult>>(),
  }));
  const all = [...providers.values()];

  return Object.freeze({
    name: filter.name,
    check(req: AuthnRequest): AuthnResult | Promise<AuthnResult> {
      const rule = rules.find((r) => r.match(req.path));
      if (rule === undefined || rule.requires === undefined) return NOTHING;
      const requires = rule.requires;
      // One token is the common case: keep it in locals and make a Map only for a second one.
      let firstName: string | undefined;
      let firstToken = '';
      let tokens: Map<string, string> | undefined;
      let anyToken = false;
      for (const p of all) {
        const token = extract(p.spec, req);
        if (token === undefined) continue;
        anyToken = true;
        if (!rule.needed.has(p.spec.name)) continue;
        if (firstName === undefined) {
          firstName = p.spec.name;
          firstToken = token;
        } else (tokens ??= new Map([[firstName, firstToken]])).set(p.spec.name, token);
      }
      if (firstName === undefined) {
        // A token may sit where only providers this rule does not need look (then allow_missing does not hold).
        const i = anyToken ? 1 : 0;
        return (rule.none[i] ??= result(requires, EMPTY_TOKENS, EMPTY_OUTCOMES, anyToken, providers));
      }
      if (tokens === undefined) {
        const hit = providers.get(firstName)!.cached(firstToken);
        if (hit !== undefined) {
          let memo = rule.single.get(firstName);
          if (memo === undefined) rule.single.set(firstName, (memo = new WeakMap()));
          let r = memo.get(hit);
          if (r === undefined) memo.set(hit, (r = result(requires, new Map([[firstName, firstToken]]), new Map([[firstName, hit]]), true, providers)));
          return r;
        }
        tokens = new Map([[firstName, firstToken]]);
      }
      const found = tokens;
      const outcomes = new Map<string, VerifyOutcome>();
      const pending: Promise<void>[] = [];
      for (const [name, token] of found) {
        const p = providers.get(name)!;
        const hit = p.cached(token);
        if (hit !== undefined) outcomes.set(name, hit);
        else pending.push(p.verify(token).then((o) => void outcomes.set(name, o)));
      }
      const finish = (): AuthnResult => result(requires, found, outcomes, anyToken, providers);
      return pending.length === 0 ? finish() : Promise.all(pending).then(finish);
    },
  });
}

const EMPTY_TOKENS: ReadonlyMap<string, string> = new Map();
const EMPTY_OUTCOMES: ReadonlyMap<string, VerifyOutcome> = new Map();

/** The token of `spec` in `req`: the first of its header locations present, its value prefix stripped. */
function extract(spec: JwtProvider, req: AuthnRequest): string | undefined {
  for (const loc of spec.fromHeaders) {
    const value = req.header(loc.name);
    if (value === undefined) continue;
    const prefix = loc.valuePrefix;
    if (prefix === '') return value.trim() || undefined;
    // The scheme is case-insensitive (RFC 7235): `bearer x` is a Bearer token too.
    if (value.length > prefix.length && value.slice(0, prefix.length).toLowerCase() === prefix.toLowerCase()) {
      return value.slice(prefix.length).trim() || undefined;
    }
  }
  return undefined;
}

function neededBy(r: JwtRequirement): string[] {
  switch (r.kind) {
    case 'provider':
      return [r.provider];
    case 'any':
    case 'all':
      return [...new Set(r.requirements.flatMap(neededBy))];
    default:
      return [];
  }
}

function result(
  requires: JwtRequirement,
  tokens: ReadonlyMap<string, string>,
  outcomes: ReadonlyMap<string, VerifyOutcome>,
  anyToken: boolean,
  providers: ReadonlyMap<string, CompiledProvider>,
): AuthnResult {
  const verdict = evaluate(requires, tokens, outcomes, anyToken);
  if (!verdict.ok) return Object.freeze({ ok: false, reason: verdict.reason, detail: verdict.detail });
  let claims: JwtClaims | undefined;
  let metadata: Map<string, JwtClaims> | undefined;
  const strip: string[] = [];
  for (const [name, outcome] of outcomes) {
    if (!outcome.ok) continue;
    const spec = providers.get(name)!.spec;
    claims ??= outcome.payload;
    if (spec.payloadInMetadata !== '') (metadata ??= new Map()).set(spec.payloadInMetadata, outcome.payload);
    if (!spec.forward) for (const loc of spec.fromHeaders) strip.push(loc.name);
  }
  return Object.freeze({ ok: true, claims, metadata, strip: Object.freeze(strip) });
}

/** Envoy's requirement semantics; failures carry a rank so `any` reports the most telling one. */
function evaluate(r: JwtRequirement, tokens: ReadonlyMap<string, string>, outcomes: ReadonlyMap<string, VerifyOutcome>, anyToken: boolean): Eval {
  switch (r.kind) {
    case 'provider': {
      if (!tokens.has(r.provider)) return { ok: false, reason: 'jwt_missing', detail: `a token is required (provider ${r.provider})`, rank: 1 };
      const o = outcomes.get(r.provider)!;
      if (o.ok) return { ok: true };
      return { ok: false, reason: o.reason, detail: o.detail, rank: o.reason === 'jwt_issuer_mismatch' ? 2 : 3 };
    }
    case 'any': {
      let worst: Eval | undefined;
      for (const child of r.requirements) {
        const e = evaluate(child, tokens, outcomes, anyToken);
        if (e.ok) return e;
        if (worst === undefined || (!worst.ok && e.rank > worst.rank)) worst = e;
      }
      return worst ?? { ok: true };
    }
    case 'all': {
      for (const child of r.requirements) {
        const e = evaluate(child, tokens, outcomes, anyToken);
        if (!e.ok) return e;
      }
      return { ok: true };
    }
    case 'allow-missing':
      return anyToken ? { ok: false, reason: 'jwt_invalid', detail: 'a token is present, so it must be valid', rank: 0 } : { ok: true };
    case 'allow-missing-or-failed':
      return { ok: true };
  }
}
