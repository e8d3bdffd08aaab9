// Compiles decoded RBAC filters into predicate tables once per policy update, and evaluates a request against them.
import type { MetadataMatcher, PermissionRule, PrincipalRule, RbacFilter, ValueMatcher } from '../../discovery/inbound-policy.js';
import type { HeaderMatcher } from '../../discovery/mesh-state.js';
import { compileStringMatcher } from '../../discovery/string-matcher.js';

/** A JWT payload (claims), as verified by authn. */
export type JwtPayload = Readonly<Record<string, unknown>>;

/** What authorization reads of a request. Built once per request by the server adapter. */
export interface AuthzRequest {
  /** Upper-case HTTP method (`POST` for gRPC). */
  readonly method: string;
  /** The normalized path without its query string (what `url_path` and route matches see). */
  readonly path: string;
  /** The request target as received, with its query (the `:path` pseudo-header). */
  readonly rawPath: string;
  /** `host[:port]` (the `:authority` pseudo-header). */
  readonly authority: string;
  /** A request header by lower-case name (several values joined by ','), or undefined. */
  header(name: string): string | undefined;
  /** The caller's SPIFFE ID from its verified certificate (mTLS); undefined on plaintext or without one. */
  readonly principal: string | undefined;
  /** True when the connection is TLS with a verified peer certificate. */
  readonly peerVerified: boolean;
  /** The port the server accepted the request on. */
  readonly localPort: number;
  /** Verified JWT payloads by jwt_authn `payload_in_metadata` key (set by authn); undefined when none. */
  readonly jwt: ReadonlyMap<string, JwtPayload> | undefined;
}

type Check = (req: AuthzRequest) => boolean;

/** An RBAC filter compiled for evaluation. */
export interface CompiledRbac {
  readonly name: string;
  readonly action: 'ALLOW' | 'DENY';
  /** Policy names, for status and explanations. */
  readonly policyNames: readonly string[];
  /**
   * The name of the first policy (in name order) that `req` matches, or undefined. Pure and synchronous; never
   * throws (a header or claim that is missing simply does not match).
   */
  match(req: AuthzRequest): string | undefined;
}

/** Compiles `filter` into a CompiledRbac: every matcher and regex is built here, none per request. */
export function compileRbac(filter: RbacFilter): CompiledRbac {
  const policies = filter.policies.map((p) => {
    const permission = anyOf(p.permissions.map(compilePermission));
    const principal = anyOf(p.principals.map(compilePrincipal));
    return { name: p.name, check: (req: AuthzRequest) => principal(req) && permission(req) };
  });
  return Object.freeze({
    name: filter.name,
    action: filter.action,
    policyNames: Object.freeze(policies.map((p) => p.name)),
    match(req: AuthzRequest): string | undefined {
      for (const p of policies) if (p.check(req)) return p.name;
      return undefined;
    },
  });
}

const ALWAYS: Check = () => true;
const NEVER: Check = () => false;

function anyOf(checks: readonly Check[]): Check {
  if (checks.length === 0) return NEVER;
  if (checks.length === 1) return checks[0]!;
  return (req) => {
    for (const c of checks) if (c(req)) return true;
    return false;
  };
}

function allOf(checks: readonly Check[]): Check {
  if (checks.length === 0) return ALWAYS;
  if (checks.length === 1) return checks[0]!;
  return (req) => {
    for (const c of checks) if (!c(req)) return false;
    return true;
  };
}

function compilePermission(rule: PermissionRule): Check {
  switch (rule.kind) {
    case 'any':
      return ALWAYS;
    case 'and':
      return allOf(rule.rules.map(compilePermission));
    case 'or':
      return anyOf(rule.rules.map(compilePermission));
    case 'not': {
      const inner = compilePermission(rule.rule);
      return (req) => !inner(req);
    }
    case 'header':
      return compileHeader(rule.header);
    case 'url-path': {
      const test = compileStringMatcher(rule.path);
      return (req) => test(req.path);
    }
    case 'destination-port': {
      const port = rule.port;
      return (req) => req.localPort === port;
    }
    case 'metadata':
      return compileMetadata(rule.metadata);
  }
}

function compilePrincipal(rule: PrincipalRule): Check {
  switch (rule.kind) {
    case 'any':
      return ALWAYS;
    case 'and':
      return allOf(rule.rules.map(compilePrincipal));
    case 'or':
      return anyOf(rule.rules.map(compilePrincipal));
    case 'not': {
      const inner = compilePrincipal(rule.rule);
      return (req) => !inner(req);
    }
    case 'authenticated': {
      // Envoy: only a connection with a verified peer certificate is authenticated; without one nothing matches.
      if (rule.principal === undefined) return (req) => req.peerVerified;
      const test = compileStringMatcher(rule.principal);
      return (req) => req.principal !== undefined && test(req.principal);
    }
    case 'header':
      return compileHeader(rule.header);
    case 'url-path': {
      const test = compileStringMatcher(rule.path);
      return (req) => test(req.path);
    }
    case 'metadata':
      return compileMetadata(rule.metadata);
  }
}

/** A header or pseudo-header's value as Envoy's RBAC sees it. */
function headerOf(req: AuthzRequest, name: string): string | undefined {
  switch (name) {
    case ':method':
      return req.method;
    case ':path':
      return req.rawPath;
    case ':authority':
    case 'host':
      return req.authority;
    default:
      return req.header(name);
  }
}

// Envoy semantics: an absent header fails every matcher except `present` with invert (which means "must be absent").
function compileHeader(h: HeaderMatcher): Check {
  const name = h.name;
  const invert = h.invert;
  if (h.match.kind === 'present') return (req) => (headerOf(req, name) !== undefined) !== invert;
  const test = compileStringMatcher(h.match);
  return (req) => {
    const v = headerOf(req, name);
    return v !== undefined && test(v) !== invert;
  };
}

function compileMetadata(m: MetadataMatcher): Check {
  const [key, ...claimPath] = m.path;
  const test = compileValue(m.value);
  const invert = m.invert;
  return (req) => {
    let v: unknown = key === undefined ? undefined : req.jwt?.get(key);
    for (const seg of claimPath) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) {
        v = undefined;
        break;
      }
      v = (v as Record<string, unknown>)[seg];
    }
    return test(v) !== invert;
  };
}

function compileValue(m: ValueMatcher): (v: unknown) => boolean {
  switch (m.kind) {
    case 'present':
      return (v) => v !== undefined && v !== null;
    case 'bool': {
      const want = m.value;
      return (v) => v === want;
    }
    case 'string': {
      const test = compileStringMatcher(m.match);
      return (v) => typeof v === 'string' && test(v);
    }
    case 'one-of': {
      const item = compileValue(m.item);
      return (v) => Array.isArray(v) && v.some(item);
    }
  }
}
