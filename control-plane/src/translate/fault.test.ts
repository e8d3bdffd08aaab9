// Tests of the fault-injection translation: HCM filter only where needed, per-route HTTPFault overrides, header-gated
// faults split into their own route, real-proto round trips, and acceptance by grpc-js-xds's own validators.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { protos, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { fractionalPercent } from './fault.js';
import { meshConfig, routeYaml, serviceYaml } from './testdata/fixtures.js';
import { translate } from './translate.js';

const FAULT = (name: string, spec: string) =>
  `apiVersion: weft.dev/v1alpha1\nkind: FaultInjection\nmetadata: { name: ${name} }\nspec:\n${spec}---\n`;
const REF = (name: string) => `[{ type: ExtensionRef, extensionRef: { group: weft.dev, kind: FaultInjection, name: ${name} } }]`;

const CONFIG =
  serviceYaml('payments', ['http:8080', 'grpc:9090:GRPC']) +
  serviceYaml('web', ['http:80']) +
  FAULT('half-503', '  abort: { httpStatus: 503, percentage: 50 }\n  delay: { fixedDelay: 1m30s, percentage: 0.125 }\n  maxActiveFaults: 7\n') +
  FAULT('chaos-delay', '  delay: { fixedDelay: 200ms }\n  headers: [{ name: X-Chaos, value: "on" }]\n') +
  FAULT('grpc-unavailable', '  abort: { grpcStatus: 14 }\n') +
  routeYaml(
    'HTTPRoute',
    'pay',
    'payments',
    `  - matches: [{ path: { type: PathPrefix, value: /charge } }]
    backendRefs: [{ name: payments, port: 8080 }]
    filters: ${REF('half-503')}
  - matches: [{ path: { type: Exact, value: /slow }, headers: [{ name: x-tenant, value: a }] }]
    backendRefs: [{ name: payments, port: 8080 }]
    filters: ${REF('chaos-delay')}
  - backendRefs: [{ name: payments, port: 8080 }]
`,
  ) +
  routeYaml(
    'GRPCRoute',
    'pay-rpc',
    'payments',
    `  - matches: [{ method: { service: pay.v1.Payments } }]
    backendRefs: [{ name: payments, port: 9090 }]
    filters: ${REF('grpc-unavailable')}
`,
  );

type AnyRoute = Record<string, any>;

function routesOf(rc: ProtoObject | undefined): AnyRoute[] {
  return (rc!['virtual_hosts'] as Array<{ routes: AnyRoute[] }>)[0]!.routes;
}

