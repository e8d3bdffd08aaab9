// Translates AuthorizationPolicies into Envoy RBAC filter configs (one DENY, one ALLOW), within what gRFC A41 (grpc-js-xds)
// evaluates: principals as `authenticated.principal_name` on SPIFFE IDs, JWT claims as jwt_authn `metadata` matchers.
import type { AuthorizationCondition, AuthorizationOperation, AuthorizationRule, AuthorizationSource } from '../config/authorization-policy-schema.js';
import { parseConditionKey } from '../config/authorization-policy-schema.js';
import { parseWildcard, type WildcardMatch } from '../config/inbound-schema.js';
import type { AuthorizationPolicyResource } from '../config/mesh-config.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';

/** The jwt_authn dynamic-metadata namespace RBAC metadata matchers read. */
export const JWT_AUTHN_FILTER = 'envoy.filters.http.jwt_authn';
/** The `payload_in_metadata` key every jwt_authn provider Weft writes stores the verified payload under. */
export const JWT_PAYLOAD_KEY = 'jwt_payload';

/** What RBAC translation needs beyond the policies. */
export interface RbacOptions {
  /** Trust domain of the mesh's SPIFFE IDs (namespaces become `spiffe://<td>/ns/<ns>/`). */
  readonly trustDomain: string;
  /** Issuers the configuration's RequestAuthentications accept: splits `<issuer>/<subject>` where issuers hold '/'. */
  readonly issuers: readonly string[];
}

/** An RBAC policy name: `AuthorizationPolicy/<name>/rules/<i>` (the SDK reports `<name>` when it denies). */
export function rbacPolicyName(policy: string, rule: number): string {
  return `AuthorizationPolicy/${policy}/rules/${rule}`;
}

/**
 * The RBAC filter config (`'@type'` RBAC) enforcing `policies` with `action`: one Envoy policy per rule, named by
 * rbacPolicyName. A policy without rules contributes none (ALLOW with no policies refuses everything, as Istio's
 * allow-nothing). Pure.
 */
export function buildRbacConfig(action: 'ALLOW' | 'DENY', policies: readonly AuthorizationPolicyResource[], options: RbacOptions): ProtoObject {
  const out: Record<string, ProtoObject> = {};
  for (const p of policies) {
    p.spec.rules.forEach((rule, i) => {
      out[rbacPolicyName(p.metadata.name, i)] = policyOf(rule, options);
    });
  }
  return { '@type': TYPE_URL.rbac, rules: { action, policies: out } };
}

const ANY_PERMISSION: ProtoObject = { any: true };
const ANY_PRINCIPAL: ProtoObject = { any: true };

function policyOf(rule: AuthorizationRule, options: RbacOptions): ProtoObject {
  const to = rule.to.length === 0 ? ANY_PERMISSION : orRules(rule.to.map((t) => operation(t.operation)));
  const from = rule.from.length === 0 ? ANY_PRINCIPAL : orIds(rule.from.map((f) => source(f.source, options)));
  const when = rule.when.map((c) => condition(c, options));
  return { permissions: [to], principals: [andIds([from, ...when])] };
}

function operation(op: AuthorizationOperation): ProtoObject {
  const parts: ProtoObject[] = [];
  const methods = (list: readonly string[]) => orRules(list.map((m) => ({ header: { name: ':method', string_match: { exact: m } } })));
  const paths = (list: readonly string[]) => orRules(list.map((p) => ({ url_path: { path: pathMatcher(parseWildcard(p)) } })));
  if (op.methods) parts.push(methods(op.methods));
  if (op.notMethods) parts.push({ not_rule: methods(op.notMethods) });
  if (op.paths) parts.push(paths(op.paths));
  if (op.notPaths) parts.push({ not_rule: paths(op.notPaths) });
  return andRules(parts);
}

function source(src: AuthorizationSource, options: RbacOptions): ProtoObject {
  const parts: ProtoObject[] = [];
  const principals = (list: readonly string[]) => orIds(list.map(principalId));
  const namespaces = (list: readonly string[]) => orIds(list.map((n) => namespaceId(n, options.trustDomain)));
  const requests = (list: readonly string[]) => orIds(list.map((r) => requestPrincipal(r, options.issuers)));
  if (src.principals) parts.push(principals(src.principals));
  if (src.notPrincipals) parts.push({ not_id: principals(src.notPrincipals) });
  if (src.namespaces) parts.push(namespaces(src.namespaces));
  if (src.notNamespaces) parts.push({ not_id: namespaces(src.notNamespaces) });
  if (src.requestPrincipals) parts.push(requests(src.requestPrincipals));
  if (src.notRequestPrincipals) parts.push({ not_id: requests(src.notRequestPrincipals) });
  return andIds(parts);
}

