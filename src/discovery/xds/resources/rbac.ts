// Decodes the Envoy RBAC HTTP filter config (gRFC A41 subset, plus JWT metadata matchers) into an RbacFilter.
import type { MetadataMatcher, PermissionRule, PrincipalRule, RbacFilter, RbacPolicy, ValueMatcher } from '../../inbound-policy.js';
import { TYPE_URL, type ProtoObject } from '../protos.js';
import { anyTypeUrl, bool, decodeStringMatcher, isError, list, num, obj, str } from './common.js';
import { decodeHeaderMatcher } from './route-configuration.js';

/** The dynamic-metadata namespace Weft fills: the jwt_authn filter's verified payloads. */
export const JWT_AUTHN_METADATA_NAMESPACE = 'envoy.filters.http.jwt_authn';

/** Deepest and/or/not nesting accepted (a config deeper than this is refused, not evaluated). */
const MAX_DEPTH = 32;

/**
 * Validates an RBAC filter config (`'@type'` RBAC) named `name` into an RbacFilter, or undefined when it has no
 * `rules` (Envoy: nothing enforced), or every problem. Never throws. Refused because Weft cannot evaluate them the
 * way Envoy would (a DENY that never matches would let callers in): action LOG, `matcher`, `condition` and
 * `checked_condition` (CEL), IP and port-range rules, `requested_server_name`, `filter_state`, metadata of any
 * namespace other than jwt_authn's, and value matchers other than string, present, bool and `list_match.one_of`.
 * `shadow_rules` are ignored (gRFC A41 does the same). See https://github.com/grpc/proposal/blob/master/A41-xds-rbac.md
 */
export function decodeRbacFilter(config: ProtoObject, name: string, field: string): RbacFilter | undefined | { errors: string[] } {
  const errors: string[] = [];
  const type = anyTypeUrl(config);
  if (type !== TYPE_URL.rbac) return { errors: [`${field}: type '${type}' is not an RBAC config`] };
  if (obj(config, 'matcher') !== undefined) errors.push(`${field}.matcher: not supported (use rules)`);
  const rules = obj(config, 'rules');
  if (rules === undefined) return errors.length > 0 ? { errors } : undefined;
  const action = str(rules, 'action') || 'ALLOW';
  if (action !== 'ALLOW' && action !== 'DENY') errors.push(`${field}.rules.action: '${action}' is not supported (ALLOW or DENY)`);
  const policies: RbacPolicy[] = [];
  const map = obj(rules, 'policies') ?? {};
  for (const key of Object.keys(map).sort()) {
    const p = obj(map, key);
    if (p === undefined) continue;
    const at = `${field}.rules.policies['${key}']`;
    if (obj(p, 'condition') !== undefined) errors.push(`${at}.condition: CEL conditions are not supported`);
    if (obj(p, 'checked_condition') !== undefined) errors.push(`${at}.checked_condition: CEL conditions are not supported`);
    const permissions = list(p, 'permissions').map((x, i) => permission(x, `${at}.permissions[${i}]`, errors, 0));
    const principals = list(p, 'principals').map((x, i) => principal(x, `${at}.principals[${i}]`, errors, 0));
    if (permissions.length === 0) errors.push(`${at}.permissions: empty (a policy needs at least one; use any: true)`);
    if (principals.length === 0) errors.push(`${at}.principals: empty (a policy needs at least one; use any: true)`);
    policies.push(Object.freeze({ name: key, permissions: Object.freeze(permissions), principals: Object.freeze(principals) }));
  }
  if (errors.length > 0) return { errors };
  return Object.freeze({ kind: 'rbac', name, action: action as 'ALLOW' | 'DENY', policies: Object.freeze(policies) });
}

const NONE: PermissionRule & PrincipalRule = Object.freeze({ kind: 'any' });

function permission(p: ProtoObject, field: string, errors: string[], depth: number): PermissionRule {
  if (depth > MAX_DEPTH) {
    errors.push(`${field}: nested more than ${MAX_DEPTH} levels`);
    return NONE;
  }
  const rule = str(p, 'rule');
  switch (rule) {
    case 'any':
      return NONE;
    case 'and_rules':
    case 'or_rules': {
      const rules = list(obj(p, rule), 'rules').map((x, i) => permission(x, `${field}.${rule}.rules[${i}]`, errors, depth + 1));
      return Object.freeze({ kind: rule === 'and_rules' ? 'and' : 'or', rules: Object.freeze(rules) });
    }
    case 'not_rule':
      return Object.freeze({ kind: 'not', rule: permission(obj(p, 'not_rule') ?? {}, `${field}.not_rule`, errors, depth + 1) });
    case 'header': {
      const header = decodeHeaderMatcher(obj(p, 'header') ?? {}, `${field}.header`);
      if (isError(header)) return fail(errors, header.error);
      return Object.freeze({ kind: 'header', header });
    }
    case 'url_path': {
      const path = urlPath(obj(p, 'url_path'), `${field}.url_path`);
      if (isError(path)) return fail(errors, path.error);
      return Object.freeze({ kind: 'url-path', path });
    }
    case 'destination_port': {
      const port = num(p, 'destination_port');
      if (!(port >= 1 && port <= 65535)) return fail(errors, `${field}.destination_port: ${port} is not a port`);
      return Object.freeze({ kind: 'destination-port', port });
    }
    case 'metadata': {
      const metadata = metadataMatcher(obj(p, 'metadata'), `${field}.metadata`);
      if (isError(metadata)) return fail(errors, metadata.error);
      return Object.freeze({ kind: 'metadata', metadata });
    }
    case '':
      return fail(errors, `${field}: no rule set`);
    default:
      return fail(errors, `${field}.${rule}: not supported by Weft's RBAC`);
  }
}

