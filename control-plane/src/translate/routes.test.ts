// Tests of RouteConfiguration translation: precedence order, PathPrefix pairs, weights, timeouts, gRPC matches.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { MeshConfig } from '../model.js';
import { meshConfig, routeYaml, serviceYaml } from './testdata/fixtures.js';
import { translate } from './translate.js';

/** The routes of the RouteConfiguration `name`. */
function routesOf(config: MeshConfig, name: string): ProtoObject[] {
  const rc = translate(config, [])[TYPE_URL.routeConfiguration].get(name);
  assert.ok(rc, `no RouteConfiguration ${name}`);
  const vhosts = rc['virtual_hosts'] as Array<{ name: string; domains: string[]; routes: ProtoObject[] }>;
  assert.equal(vhosts.length, 1);
  assert.deepEqual(vhosts[0]!.domains, ['*']);
  return vhosts[0]!.routes;
}

/** `name path-spec` per route, e.g. `HTTPRoute/a/rules/0/matches/0 prefix=/a/`. */
function summary(routes: readonly ProtoObject[]): string[] {
  return routes.map((r) => {
    const m = r['match'] as Record<string, unknown>;
    const spec = 'path' in m ? `path=${String(m['path'])}` : 'prefix' in m ? `prefix=${String(m['prefix'])}` : `regex=${(m['safe_regex'] as { regex: string }).regex}`;
    return `${String(r['name'])} ${spec}`;
  });
}

const SVCS = serviceYaml('web', ['http:80']) + serviceYaml('api', ['http:8080', 'grpc:9090:GRPC']);
const backend = '    backendRefs: [{ name: api }]\n';

