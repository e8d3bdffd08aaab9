// Compiles a server's InboundPolicy (once per update) into its request pipeline: per filter chain, the HTTP filters
// in HCM order (jwt_authn → RBAC → local rate limit) as stages that only match against tables built here.
import type { InboundChain, InboundPolicy, InboundRoute, InboundVirtualHost, TokenBucketSpec } from '../../discovery/inbound-policy.js';
import type { HeaderMatcher } from '../../discovery/mesh-state.js';
import { compilePathMatcher, compileStringMatcher } from '../../discovery/string-matcher.js';
import { findVirtualHost } from '../../discovery/xds/virtual-host.js';
import { compileJwtAuthn, type ProviderPool, type AuthnResult, type JwtClaims } from '../../policy/authn/index.js';
import { compileRbac, type AuthzRequest } from '../../policy/authz/index.js';
import { sameBucketSpec, TokenBucket } from '../../policy/rate-limit/index.js';
import type { Refusal } from './refusal.js';

/** One inbound request as the HTTP and gRPC adapters describe it. `jwt` is filled in by authn. */
export interface InboundRequest extends AuthzRequest {
  /** True when the connection is TLS (picks the filter chain). */
  readonly tls: boolean;
  jwt: AuthzRequest['jwt'];
}

/** What the pipeline decided. */
export type Decision =
  | {
      readonly ok: true;
      /** The verified JWT payload, if a token was verified. */
      readonly claims: JwtClaims | undefined;
      /** Token headers to remove before the handler (jwt providers with `forward: false`). */
      readonly strip: readonly string[];
    }
  | { readonly ok: false; readonly refusal: Refusal };

/** A policy compiled for requests. */
export interface CompiledInbound {
  /** True when nothing is enforced on any connection: adapters skip the pipeline entirely. */
  readonly passThrough: boolean;
  /**
   * False when no filter chain takes plaintext connections (STRICT mTLS): a server that cannot refuse per request (a
   * gRPC server not made by mesh.grpc.server()) refuses such connections instead. True for a refuse-all pipeline,
   * whose requests are refused anyway.
   */
  readonly plaintextAllowed: boolean;
  /** Decides `req`: synchronously unless a token must be verified (or keys fetched). Never throws or rejects. */
  check(req: InboundRequest): Decision | Promise<Decision>;
}

/** Rate-limit buckets kept across policy updates, so an unrelated change does not refill them. */
export class BucketPool {
  #buckets = new Map<string, TokenBucket>();
  #used = new Set<string>();
  readonly #nowMs: () => number;

  constructor(nowMs: () => number) {
    this.#nowMs = nowMs;
  }