function principal(p: ProtoObject, field: string, errors: string[], depth: number): PrincipalRule {
  if (depth > MAX_DEPTH) {
    errors.push(`${field}: nested more than ${MAX_DEPTH} levels`);
    return NONE;
  }
  const id = str(p, 'identifier');
  switch (id) {
    case 'any':
      return NONE;
    case 'and_ids':
    case 'or_ids': {
      const rules = list(obj(p, id), 'ids').map((x, i) => principal(x, `${field}.${id}.ids[${i}]`, errors, depth + 1));
      return Object.freeze({ kind: id === 'and_ids' ? 'and' : 'or', rules: Object.freeze(rules) });
    }
    case 'not_id':
      return Object.freeze({ kind: 'not', rule: principal(obj(p, 'not_id') ?? {}, `${field}.not_id`, errors, depth + 1) });
    case 'authenticated': {
      const m = obj(obj(p, 'authenticated'), 'principal_name');
      if (m === undefined) return Object.freeze({ kind: 'authenticated', principal: undefined });
      const matcher = decodeStringMatcher(m, `${field}.authenticated.principal_name`);
      if (isError(matcher)) return fail(errors, matcher.error);
      return Object.freeze({ kind: 'authenticated', principal: Object.freeze(matcher) });
    }
    case 'header': {
      const header = decodeHeaderMatcher(obj(p, 'header') ?? {}, `${field}.header`);
      if (isError(header)) return fail(errors, header.error);
      return Object.freeze({ kind: 'header', header });
    }
    case 'url_path': {
      const path = urlPath(obj(p, 'url_path'), `${field}.url_path`);
      if (isError(path)) return fail(errors, path.error);
      return Object.freeze({ kind: 'url-path', path });
    }
    case 'metadata': {
      const metadata = metadataMatcher(obj(p, 'metadata'), `${field}.metadata`);
      if (isError(metadata)) return fail(errors, metadata.error);
      return Object.freeze({ kind: 'metadata', metadata });
    }
    case '':
      return fail(errors, `${field}: no identifier set`);
    default:
      return fail(errors, `${field}.${id}: not supported by Weft's RBAC`);
  }
}

function fail(errors: string[], message: string): PermissionRule & PrincipalRule {
  errors.push(message);
  return NONE;
}

/** envoy.type.matcher.v3.PathMatcher: `{ path: StringMatcher }`. */
function urlPath(m: ProtoObject | undefined, field: string) {
  const path = obj(m, 'path');
  if (path === undefined) return { error: `${field}.path: not set` };
  const decoded = decodeStringMatcher(path, `${field}.path`);
  return isError(decoded) ? decoded : Object.freeze(decoded);
}

function metadataMatcher(m: ProtoObject | undefined, field: string): MetadataMatcher | { error: string } {
  const filter = str(m, 'filter');
  if (filter !== JWT_AUTHN_METADATA_NAMESPACE) {
    return { error: `${field}.filter: '${filter}' is not supported (Weft provides only ${JWT_AUTHN_METADATA_NAMESPACE} metadata)` };
  }
  const path: string[] = [];
  for (const [i, seg] of list(m, 'path').entries()) {
    const key = str(seg, 'key');
    if (key === '') return { error: `${field}.path[${i}].key: must not be empty` };
    path.push(key);
  }
  if (path.length === 0) return { error: `${field}.path: empty (name the payload key and the claim)` };
  const value = valueMatcher(obj(m, 'value'), `${field}.value`, 0);
  if (isError(value)) return value;
  return Object.freeze({ filter, path: Object.freeze(path), value, invert: bool(m, 'invert') });
}

function valueMatcher(v: ProtoObject | undefined, field: string, depth: number): ValueMatcher | { error: string } {
  if (v === undefined) return { error: `${field}: not set` };
  const pattern = str(v, 'match_pattern');
  switch (pattern) {
    case 'string_match': {
      const m = decodeStringMatcher(obj(v, 'string_match') ?? {}, `${field}.string_match`);
      return isError(m) ? m : Object.freeze({ kind: 'string', match: Object.freeze(m) });
    }
    case 'present_match':
      // Envoy's PresentMatcher with false never matches anything; refusing it is clearer than a dead rule.
      return bool(v, 'present_match') ? Object.freeze({ kind: 'present' }) : { error: `${field}.present_match: false never matches` };
    case 'bool_match':
      return Object.freeze({ kind: 'bool', value: bool(v, 'bool_match') });
    case 'list_match': {
      const l = obj(v, 'list_match');
      if (str(l, 'match_pattern') !== 'one_of' || depth > 4) return { error: `${field}.list_match: only one_of is supported` };
      const item = valueMatcher(obj(l, 'one_of'), `${field}.list_match.one_of`, depth + 1);
      return isError(item) ? item : Object.freeze({ kind: 'one-of', item });
    }
    default:
      return { error: `${field}: match_pattern '${pattern || 'none'}' is not supported (string, present, bool or list one_of)` };
  }
}
