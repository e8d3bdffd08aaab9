// Tests the inbound Listener translation: filter order and shape (docs/xds-mapping.md "Inbound Listener"), what
// grpc-js-xds accepts with RBAC on, and (through the SDK's own decoder and pipeline) that it means what the config says.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { createMeshConfig } from '../config/mesh-config.js';
import { parseConfigText } from '../config/parse.js';
import { validateConfig } from '../config/validate.js';
import { TYPE_URL, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { decodeInboundListener } from '../../../src/discovery/xds/resources/inbound-listener.js';
import { ProviderPool } from '../../../src/policy/authn/index.js';
import { BucketPool, compileInboundPolicy, type InboundRequest } from '../../../src/server/inbound/pipeline.js';
import { SERVER_LISTENER_NAME_PREFIX } from './server-listener.js';
import { inboundListeners, renameInboundListener } from './inbound-listener.js';
import { translate } from './translate.js';

const SERVICES = ['payments', 'checkout', 'search']
  .map((n) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${n} }\nspec: { ports: [{ name: http, port: 8080 }] }\n`)
  .join('---\n');

const POLICIES = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: charge-from-checkout }
spec:
  targetRef: { kind: Service, name: payments }
  rules:
  - from: [{ source: { principals: ["weft.local/ns/default/sa/checkout"] } }]
    to: [{ operation: { methods: [POST], paths: ["/charge"] } }]
  - from: [{ source: { namespaces: [ops] } }]
    to: [{ operation: { methods: [GET] } }]
  - from: [{ source: { requestPrincipals: ["https://issuer.example/alice"] } }]
    to: [{ operation: { paths: ["/api/*"] } }]
    when: [{ key: "request.auth.claims[realm.roles]", values: [admin] }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-debug }
spec:
  action: DENY
  rules:
  - to: [{ operation: { paths: ["/debug*"] } }]
---
apiVersion: weft.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: issuer }
spec:
  targetRef: { kind: Service, name: payments }
  jwtRules: [{ issuer: "https://issuer.example", jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}' }]
---
apiVersion: weft.dev/v1alpha1
kind: LocalRateLimit
metadata: { name: search }
spec:
  targetRef: { kind: Service, name: search }
  routes:
  - match: { path: { type: PathPrefix, value: /search }, method: GET }
    tokenBucket: { maxTokens: 2, fillInterval: 1s }
`;

function config(yaml: string) {
  const { resources, errors } = parseConfigText(yaml, 't.yaml');
  assert.deepEqual(errors, []);
  assert.deepEqual(validateConfig(resources), []);
  return createMeshConfig(resources, 1);
}

const listeners = (yaml: string, trustDomain = 'weft.local') => new Map(inboundListeners(config(yaml), { trustDomain }).map((l) => [l['name'] as string, l]));
const hcmOf = (l: ProtoObject): ProtoObject => ((l['filter_chains'] as ProtoObject[])[0]!['filters'] as ProtoObject[])[0]!['typed_config'] as ProtoObject;
const filterNames = (l: ProtoObject): string[] => (hcmOf(l)['http_filters'] as ProtoObject[]).map((f) => f['name'] as string);

/** A request to the SDK pipeline, with a fixed clock. */
function request(over: Partial<InboundRequest> & { headers?: Record<string, string> } = {}): InboundRequest {
  const headers = over.headers ?? {};
  return {
    method: 'GET',
    path: '/',
    rawPath: over.path ?? '/',
    authority: 'payments',
    header: (n) => headers[n],
    principal: undefined,
    peerVerified: over.principal !== undefined,
    tls: false,
    localPort: 8080,
    jwt: undefined,
    ...over,
  };
}

describe('inbound Listener translation', () => {
  it('orders HTTP filters jwt_authn → RBAC DENY → RBAC ALLOW → local_ratelimit → router, each only when a policy applies', () => {
    const all = listeners(SERVICES + '---\n' + POLICIES);
    assert.deepEqual([...all.keys()], ['weft/inbound', 'weft/inbound/checkout', 'weft/inbound/payments', 'weft/inbound/search']);
    assert.deepEqual(filterNames(all.get('weft/inbound/payments')!), [
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.rbac/deny',
      'envoy.filters.http.rbac/allow',
      'envoy.filters.http.router',
    ]);
    assert.deepEqual(filterNames(all.get('weft/inbound/checkout')!), ['envoy.filters.http.rbac/deny', 'envoy.filters.http.router'], 'the mesh-wide DENY only');
    assert.deepEqual(filterNames(all.get('weft/inbound/search')!), ['envoy.filters.http.rbac/deny', 'envoy.filters.http.local_ratelimit', 'envoy.filters.http.router']);
    assert.deepEqual(filterNames(all.get('weft/inbound')!), ['envoy.filters.http.rbac/deny', 'envoy.filters.http.router']);
    assert.deepEqual(filterNames(listeners(SERVICES).get('weft/inbound/payments')!), ['envoy.filters.http.router'], 'no policy: nothing but the router');
    const filters = hcmOf(all.get('weft/inbound/payments')!)['http_filters'] as ProtoObject[];
    assert.equal(filters[0]!['is_optional'], true, 'jwt_authn is optional (grpc-js-xds does not know it)');
    assert.equal(filters[1]!['is_optional'], undefined, 'RBAC is not: a server that cannot enforce it must refuse the Listener');
  });

  it('writes principals as SPIFFE principal_name matchers, namespaces in the trust domain, JWT principals and claims as metadata', () => {
    const allow = (hcmOf(listeners(SERVICES + '---\n' + POLICIES, 'corp.example').get('weft/inbound/payments')!)['http_filters'] as ProtoObject[])[2]!['typed_config'] as ProtoObject;
    const policies = (allow['rules'] as ProtoObject)['policies'] as Record<string, ProtoObject>;
    assert.deepEqual(Object.keys(policies), [0, 1, 2].map((i) => `AuthorizationPolicy/charge-from-checkout/rules/${i}`));
    assert.deepEqual(policies['AuthorizationPolicy/charge-from-checkout/rules/0']!['principals'], [
      { authenticated: { principal_name: { exact: 'spiffe://weft.local/ns/default/sa/checkout' } } },
    ]);
    assert.deepEqual(policies['AuthorizationPolicy/charge-from-checkout/rules/1']!['principals'], [
      { authenticated: { principal_name: { prefix: 'spiffe://corp.example/ns/ops/' } } },
    ]);
    const jwtRule = policies['AuthorizationPolicy/charge-from-checkout/rules/2']!['principals'] as ProtoObject[];
    const meta = (path: string[], value: ProtoObject) => ({ metadata: { filter: 'envoy.filters.http.jwt_authn', path: path.map((key) => ({ key })), value } });
    assert.deepEqual(jwtRule, [
      {
        and_ids: {
          ids: [
            { and_ids: { ids: [meta(['jwt_payload', 'iss'], { string_match: { exact: 'https://issuer.example' } }), meta(['jwt_payload', 'sub'], { string_match: { exact: 'alice' } })] } },
            { or_ids: { ids: [meta(['jwt_payload', 'realm', 'roles'], { string_match: { exact: 'admin' } }), meta(['jwt_payload', 'realm', 'roles'], { list_match: { one_of: { string_match: { exact: 'admin' } } } })] } },
          ],
        },
      },
    ]);
  });

  it('puts per-route rate limits on their own routes, wrapped optional, before the catch-all', () => {
    const hcm = hcmOf(listeners(SERVICES + '---\n' + POLICIES).get('weft/inbound/search')!);
    const routes = ((hcm['route_config'] as ProtoObject)['virtual_hosts'] as ProtoObject[])[0]!['routes'] as ProtoObject[];
    assert.deepEqual(
      routes.map((r) => [r['name'], r['match']]),
      [
        ['LocalRateLimit/search/routes/0', { path: '/search', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }],
        ['LocalRateLimit/search/routes/0', { prefix: '/search/', headers: [{ name: ':method', string_match: { exact: 'GET' } }] }],
        ['weft-inbound/all', { prefix: '/' }],
      ],
    );
    const perRoute = (routes[0]!['typed_per_filter_config'] as Record<string, ProtoObject>)['envoy.filters.http.local_ratelimit']!;
    assert.equal(perRoute['@type'], TYPE_URL.filterConfig);
    assert.equal(perRoute['is_optional'], true);
    for (const r of routes) assert.deepEqual(r['non_forwarding_action'], {});
  });

  it('is accepted by grpc-js-xds with RBAC enabled (gRFC A41), as a server Listener at a bound address', () => {
    process.env['GRPC_XDS_EXPERIMENTAL_RBAC'] = 'true'; // read when grpc-js-xds loads: set before requiring it
    const require = createRequire(import.meta.url);
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
    const { ListenerResourceType } = require('@grpc/grpc-js-xds/build/src/xds-resource-type/listener-resource-type.js') as {
      ListenerResourceType: { get(): { decode(ctx: unknown, any: { type_url: string; value: Buffer }): { error?: unknown } } };
    };
    const ctx = { bootstrap: { certificateProviders: {} } };
    for (const [name, l] of listeners(SERVICES + '---\n' + POLICIES)) {
      const server = renameInboundListener(l, `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:5000`, { ip: '127.0.0.1', port: 5000 });
      const any = protos().toAny(server);
      const verdict = ListenerResourceType.get().decode(ctx, { type_url: any.type_url, value: Buffer.from(any.value) });
      assert.equal(verdict.error, undefined, `${name}: ${String(verdict.error)}`);
    }
  });

  it('round-trips through the wire into the SDK, which enforces what the policies say', async () => {
    const out = translate(config(SERVICES + '---\n' + POLICIES), []);
    let now = 1_000_000;
    const deps = { nowMs: () => now, providers: new ProviderPool({ nowMs: () => now }, () => {}), buckets: new BucketPool(() => now) };
    const compiled = (name: string) => {
      const decoded = decodeInboundListener(protos().fromAny(protos().toAny(out[TYPE_URL.listener].get(name)!)));
      assert.ok(decoded.ok, decoded.ok ? '' : decoded.errors.join('\n'));
      return compileInboundPolicy(decoded.value.policy, deps);
    };
    const payments = compiled('weft/inbound/payments');
    const verdict = async (req: InboundRequest) => {
      const d = await payments.check(req);
      return d.ok ? 'allow' : `${d.refusal.reason}: ${d.refusal.detail}`;
    };
    const checkout = 'spiffe://weft.local/ns/default/sa/checkout';
    assert.equal(await verdict(request({ method: 'POST', path: '/charge', principal: checkout })), 'allow');
    assert.equal(await verdict(request({ method: 'POST', path: '/charge', principal: 'spiffe://weft.local/ns/default/sa/web' })), 'rbac_denied: no ALLOW policy matched');
    assert.equal(await verdict(request({ method: 'POST', path: '/charge' })), 'rbac_denied: no ALLOW policy matched', 'plaintext: no principal');
    assert.equal(await verdict(request({ method: 'GET', path: '/anything', principal: 'spiffe://weft.local/ns/ops/sa/probe' })), 'allow');
    assert.equal(await verdict(request({ method: 'GET', path: '/debug/vars', principal: 'spiffe://weft.local/ns/ops/sa/probe' })), 'rbac_denied: policy deny-debug', 'DENY wins over ALLOW');
    assert.equal(await verdict(request({ method: 'GET', path: '/api/x', headers: { authorization: 'Bearer not.a.jwt' } })), 'jwt_malformed: Invalid Token or Protected Header formatting');
    const search = compiled('weft/inbound/search');
    const get = () => search.check(request({ method: 'GET', path: '/search/q' })) as { ok: boolean; refusal?: { retryAfterMs?: number } };
    assert.equal(get().ok, true);
    assert.equal(get().ok, true);
    const limited = get();
    assert.equal(limited.ok, false);
    assert.equal(limited.refusal?.retryAfterMs, 1000);
    assert.equal((search.check(request({ method: 'POST', path: '/search/q' })) as { ok: boolean }).ok, true, 'another method is not limited');
    now += 1000;
    assert.equal(get().ok, true, 'admitted again after the refill');
    assert.equal(compiled('weft/inbound/checkout').passThrough, false);
    assert.equal(compileInboundPolicy(decodeOk(translate(config(SERVICES), [])[TYPE_URL.listener].get('weft/inbound/checkout')!), deps).passThrough, true);
  });
  it('evaluates wildcard principals, namespaces and request principals as Istio does', async () => {
    const yaml = `${SERVICES}---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: wild }
spec:
  targetRef: { kind: Service, name: checkout }
  rules:
  - from: [{ source: { namespaces: ["prod-*"], notPrincipals: ["*/sa/intern"] } }]
  - from: [{ source: { requestPrincipals: ["https://issuer.example/*"] } }]
    when: [{ key: "request.auth.claims[scope]", values: ["write*"] }]
`;
    const out = translate(config(yaml), []);
    const now = () => 0;
    const compiled = compileInboundPolicy(decodeOk(out[TYPE_URL.listener].get('weft/inbound/checkout')!), { nowMs: now, providers: new ProviderPool({ nowMs: now }, () => {}), buckets: new BucketPool(now) });
    const allowed = async (over: Partial<InboundRequest>) => (await compiled.check(request(over))).ok;
    assert.equal(await allowed({ principal: 'spiffe://weft.local/ns/prod-eu/sa/web' }), true);
    assert.equal(await allowed({ principal: 'spiffe://weft.local/ns/prod-eu/sa/intern' }), false, 'notPrincipals suffix');
    assert.equal(await allowed({ principal: 'spiffe://weft.local/ns/staging/sa/web' }), false);
    assert.equal(await allowed({ principal: 'spiffe://other.td/ns/prod-eu/sa/web' }), false, 'namespaces are in the mesh trust domain');
    const jwt = (claims: Record<string, unknown>) => new Map([['jwt_payload', claims]]);
    assert.equal(await allowed({ jwt: jwt({ iss: 'https://issuer.example', sub: 'bob', scope: 'write:orders' }) }), true);
    assert.equal(await allowed({ jwt: jwt({ iss: 'https://issuer.example', sub: 'bob', scope: ['read', 'write:all'] }) }), true, 'a list claim');
    assert.equal(await allowed({ jwt: jwt({ iss: 'https://issuer.example', sub: 'bob', scope: 'read' }) }), false);
    assert.equal(await allowed({ jwt: jwt({ iss: 'https://evil.example', sub: 'bob', scope: 'write' }) }), false);
  });
});

function decodeOk(l: ProtoObject) {
  const decoded = decodeInboundListener(protos().fromAny(protos().toAny(l as ProtoObject & { '@type': string })));
  assert.ok(decoded.ok);
  return decoded.value.policy;
}
