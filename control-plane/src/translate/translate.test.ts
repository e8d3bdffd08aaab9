// Tests of translate(): resource names and shapes, endpoint grouping, determinism, and that every resource encodes
// with the real Envoy protos and passes the validation of an unmodified grpc-js-xds client.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { protos, RESOURCE_TYPE_URLS, TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { createMeshConfig } from '../config/mesh-config.js';
import type { XdsResources } from '../model.js';
import { meshConfig, registered, routeYaml, serviceYaml } from './testdata/fixtures.js';
import { translate, translateEndpoints } from './translate.js';
import { decodeCluster } from '../../../src/discovery/xds/resources/cluster.js';

const REALISTIC =
  serviceYaml('payments', ['http:8080', 'grpc:9090:GRPC'], `  endpoints:
  - { address: 10.0.0.9, port: 7000, locality: { region: eu, zone: eu-1 }, weight: 3 }
  - { address: "fd00::1", port: 7001, portName: grpc }
`) +
  serviceYaml('ledger', ['http:80']) +
  serviceYaml('web', ['http:80']) +
  routeYaml(
    'HTTPRoute',
    'payments-split',
    'payments',
    `  - matches:
    - path: { type: PathPrefix, value: /charge }
      method: POST
      headers: [{ name: x-canary, value: "1" }]
      queryParams: [{ type: RegularExpression, name: v, value: "[0-9]+" }]
    - path: { type: RegularExpression, value: "/refund/[a-z0-9-]+" }
    backendRefs: [{ name: payments, port: 8080, weight: 90 }, { name: ledger, weight: 10 }]
    timeouts: { request: 1m30s }
  - matches: [{ path: { type: Exact, value: /health } }]
    backendRefs: [{ name: payments }]
`,
  ) +
  routeYaml(
    'GRPCRoute',
    'payments-rpc',
    'payments',
    `  - matches:
    - method: { service: pay.v1.Payments, method: Charge }
      headers: [{ type: RegularExpression, name: x-tenant, value: "t[0-9]" }]
    - method: { method: Refund }
    backendRefs: [{ name: payments, port: 9090 }]
    timeouts: { request: 500ms }
`,
  );

const ENDPOINTS = [
  registered({ service: 'payments', address: '10.0.1.2', port: 5000, locality: { region: 'us', zone: 'us-1', subZone: 'a' } }),
  registered({ service: 'payments', address: '10.0.1.1', port: 5000, locality: { region: 'us', zone: 'us-1', subZone: 'a' }, weight: 2 }),
  registered({ service: 'payments', address: '10.0.2.1', port: 5000, locality: { region: 'eu', zone: 'eu-1', subZone: '' }, weight: 0 }),
  registered({ service: 'payments', address: '10.0.3.1', port: 6000, portName: 'grpc' }),
  registered({ service: 'payments', address: '10.0.3.2', port: 6000, portName: 'metrics' }), // no such port: ignored
  registered({ service: 'unknown', address: '10.9.9.9', port: 1 }), // not in config: ignored
  registered({ service: 'ledger', address: '10.0.4.1', port: 80, weight: 5_000_000 }),
  registered({ service: 'ledger', address: '10.0.4.1', port: 80 }), // same address twice: sent once
];

function deeplyFrozen(v: unknown): boolean {
  if (v === null || typeof v !== 'object') return true;
  return Object.isFrozen(v) && Object.values(v).every(deeplyFrozen);
}

function names(resources: XdsResources): Record<string, string[]> {
  return Object.fromEntries(RESOURCE_TYPE_URLS.map((url) => [url.split('.').pop(), [...resources[url].keys()]]));
}