  /** The bucket for `key` with `spec`: the one held if its spec is the same, else a new full one. */
  get(key: string, spec: TokenBucketSpec): TokenBucket {
    this.#used.add(key);
    const held = this.#buckets.get(key);
    if (held !== undefined && sameBucketSpec(held.spec, spec)) return held;
    const bucket = new TokenBucket(spec, this.#nowMs());
    this.#buckets.set(key, bucket);
    return bucket;
  }

  /** Forgets buckets the last compile did not use. */
  sweep(): void {
    for (const key of this.#buckets.keys()) if (!this.#used.has(key)) this.#buckets.delete(key);
    this.#used = new Set();
  }
}

/** What compileInboundPolicy needs: the clock, and the pools that keep state across updates. */
export interface PipelineDeps {
  readonly nowMs: () => number;
  readonly providers: ProviderPool;
  readonly buckets: BucketPool;
}

/** Continue with the next stage. */
const NEXT = 0;
type StageResult = typeof NEXT | Decision | Promise<typeof NEXT | Decision>;
type Stage = (req: InboundRequest, state: RequestState) => StageResult;
interface RequestState {
  claims: JwtClaims | undefined;
  strip: readonly string[];
  /** The one authn result that set claims and strip, when only one did (its decision is then memoized). */
  authn: AuthnResult | undefined;
  authnCount: number;
}

/** The allow decision of a request whose only authn result is the key (results are shared for cached tokens). */
const decisions = new WeakMap<AuthnResult, Decision>();

const NO_HEADERS: readonly string[] = Object.freeze([]);
const ALLOWED: Decision = Object.freeze({ ok: true, claims: undefined, strip: NO_HEADERS });

/** A pipeline that lets everything through (no policy, or an absent one). */
export const PASS_THROUGH: CompiledInbound = Object.freeze({ passThrough: true, plaintextAllowed: true, check: () => ALLOWED });

/** A pipeline that refuses everything with `refusal` (e.g. the policy was refused and there is no last good one). */
export function refuseAll(refusal: Refusal): CompiledInbound {
  const decision: Decision = Object.freeze({ ok: false, refusal });
  return Object.freeze({ passThrough: false, plaintextAllowed: true, check: () => decision });
}

/** Compiles `policy`: every matcher, RBAC table, JWT provider and bucket is built (or reused) here. */
export function compileInboundPolicy(policy: InboundPolicy, deps: PipelineDeps): CompiledInbound {
  const chains = policy.chains.map((c, i) => ({ chain: c, stages: compileChain(c, `chain${i}`, deps) }));
  const fallback = policy.defaultChain === undefined ? undefined : compileChain(policy.defaultChain, 'default', deps);
  const passThrough = chains.every((c) => c.stages.length === 0 && !c.chain.tlsOnly && !c.chain.plaintextOnly) && chains.length > 0;
  const pick = (tls: boolean): readonly Stage[] | undefined => {
    for (const c of chains) if (tls ? !c.chain.plaintextOnly : !c.chain.tlsOnly) return c.stages;
    return fallback;
  };
  const plain = pick(false);
  const secure = pick(true);
  return Object.freeze({
    passThrough,
    plaintextAllowed: plain !== undefined,
    check(req: InboundRequest): Decision | Promise<Decision> {
      const stages = req.tls ? secure : plain;
      if (stages === undefined) {
        return refused('WEFT_ERR_PERMISSION_DENIED', 'no_filter_chain', req.tls ? 'no filter chain takes TLS connections' : 'no filter chain takes plaintext connections (mTLS is required)');
      }
      if (stages.length === 0) return ALLOWED;
      return run(stages, 0, req, { claims: undefined, strip: NO_HEADERS, authn: undefined, authnCount: 0 });
    },
  });
}

function run(stages: readonly Stage[], from: number, req: InboundRequest, state: RequestState): Decision | Promise<Decision> {
  for (let i = from; i < stages.length; i++) {
    const out = stages[i]!(req, state);
    if (out === NEXT) continue;
    if (out instanceof Promise) return out.then((r) => (r === NEXT ? run(stages, i + 1, req, state) : r));
    return out;
  }
  if (state.claims === undefined && state.strip.length === 0) return ALLOWED;
  if (state.authnCount === 1 && state.authn !== undefined) {
    let d = decisions.get(state.authn);
    if (d === undefined) decisions.set(state.authn, (d = Object.freeze({ ok: true, claims: state.claims, strip: state.strip })));
    return d;
  }
  return Object.freeze({ ok: true, claims: state.claims, strip: state.strip });
}

function refused(code: Refusal['code'], reason: string, detail: string, extra: Partial<Refusal> = {}): Decision {
  return Object.freeze({ ok: false, refusal: Object.freeze({ code, reason, detail, ...extra }) });
}

function compileChain(chain: InboundChain, chainKey: string, deps: PipelineDeps): Stage[] {
  const routes = compileRoutes(chain.virtualHosts);
  return chain.filters.map((f): Stage => {
    switch (f.kind) {
      case 'jwt-authn': {
        const authn = compileJwtAuthn(f, deps.providers);
        const apply = (r: AuthnResult, req: InboundRequest, state: RequestState): typeof NEXT | Decision => {
          if (!r.ok) return refused('WEFT_ERR_UNAUTHENTICATED', r.reason, r.detail);
          req.jwt = r.metadata;
          state.authn = r;
          state.authnCount++;
          state.claims ??= r.claims;
          if (r.strip.length > 0) state.strip = [...state.strip, ...r.strip];
          return NEXT;
        };
        return (req, state) => {
          const r = authn.check(req);
          return r instanceof Promise ? r.then((x) => apply(x, req, state)) : apply(r, req, state);
        };
      }
      case 'rbac': {
        const rbac = compileRbac(f);
        if (rbac.action === 'DENY') {
          return (req) => {
            const hit = rbac.match(req);
            if (hit === undefined) return NEXT;
            const policy = policyOf(hit);
            return refused('WEFT_ERR_PERMISSION_DENIED', 'rbac_denied', `policy ${policy}`, { policy });
          };
        }
        return (req) =>
          rbac.match(req) !== undefined ? NEXT : refused('WEFT_ERR_PERMISSION_DENIED', 'rbac_denied', 'no ALLOW policy matched', { policy: 'default-deny' });
      }
      case 'local-ratelimit': {
        const byRoute = new Map<InboundRoute, TokenBucket | null>();
        for (const route of routes.all) {
          const override = route.route.rateLimits?.get(f.name);
          if (override !== undefined) byRoute.set(route.route, override === null ? null : deps.buckets.get(`${chainKey}|${f.name}|${route.route.name}`, override));
        }
        const fallback = f.bucket === undefined ? undefined : deps.buckets.get(`${chainKey}|${f.name}|`, f.bucket);
        const now = deps.nowMs;
        if (byRoute.size === 0 && fallback === undefined) return () => NEXT;
        return (req) => {
          let bucket: TokenBucket | null | undefined = fallback;
          let limit = 'default';
          if (byRoute.size > 0) {
            const route = routes.find(req);
            const own = route === undefined ? undefined : byRoute.get(route);
            if (own !== undefined) {
              bucket = own;
              limit = route!.name;
            }
          }
          if (bucket === null || bucket === undefined) return NEXT;
          const waitMs = bucket.take(now());
          return waitMs === 0 ? NEXT : refused('WEFT_ERR_RATE_LIMITED', 'rate_limited', `limit ${limit}`, { retryAfterMs: waitMs, limit });
        };
      }
    }
  });
}

/** `AuthorizationPolicy/<name>/rules/<i>` (Weft's control plane) → `<name>`; other policy keys as they are. */
export function policyOf(key: string): string {
  const m = /^AuthorizationPolicy\/([^/]+)\/rules\/\d+$/.exec(key);
  return m ? m[1]! : key;
}

interface CompiledRoute {
  readonly route: InboundRoute;
  readonly matches: (req: InboundRequest) => boolean;
}

/** Route tables per virtual host; `find` returns the first route whose path and headers match. */
function compileRoutes(hosts: readonly InboundVirtualHost[]) {
  const compiled = hosts.map((vh) => ({ domains: vh.domains, routes: vh.routes.map(compileRoute) }));
  const only = compiled.length === 1 && compiled[0]!.domains.includes('*') ? compiled[0] : undefined;
  return {
    all: compiled.flatMap((h) => h.routes),
    find(req: InboundRequest): InboundRoute | undefined {
      const vh = only ?? findVirtualHost(compiled, req.authority);
      return vh?.routes.find((r) => r.matches(req))?.route;
    },
  };
}

function compileRoute(route: InboundRoute): CompiledRoute {
  const path = compilePathMatcher(route.path);
  const headers = route.headers.map(compileHeader);
  return { route, matches: (req) => path(req.path) && headers.every((h) => h(req)) };
}

function compileHeader(h: HeaderMatcher): (req: InboundRequest) => boolean {
  const read = (req: InboundRequest): string | undefined => (h.name === ':method' ? req.method : h.name === ':path' ? req.rawPath : h.name === ':authority' ? req.authority : req.header(h.name));
  if (h.match.kind === 'present') return (req) => (read(req) !== undefined) !== h.invert;
  const test = compileStringMatcher(h.match);
  return (req) => {
    const v = read(req);
    return v !== undefined && test(v) !== h.invert;
  };
}

/**
 * The path authorization sees: the request target without query or fragment, with percent-encoded unreserved
 * characters decoded and `.`/`..` segments removed (RFC 3986 §5.2.4), as Envoy's `normalize_path` does, so
 * `/public/../admin` is checked as `/admin`. An absolute-form target (`http://host/admin`, RFC 9112 §3.2.2) is
 * reduced to its path, which frameworks route on too. Encoded slashes (`%2F`) are kept as they are. Returns the path
 * and whether it differs from the target's (the HTTP adapter then hands the handler the normalized one).
 */
export function normalizePath(target: string): { readonly path: string; readonly query: string; readonly changed: boolean } {
  let start = 0;
  if (target.charCodeAt(0) !== 47 /* '/' */) {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/.exec(target);
    start = scheme ? scheme[0].length : 0;
  }
  let end = target.length;
  const q = target.indexOf('?', start);
  if (q >= 0) end = q;
  const h = target.indexOf('#', start);
  if (h >= 0 && h < end) end = h;
  const raw = target.slice(start, end);
  const query = q >= 0 ? target.slice(q) : '';
  if (start === 0 && raw.charCodeAt(0) === 47 && !/%|\/\.|\\/.test(raw)) return { path: raw, query, changed: false };
  let path = raw.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(c) ? c : all.toUpperCase();
  });
  path = path.replace(/\\/g, '/');
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      if (out.length > 1) out.pop();
      if (last) out.push('');
    } else out.push(seg);
  }
  path = out.join('/');
  if (!path.startsWith('/')) path = `/${path}`;
  return { path, query, changed: path !== target.slice(0, end) };
}