describe('route translation', () => {
  it('sends a Service with no route attached to its own first-port cluster', () => {
    assert.deepEqual(routesOf(meshConfig(SVCS), 'api'), [
      {
        name: 'Service/api/default',
        match: { prefix: '/' },
        route: { weighted_clusters: { clusters: [{ name: 'api:8080', weight: { value: 1 } }] } },
      },
    ]);
  });

  it('expresses PathPrefix as an exact path and a "/"-terminated prefix; "/" stays one prefix route', () => {
    const rules = `  - matches: [{ path: { type: PathPrefix, value: /v1/ } }, { path: { value: / } }]\n${backend}`;
    const routes = routesOf(meshConfig(SVCS + routeYaml('HTTPRoute', 'r', 'web', rules)), 'web');
    assert.deepEqual(summary(routes), [
      'HTTPRoute/r/rules/0/matches/0 path=/v1', // trailing "/" of the value is ignored (Gateway API)
      'HTTPRoute/r/rules/0/matches/0 prefix=/v1/',
      'HTTPRoute/r/rules/0/matches/1 prefix=/',
    ]);
    assert.equal(routes[0]!['route'], routes[1]!['route']); // same action for both halves of the pair
  });

  it('orders matches by Gateway API precedence across rules and routes', () => {
    const a = routeYaml(
      'HTTPRoute',
      'a',
      'web',
      `  - matches: [{ path: { value: /x } }]
${backend}  - matches:
    - { path: { value: /x }, headers: [{ name: h1, value: "1" }] }
    - { path: { value: /x }, method: GET }
    - { path: { value: /x }, headers: [{ name: h1, value: "1" }, { name: h2, value: "2" }] }
    - { path: { value: /x }, queryParams: [{ name: q, value: "1" }] }
${backend}`,
    );
    const b = routeYaml(
      'HTTPRoute',
      'b',
      'web',
      `  - matches:
    - { path: { value: /x } }
    - { path: { value: /x/longer } }
    - { path: { type: Exact, value: /x } }
    - { path: { type: RegularExpression, value: "/x/[0-9]+" } }
${backend}`,
    );
    const routes = routesOf(meshConfig(SVCS + b + a), 'web');
    assert.deepEqual(
      summary(routes).filter((_, i) => i === 0 || summary(routes)[i - 1]!.split(' ')[0] !== summary(routes)[i]!.split(' ')[0]),
      [
        'HTTPRoute/b/rules/0/matches/2 path=/x', // Exact
        'HTTPRoute/b/rules/0/matches/3 regex=/x/[0-9]+', // RegularExpression
        'HTTPRoute/b/rules/0/matches/1 path=/x/longer', // longest prefix
        'HTTPRoute/a/rules/1/matches/1 path=/x', // method match
        'HTTPRoute/a/rules/1/matches/2 path=/x', // two headers
        'HTTPRoute/a/rules/1/matches/0 path=/x', // one header
        'HTTPRoute/a/rules/1/matches/3 path=/x', // one query param
        'HTTPRoute/a/rules/0/matches/0 path=/x', // tie: route a before b, then rule order
        'HTTPRoute/b/rules/0/matches/0 path=/x',
      ],
    );
    assert.equal(routes.length, 9 + 7); // every prefix match above is a pair
  });

  it('translates method, header and query matches into Envoy matchers', () => {
    const rules = `  - matches:
    - path: { type: Exact, value: /charge }
      method: POST
      headers: [{ name: X-Canary, value: "yes" }, { type: RegularExpression, name: x-user, value: "u-[0-9]+" }]
      queryParams: [{ name: debug, value: "1" }, { type: RegularExpression, name: v, value: "[12]" }]
${backend}`;
    const [route] = routesOf(meshConfig(SVCS + routeYaml('HTTPRoute', 'r', 'web', rules)), 'web');
    assert.deepEqual(route!['match'], {
      path: '/charge',
      headers: [
        { name: ':method', string_match: { exact: 'POST' } },
        { name: 'x-canary', string_match: { exact: 'yes' } },
        { name: 'x-user', string_match: { safe_regex: { regex: 'u-[0-9]+' } } },
      ],
      query_parameters: [
        { name: 'debug', string_match: { exact: '1' } },
        { name: 'v', string_match: { safe_regex: { regex: '[12]' } } },
      ],
    });
  });

  it('splits by weight: weight-0 backends left out, a missing port means the first, repeats merged', () => {
    const rules = `  - backendRefs:
    - { name: api, port: 9090, weight: 30 }
    - { name: web, weight: 0 }
    - { name: api, weight: 60 }
    - { name: api, port: 8080, weight: 10 }
`;
    const [route] = routesOf(meshConfig(SVCS + routeYaml('HTTPRoute', 'r', 'web', rules)), 'web');
    assert.deepEqual(route!['route'], {
      weighted_clusters: {
        clusters: [
          { name: 'api:9090', weight: { value: 30 } },
          { name: 'api:8080', weight: { value: 70 } },
        ],
      },
    });
  });

  it('sets timeout and max_stream_duration to the request timeout; none for 0s or unset', () => {
    const rules = `  - matches: [{ path: { value: /a } }]
    backendRefs: [{ name: api }]
    timeouts: { request: 1m30s }
  - matches: [{ path: { value: /b } }]
    backendRefs: [{ name: api }]
    timeouts: { request: 250ms }
  - matches: [{ path: { value: /c } }]
    backendRefs: [{ name: api }]
    timeouts: { request: 0s }
  - matches: [{ path: { value: /d } }]
    backendRefs: [{ name: api }]
`;
    const routes = routesOf(meshConfig(SVCS + routeYaml('HTTPRoute', 'r', 'web', rules)), 'web');
    const action = (i: number) => routes[i * 2]!['route'] as Record<string, unknown>;
    assert.deepEqual(action(0)['timeout'], { seconds: '90', nanos: 0 });
    assert.deepEqual(action(0)['max_stream_duration'], { max_stream_duration: { seconds: '90', nanos: 0 } });
    assert.deepEqual(action(1)['timeout'], { seconds: '0', nanos: 250_000_000 });
    assert.deepEqual(action(1)['max_stream_duration'], { max_stream_duration: { seconds: '0', nanos: 250_000_000 } });
    for (const i of [2, 3]) {
      assert.equal('timeout' in action(i), false);
      assert.equal('max_stream_duration' in action(i), false);
    }
  });

  it('translates GRPCRoute method matches into paths', () => {
    const rules = `  - matches:
    - method: { service: pay.v1.Payments, method: Charge }
    - method: { service: pay.v1.Payments }
    - method: { method: Health }
    - method: { type: RegularExpression, service: "pay\\\\.v[0-9]+\\\\.Payments", method: "Get.*" }
    - headers: [{ name: X-Tenant, value: t1 }]
    backendRefs: [{ name: api, port: 9090 }]
    timeouts: { request: 2s }
`;
    const routes = routesOf(meshConfig(SVCS + routeYaml('GRPCRoute', 'g', 'api', rules)), 'api');
    assert.deepEqual(summary(routes), [
      'GRPCRoute/g/rules/0/matches/0 path=/pay.v1.Payments/Charge',
      'GRPCRoute/g/rules/0/matches/3 regex=/(?:pay\\.v[0-9]+\\.Payments)/(?:Get.*)',
      'GRPCRoute/g/rules/0/matches/1 prefix=/pay.v1.Payments/',
      'GRPCRoute/g/rules/0/matches/2 regex=/[^/]+/Health', // method only: less specific than any service
      'GRPCRoute/g/rules/0/matches/4 prefix=/',
    ]);
    assert.deepEqual((routes[4]!['match'] as ProtoObject)['headers'], [{ name: 'x-tenant', string_match: { exact: 't1' } }]);
    assert.deepEqual((routes[0]!['route'] as ProtoObject)['max_stream_duration'], { max_stream_duration: { seconds: '2', nanos: 0 } });
  });

  it('gives every Service a route config with the routes attached to it, a route once per parent', () => {
    const twoParents = routeYaml('HTTPRoute', 'shared', 'web', '  - backendRefs: [{ name: api }]\n').replace(
      'parentRefs: [{ kind: Service, name: web }]',
      'parentRefs: [{ kind: Service, name: web }, { kind: Service, name: api }, { kind: Service, name: web, port: 80 }]',
    );
    const config = meshConfig(SVCS + twoParents);
    assert.deepEqual(summary(routesOf(config, 'web')), ['HTTPRoute/shared/rules/0/matches/0 prefix=/']);
    assert.deepEqual(summary(routesOf(config, 'api')), ['HTTPRoute/shared/rules/0/matches/0 prefix=/']);
    const rc = translate(config, [])[TYPE_URL.routeConfiguration].get('web')!;
    assert.equal(rc['@type'], TYPE_URL.routeConfiguration);
    assert.equal((rc['virtual_hosts'] as Array<{ name: string }>)[0]!.name, 'web');
  });
});