describe('translate', () => {
  it('derives every resource name from the config (docs/xds-mapping.md "Names")', () => {
    assert.deepEqual(names(translate(meshConfig(REALISTIC), ENDPOINTS)), {
      Listener: [
        'ledger',
        'ledger:80',
        'payments',
        'payments:8080',
        'payments:9090',
        'web',
        'web:80',
        'weft/inbound',
        'weft/inbound/ledger',
        'weft/inbound/payments',
        'weft/inbound/web',
      ],
      RouteConfiguration: ['ledger', 'payments', 'web'],
      Cluster: ['ledger:80', 'payments:8080', 'payments:9090', 'web:80'],
      ClusterLoadAssignment: ['ledger:80', 'payments:8080', 'payments:9090', 'web:80'],
      Secret: [],
    });
    assert.deepEqual(names(translate(createMeshConfig([], 1), ENDPOINTS)), {
      Listener: ['weft/inbound'],
      RouteConfiguration: [],
      Cluster: [],
      ClusterLoadAssignment: [],
      Secret: [],
    });
  });

  it('builds Listeners as api_listener HCMs with RDS over ADS and the router filter', () => {
    const listener = translate(meshConfig(REALISTIC), [])[TYPE_URL.listener].get('payments:9090');
    assert.deepEqual(listener, {
      '@type': TYPE_URL.listener,
      name: 'payments:9090',
      api_listener: {
        api_listener: {
          '@type': TYPE_URL.httpConnectionManager,
          stat_prefix: 'payments:9090',
          rds: { route_config_name: 'payments', config_source: { ads: {}, resource_api_version: 'V3' } },
          http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
        },
      },
    });
  });

  it('gives each port of a Service without routes its own default route, so the port a caller addresses is the one it reaches', () => {
    const yaml = serviceYaml('billing', ['http:8080', 'grpc:9090:GRPC']);
    const out = translate(meshConfig(yaml), []);
    const rds = (listener: string) => ((out[TYPE_URL.listener].get(listener)!['api_listener'] as ProtoObject)['api_listener'] as { rds: { route_config_name: string } }).rds.route_config_name;
    assert.deepEqual([rds('billing'), rds('billing:8080'), rds('billing:9090')], ['billing', 'billing', 'billing:9090']);
    const cluster = (rc: string) =>
      ((out[TYPE_URL.routeConfiguration].get(rc)!['virtual_hosts'] as { routes: { route: { weighted_clusters: { clusters: { name: string }[] } } }[] }[])[0]!.routes[0]!.route
        .weighted_clusters.clusters[0]!.name);
    assert.equal(cluster('billing'), 'billing:8080', 'no port: the first port');
    assert.equal(cluster('billing:9090'), 'billing:9090');
    // With a route attached, its rules choose the ports: one shared configuration.
    const withRoutes = translate(meshConfig(REALISTIC), [])[TYPE_URL.listener].get('payments:9090')!;
    assert.equal(((withRoutes['api_listener'] as ProtoObject)['api_listener'] as { rds: { route_config_name: string } }).rds.route_config_name, 'payments');
  });

  it('makes the Clusters of a PreferClose Service zone-aware, which the SDK decodes', () => {
    const out = translate(meshConfig(serviceYaml('near', ['http:8080'], '  trafficDistribution: PreferClose\n') + serviceYaml('far', ['http:8080'])), []);
    const near = out[TYPE_URL.cluster].get('near:8080')!;
    assert.deepEqual(near['common_lb_config'], { zone_aware_lb_config: { min_cluster_size: { value: '1' } } });
    assert.equal(out[TYPE_URL.cluster].get('far:8080')!['common_lb_config'], undefined);
    const decoded = decodeCluster(protos().fromAny(protos().toAny(near as ProtoObject & { '@type': string })));
    assert.ok(decoded.ok);
    assert.deepEqual(decoded.value.zoneAware, { minClusterSize: 1 });
  });

  it('builds EDS Clusters with round robin and a 5 s connect timeout', () => {
    assert.deepEqual(translate(meshConfig(REALISTIC), [])[TYPE_URL.cluster].get('web:80'), {
      '@type': TYPE_URL.cluster,
      name: 'web:80',
      type: 'EDS',
      eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'web:80' },
      lb_policy: 'ROUND_ROBIN',
      connect_timeout: { seconds: '5', nanos: 0 },
    });
  });

  it('groups endpoints by locality with weights always set (static + registered, first port for portName "")', () => {
    const cla = translate(meshConfig(REALISTIC), ENDPOINTS)[TYPE_URL.clusterLoadAssignment];
    const ep = (address: string, port: number, weight: number) => ({
      endpoint: { address: { socket_address: { address, port_value: port } } },
      health_status: 'HEALTHY',
      load_balancing_weight: { value: weight },
    });
    assert.deepEqual(cla.get('payments:8080'), {
      '@type': TYPE_URL.clusterLoadAssignment,
      cluster_name: 'payments:8080',
      endpoints: [
        {
          locality: { region: 'eu', zone: 'eu-1', sub_zone: '' },
          load_balancing_weight: { value: 4 },
          priority: 0,
          lb_endpoints: [ep('10.0.0.9', 7000, 3), ep('10.0.2.1', 5000, 1)], // static weight 3; registered weight 0 → 1
        },
        {
          locality: { region: 'us', zone: 'us-1', sub_zone: 'a' },
          load_balancing_weight: { value: 3 },
          priority: 0,
          lb_endpoints: [ep('10.0.1.1', 5000, 2), ep('10.0.1.2', 5000, 1)],
        },
      ],
    });
    assert.deepEqual(cla.get('payments:9090')!['endpoints'], [
      {
        locality: { region: '', zone: '', sub_zone: '' },
        load_balancing_weight: { value: 2 },
        priority: 0,
        lb_endpoints: [ep('10.0.3.1', 6000, 1), ep('fd00::1', 7001, 1)],
      },
    ]);
    assert.deepEqual(cla.get('ledger:80')!['endpoints'], [
      { locality: { region: '', zone: '', sub_zone: '' }, load_balancing_weight: { value: 1_000_000 }, priority: 0, lb_endpoints: [ep('10.0.4.1', 80, 1_000_000)] },
    ]);
    assert.deepEqual(cla.get('web:80'), { '@type': TYPE_URL.clusterLoadAssignment, cluster_name: 'web:80', endpoints: [] });
  });

  it('is deterministic: the same input in any order gives deep-equal output in the same order', () => {
    const config = meshConfig(REALISTIC);
    const a = translate(config, ENDPOINTS);
    const shuffled = createMeshConfig([...config.resources].reverse(), 7);
    const b = translate(shuffled, [...ENDPOINTS].reverse());
    for (const url of RESOURCE_TYPE_URLS) {
      assert.deepEqual([...b[url].keys()], [...a[url].keys()]);
      assert.deepEqual([...b[url].values()], [...a[url].values()]);
    }
  });

  it('confines the endpoints to the ClusterLoadAssignments, which translateEndpoints rebuilds alone', () => {
    const config = meshConfig(REALISTIC);
    const none = translate(config, []);
    const all = translate(config, ENDPOINTS);
    for (const url of RESOURCE_TYPE_URLS) {
      if (url !== TYPE_URL.clusterLoadAssignment) assert.deepEqual([...all[url].entries()], [...none[url].entries()], `${url} does not depend on the endpoints`);
    }
    assert.notDeepEqual([...all[TYPE_URL.clusterLoadAssignment].values()], [...none[TYPE_URL.clusterLoadAssignment].values()]);
    const cla = translateEndpoints(config, ENDPOINTS);
    assert.deepEqual([...cla.keys()], [...all[TYPE_URL.clusterLoadAssignment].keys()], 'same names in the same order');
    assert.deepEqual([...cla.values()], [...all[TYPE_URL.clusterLoadAssignment].values()]);
    for (const r of cla.values()) assert.ok(deeplyFrozen(r));
  });

  it('returns frozen resources carrying their type URL', () => {
    const out = translate(meshConfig(REALISTIC), ENDPOINTS);
    for (const url of RESOURCE_TYPE_URLS) {
      for (const r of out[url].values()) {
        assert.equal(r['@type'], url);
        assert.ok(deeplyFrozen(r), `${String(r['name'] ?? r['cluster_name'])} is not frozen all the way down`);
      }
    }
    const rc = out[TYPE_URL.routeConfiguration].get('payments')!;
    assert.throws(() => ((rc['virtual_hosts'] as ProtoObject[]).length = 0));
  });

  it('encodes every resource with the real Envoy protos and decodes it back', () => {
    const p = protos();
    const out = translate(meshConfig(REALISTIC), ENDPOINTS);
    let count = 0;
    for (const url of RESOURCE_TYPE_URLS) {
      for (const [name, resource] of out[url]) {
        const any = p.toAny(resource);
        assert.equal(any.type_url, url);
        const back = p.fromAny(any);
        assert.equal(back['@type'], url);
        assert.equal(back['name'] ?? back['cluster_name'], name);
        count++;
      }
    }
    assert.equal(count, 7 + 4 + 3 + 4 + 4, "client Listeners + inbound Listeners, route configs, clusters, assignments");
    // Spot-check fields survive the trip exactly as written.
    const rc = p.fromAny(p.toAny(out[TYPE_URL.routeConfiguration].get('payments')!));
    const routes = (rc['virtual_hosts'] as Array<{ routes: Array<Record<string, any>> }>)[0]!.routes;
    assert.deepEqual(
      routes.map((r) => r['name']),
      [
        'GRPCRoute/payments-rpc/rules/0/matches/0',
        'HTTPRoute/payments-split/rules/1/matches/0',
        'HTTPRoute/payments-split/rules/0/matches/1',
        'HTTPRoute/payments-split/rules/0/matches/0',
        'HTTPRoute/payments-split/rules/0/matches/0',
        'GRPCRoute/payments-rpc/rules/0/matches/1',
      ],
    );
    const charge = routes[3]!;
    assert.equal(charge['match']['path'], '/charge');
    assert.equal(routes[4]!['match']['prefix'], '/charge/');
    assert.deepEqual(charge['route']['timeout'], { seconds: '90', nanos: 0 });
    assert.deepEqual(
      charge['route']['weighted_clusters']['clusters'].map((c: Record<string, any>) => [c['name'], c['weight']['value']]),
      [['payments:8080', 90], ['ledger:80', 10]],
    );
  });

  it('produces resources an unmodified grpc-js-xds client accepts (its own validators)', () => {
    const require = createRequire(import.meta.url);
    (require('@grpc/grpc-js-xds') as { register(): void }).register(); // registers the router filter it checks for
    const base = '@grpc/grpc-js-xds/build/src/xds-resource-type/';
    type Decoder = { decode(ctx: unknown, any: { type_url: string; value: Buffer }): { name: string; error?: string } };
    const decoders: Record<string, Decoder> = {
      [TYPE_URL.listener]: require(`${base}listener-resource-type.js`).ListenerResourceType.get(),
      [TYPE_URL.routeConfiguration]: require(`${base}route-config-resource-type.js`).RouteConfigurationResourceType.get(),
      [TYPE_URL.cluster]: require(`${base}cluster-resource-type.js`).ClusterResourceType.get(),
      [TYPE_URL.clusterLoadAssignment]: require(`${base}endpoint-resource-type.js`).EndpointResourceType.get(),
    };
    const ctx = { server: { serverUri: '127.0.0.1:1', channelCreds: [], serverFeatures: [] }, bootstrap: { certificateProviders: {}, node: {}, xdsServers: [], authorities: {} } };
    const decode = (r: ProtoObject & { '@type': string }) => {
      const any = protos().toAny(r);
      return decoders[r['@type']]!.decode(ctx, { type_url: any.type_url, value: Buffer.from(any.value) });
    };
    const out = translate(meshConfig(REALISTIC), ENDPOINTS);
    for (const url of RESOURCE_TYPE_URLS) {
      for (const [name, resource] of out[url]) {
        const result = decode(resource);
        assert.equal(result.error, undefined, `${name}: ${result.error}`);
        assert.equal(result.name, name);
      }
    }
    // The check bites: a duplicate endpoint address (which translate never sends) is refused.
    const cla = out[TYPE_URL.clusterLoadAssignment].get('payments:8080')!;
    const dup = { ...cla, endpoints: [{ ...(cla['endpoints'] as ProtoObject[])[1]!, lb_endpoints: [...((cla['endpoints'] as ProtoObject[])[1]!['lb_endpoints'] as ProtoObject[]), ...((cla['endpoints'] as ProtoObject[])[1]!['lb_endpoints'] as ProtoObject[])] }] };
    assert.match(decode(dup).error ?? '', /duplicate/);
  });
});