function condition(c: AuthorizationCondition, options: RbacOptions): ProtoObject {
  const key = parseConditionKey(c.key);
  if ('error' in key) throw new Error(`translate: unvalidated condition key ${c.key}`); // validateConfig refused it
  const one = (v: string): ProtoObject => {
    const w = parseWildcard(v);
    switch (key.kind) {
      case 'header':
        return { header: w.kind === 'any' ? { name: key.name, present_match: true } : { name: key.name, string_match: stringMatcher(w) } };
      case 'claim':
        if (w.kind === 'any') return metadata(key.path, { present_match: true });
        // A claim may be a string or a list of strings (groups, roles): match either.
        return orIds([metadata(key.path, { string_match: stringMatcher(w) }), metadata(key.path, { list_match: { one_of: { string_match: stringMatcher(w) } } })]);
      case 'request-principal':
        return requestPrincipal(v, options.issuers);
      case 'source-principal':
        return principalId(v);
      case 'source-namespace':
        return namespaceId(v, options.trustDomain);
    }
  };
  const parts: ProtoObject[] = [];
  if (c.values) parts.push(orIds(c.values.map(one)));
  if (c.notValues) parts.push({ not_id: orIds(c.notValues.map(one)) });
  return andIds(parts);
}

/** A caller principal (`spiffe://` optional, as Istio writes `cluster.local/ns/x/sa/y`) → authenticated matcher. */
function principalId(pattern: string): ProtoObject {
  const w = parseWildcard(pattern);
  const full = (v: string) => (v.startsWith('spiffe://') ? v : `spiffe://${v}`);
  const m = w.kind === 'any' ? { prefix: 'spiffe://' } : w.kind === 'suffix' ? { suffix: w.value } : { [w.kind]: full(w.value) };
  return { authenticated: { principal_name: m } };
}

/** A namespace of the caller's SPIFFE ID in `td` → a prefix (or, with a wildcard, an anchored regex). */
function namespaceId(pattern: string, td: string): ProtoObject {
  const w = parseWildcard(pattern);
  const base = `spiffe://${td}/ns/`;
  let m: ProtoObject;
  if (w.kind === 'exact') m = { prefix: `${base}${w.value}/` };
  else if (w.kind === 'any') m = { prefix: base };
  else if (w.kind === 'prefix') m = { safe_regex: { regex: `${escape(base)}${escape(w.value)}[^/]*/.*` } };
  else m = { safe_regex: { regex: `${escape(base)}[^/]*${escape(w.value)}/.*` } };
  return { authenticated: { principal_name: m } };
}

/**
 * `<issuer>/<subject>` of a verified JWT → metadata matchers on its `iss` and `sub`. The split is after a known issuer
 * when the text starts with one followed by '/', else at the last '/'. `*` alone means any verified token.
 */
function requestPrincipal(pattern: string, issuers: readonly string[]): ProtoObject {
  const w = parseWildcard(pattern);
  if (w.kind === 'any') return metadata(['iss'], { present_match: true });
  const split = (text: string): [string, string] => {
    const known = issuers.filter((i) => text.startsWith(`${i}/`)).sort((a, b) => b.length - a.length)[0];
    const at = known !== undefined ? known.length : text.lastIndexOf('/');
    return [text.slice(0, at), text.slice(at + 1)];
  };
  const parts: ProtoObject[] = [];
  if (w.kind === 'suffix') {
    const at = w.value.lastIndexOf('/');
    const iss = w.value.slice(0, at);
    if (iss !== '') parts.push(metadata(['iss'], { string_match: { suffix: iss } }));
    parts.push(metadata(['sub'], { string_match: { exact: w.value.slice(at + 1) } }));
    return andIds(parts);
  }
  const [iss, sub] = split(w.value);
  parts.push(metadata(['iss'], { string_match: { exact: iss } }));
  if (w.kind === 'exact') parts.push(metadata(['sub'], { string_match: { exact: sub } }));
  else parts.push(metadata(['sub'], sub === '' ? { present_match: true } : { string_match: { prefix: sub } }));
  return andIds(parts);
}

function metadata(claimPath: readonly string[], value: ProtoObject): ProtoObject {
  return { metadata: { filter: JWT_AUTHN_FILTER, path: [JWT_PAYLOAD_KEY, ...claimPath].map((key) => ({ key })), value } };
}

function stringMatcher(w: WildcardMatch): ProtoObject {
  return w.kind === 'any' ? { safe_regex: { regex: '.+' } } : { [w.kind]: w.value };
}

function pathMatcher(w: WildcardMatch): ProtoObject {
  return w.kind === 'any' ? { prefix: '/' } : { [w.kind]: w.value };
}

function escape(text: string): string {
  return text.replace(/[\\^$.*+?()[\]{}|]/g, '\\$&');
}

function andRules(rules: readonly ProtoObject[]): ProtoObject {
  return rules.length === 0 ? ANY_PERMISSION : rules.length === 1 ? rules[0]! : { and_rules: { rules } };
}

function orRules(rules: readonly ProtoObject[]): ProtoObject {
  return rules.length === 1 ? rules[0]! : { or_rules: { rules } };
}

function andIds(ids: readonly ProtoObject[]): ProtoObject {
  const real = ids.filter((i) => i !== ANY_PRINCIPAL);
  return real.length === 0 ? ANY_PRINCIPAL : real.length === 1 ? real[0]! : { and_ids: { ids: real } };
}

function orIds(ids: readonly ProtoObject[]): ProtoObject {
  return ids.length === 1 ? ids[0]! : { or_ids: { ids } };
}