describe('translate: fault injection', () => {
  it('writes percentages per ten thousand when two decimals suffice, else per million', () => {
    assert.deepEqual(fractionalPercent(50), { numerator: 5000, denominator: 'TEN_THOUSAND' });
    assert.deepEqual(fractionalPercent(12.5), { numerator: 1250, denominator: 'TEN_THOUSAND' });
    assert.deepEqual(fractionalPercent(0.125), { numerator: 1250, denominator: 'MILLION' });
    assert.deepEqual(fractionalPercent(0), { numerator: 0, denominator: 'TEN_THOUSAND' });
    assert.deepEqual(fractionalPercent(100), { numerator: 10000, denominator: 'TEN_THOUSAND' });
  });

  it('adds the (disabled) fault filter before the router only on listeners whose routes use a fault', () => {
    const out = translate(meshConfig(CONFIG), []);
    for (const name of ['payments', 'payments:8080', 'payments:9090']) {
      const filters = (out[TYPE_URL.listener].get(name)!['api_listener'] as AnyRoute)['api_listener']['http_filters'];
      assert.deepEqual(filters, [
        { name: 'envoy.filters.http.fault', typed_config: { '@type': TYPE_URL.httpFault } },
        { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } },
      ]);
    }
    const web = (out[TYPE_URL.listener].get('web')!['api_listener'] as AnyRoute)['api_listener']['http_filters'];
    assert.deepEqual(web, [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }]);
  });

  it('sets typed_per_filter_config on each route of a faulted rule, and splits header-gated faults into their own route', () => {
    const routes = routesOf(translate(meshConfig(CONFIG), [])[TYPE_URL.routeConfiguration].get('payments'));
    const byName = (n: string) => routes.filter((r) => r['name'] === n);
    const charge = byName('HTTPRoute/pay/rules/0/matches/0');
    assert.equal(charge.length, 2); // path + prefix
    for (const r of charge) {
      assert.deepEqual(r['typed_per_filter_config'], {
        'envoy.filters.http.fault': {
          '@type': TYPE_URL.httpFault,
          delay: { fixed_delay: { seconds: '90', nanos: 0 }, percentage: { numerator: 1250, denominator: 'MILLION' } },
          abort: { percentage: { numerator: 5000, denominator: 'TEN_THOUSAND' }, http_status: 503 },
          max_active_faults: { value: 7 },
        },
      });
    }
    const slow = byName('HTTPRoute/pay/rules/1/matches/0');
    assert.equal(slow.length, 2);
    assert.deepEqual(slow[0]!['match'], {
      path: '/slow',
      headers: [
        { name: 'x-tenant', string_match: { exact: 'a' } },
        { name: 'x-chaos', string_match: { exact: 'on' } },
      ],
    });
    assert.deepEqual(slow[0]!['typed_per_filter_config']['envoy.filters.http.fault']['headers'], [{ name: 'x-chaos', string_match: { exact: 'on' } }]);
    assert.deepEqual(slow[1]!['match'], { path: '/slow', headers: [{ name: 'x-tenant', string_match: { exact: 'a' } }] });
    assert.equal(slow[1]!['typed_per_filter_config'], undefined);
    assert.equal(routes.indexOf(slow[1]!), routes.indexOf(slow[0]!) + 1, 'the gated route sits just before the plain one');
    const rpc = byName('GRPCRoute/pay-rpc/rules/0/matches/0');
    assert.deepEqual(rpc[0]!['typed_per_filter_config']['envoy.filters.http.fault']['abort'], {
      percentage: { numerator: 10000, denominator: 'TEN_THOUSAND' },
      grpc_status: 14,
    });
    assert.equal(byName('HTTPRoute/pay/rules/2/matches/0')[0]!['typed_per_filter_config'], undefined);
  });

  it('encodes with the real Envoy protos (fault proto loaded) and decodes back', () => {
    const p = protos();
    const out = translate(meshConfig(CONFIG), []);
    const rc = p.fromAny(p.toAny(out[TYPE_URL.routeConfiguration].get('payments')!));
    const fault = routesOf(rc).find((r) => r['name'] === 'HTTPRoute/pay/rules/0/matches/0')!['typed_per_filter_config']['envoy.filters.http.fault'];
    assert.equal(fault['@type'], TYPE_URL.httpFault);
    assert.equal(fault['abort']['http_status'], 503);
    assert.equal(fault['max_active_faults']['value'], 7);
    const listener = p.fromAny(p.toAny(out[TYPE_URL.listener].get('payments')!));
    const hcm = (listener['api_listener'] as AnyRoute)['api_listener'];
    assert.equal(hcm['http_filters'][0]['typed_config']['@type'], TYPE_URL.httpFault);
  });

  it('produces resources grpc-js-xds accepts, and its fault filter parses every override', () => {
    const require = createRequire(import.meta.url);
    (require('@grpc/grpc-js-xds') as { register(): void }).register();
    const base = '@grpc/grpc-js-xds/build/src/xds-resource-type/';
    type Decoder = { decode(ctx: unknown, any: { type_url: string; value: Buffer }): { name: string; error?: string; value?: unknown } };
    const decoders: Record<string, Decoder> = {
      [TYPE_URL.listener]: require(`${base}listener-resource-type.js`).ListenerResourceType.get(),
      [TYPE_URL.routeConfiguration]: require(`${base}route-config-resource-type.js`).RouteConfigurationResourceType.get(),
    };
    const ctx = { server: { serverUri: '127.0.0.1:1', channelCreds: [], serverFeatures: [] }, bootstrap: { certificateProviders: {}, node: {}, xdsServers: [], authorities: {} } };
    const decode = (r: ProtoObject & { '@type': string }) => {
      const any = protos().toAny(r);
      return decoders[r['@type']]!.decode(ctx, { type_url: any.type_url, value: Buffer.from(any.value) });
    };
    const out = translate(meshConfig(CONFIG), []);
    for (const url of [TYPE_URL.listener, TYPE_URL.routeConfiguration] as const) {
      for (const [name, resource] of out[url]) {
        const result = decode(resource);
        assert.equal(result.error, undefined, `${name}: ${result.error}`);
      }
    }
    // grpc-js-xds's fault filter parses each per-route override (null = refused).
    const filters = require('@grpc/grpc-js-xds/build/src/http-filter.js') as {
      parseOverrideFilterConfig(any: { type_url: string; value: Buffer }): { config: { abort: unknown; delay: unknown } } | null;
    };
    const routes = routesOf(out[TYPE_URL.routeConfiguration].get('payments'));
    let parsed = 0;
    for (const r of routes) {
      const config = r['typed_per_filter_config']?.['envoy.filters.http.fault'];
      if (config === undefined) continue;
      const any = protos().toAny(config);
      const result = filters.parseOverrideFilterConfig({ type_url: any.type_url, value: Buffer.from(any.value) });
      assert.notEqual(result, null, `${r['name']}: grpc-js-xds refused the fault override`);
      parsed++;
    }
    assert.equal(parsed, 4); // /charge (2 routes), the x-chaos gated /slow, the gRPC rule
  });
});
