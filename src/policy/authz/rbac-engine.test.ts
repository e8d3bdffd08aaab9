// Tests RBAC evaluation on compiled tables: Envoy's header, principal and metadata semantics, and policy order.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { RbacFilter } from '../../discovery/inbound-policy.js';
import { compileRbac, type AuthzRequest } from './rbac-engine.js';

function req(over: Partial<AuthzRequest> & { headers?: Record<string, string> } = {}): AuthzRequest {
  const headers = over.headers ?? {};
  return { method: 'GET', path: '/', rawPath: '/', authority: 'svc', header: (n) => headers[n], principal: undefined, peerVerified: false, localPort: 80, jwt: undefined, ...over };
}

const exact = (value: string) => ({ kind: 'exact' as const, value, ignoreCase: false });

describe('compileRbac', () => {
  const filter: RbacFilter = {
    kind: 'rbac',
    name: 'r',
    action: 'DENY',
    policies: [
      { name: 'a-no-admin-header', permissions: [{ kind: 'header', header: { name: 'x-admin', match: { kind: 'present' }, invert: true } }], principals: [{ kind: 'authenticated', principal: undefined }] },
      {
        name: 'b-claims',
        permissions: [{ kind: 'any' }],
        principals: [{ kind: 'metadata', metadata: { filter: 'envoy.filters.http.jwt_authn', path: ['jwt_payload', 'groups'], value: { kind: 'one-of', item: { kind: 'string', match: exact('banned') } }, invert: false } }],
      },
      { name: 'c-not-path', permissions: [{ kind: 'not', rule: { kind: 'url-path', path: { kind: 'prefix', value: '/public', ignoreCase: false } } }], principals: [{ kind: 'and', rules: [{ kind: 'any' }, { kind: 'header', header: { name: ':method', match: exact('DELETE'), invert: false } }] }] },
    ],
  };
  const rbac = compileRbac(filter);

  it('matches policies in name order; `authenticated` needs a verified peer; absent headers fail all but inverted presence', () => {
    assert.equal(rbac.match(req()), undefined, 'plaintext: not authenticated');
    assert.equal(rbac.match(req({ peerVerified: true, principal: 'spiffe://td/ns/a/sa/b' })), 'a-no-admin-header');
    assert.equal(rbac.match(req({ peerVerified: true, headers: { 'x-admin': '1' } })), undefined);
  });

  it('reads JWT claims from metadata (lists with one_of), and composes not/and', () => {
    assert.equal(rbac.match(req({ jwt: new Map([['jwt_payload', { groups: ['users', 'banned'] }]]) })), 'b-claims');
    assert.equal(rbac.match(req({ jwt: new Map([['jwt_payload', { groups: 'banned' }]]) })), undefined, 'one_of needs a list');
    assert.equal(rbac.match(req({ method: 'DELETE', path: '/orders/1' })), 'c-not-path');
    assert.equal(rbac.match(req({ method: 'DELETE', path: '/public/x' })), undefined);
  });
});
