// Tests that resources shaped like istiod's and go-control-plane's (not Weft's) decode and compile to a resolved target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_MESH_STATE } from '../mesh-state.js';
import { compileMeshState } from './compile.js';
import { protos, TYPE_URL, type ProtoObject, type ResourceTypeUrl } from './protos.js';
import { ResourceCache } from './resource-cache.js';
import { findVirtualHost } from './virtual-host.js';

const FAULT_URL = 'type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault';

function load(cache: ResourceCache, typeUrl: ResourceTypeUrl, resources: ProtoObject[], names: string[]): readonly string[] {
  const anys = resources.map((r) => protos().toAny({ '@type': typeUrl, ...r }));
  return cache.apply(typeUrl, 'v1', anys, new Set(names), new Set(names)).errors;
}

test('an istiod-style proxyless gRPC chain resolves (fault filter, outbound|port||host names, 0s timeouts)', () => {
  const host = 'payments.default.svc.cluster.local';
  const target = `${host}:8080`;
  const cluster = `outbound|8080||${host}`;
  const cache = new ResourceCache();
  const ads = { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' };
  assert.deepEqual(
    load(cache, TYPE_URL.listener, [{
      name: target,
      api_listener: { api_listener: {
        '@type': TYPE_URL.httpConnectionManager,
        rds: { config_source: ads, route_config_name: target },
        http_filters: [
          { name: 'envoy.filters.http.fault', typed_config: { type_url: FAULT_URL, value: Buffer.alloc(0) } },
          { name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } },
        ],
      } },
    }], [target]),
    [],
  );
  assert.deepEqual(
    load(cache, TYPE_URL.routeConfiguration, [{
      name: target,
      validate_clusters: { value: false },
      virtual_hosts: [
        { name: 'allow_any', domains: ['*'], routes: [{ name: 'allow_any', match: { prefix: '/' }, route: { cluster: 'PassthroughCluster' } }] },
        {
          name: target,
          domains: [host, target, 'payments', 'payments:8080', 'payments.default', 'payments.default:8080', '10.96.0.12', '10.96.0.12:8080'],
          routes: [{
            name: 'default',
            match: { prefix: '/' },
            decorator: { operation: `${host}:8080/*` },
            route: {
              cluster,
              timeout: { seconds: 0 },
              retry_policy: { retry_on: 'connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes', num_retries: { value: 2 } },
              max_stream_duration: { max_stream_duration: { seconds: 0 }, grpc_timeout_header_max: { seconds: 0 } },
            },
          }],
        },
      ],
    }], [target]),
    [],
  );
  const clusters = [cluster, 'PassthroughCluster'];
  assert.deepEqual(
    load(cache, TYPE_URL.cluster, clusters.map((name) => ({
      name,
      type: 'EDS',
      eds_cluster_config: { eds_config: ads, service_name: name },
      connect_timeout: { seconds: 10 },
      circuit_breakers: { thresholds: [{ max_connections: { value: 4294967295 }, max_requests: { value: 4294967295 } }] },
      common_lb_config: { locality_weighted_lb_config: {} },
    })), clusters),
    [],
  );
  assert.deepEqual(
    load(cache, TYPE_URL.clusterLoadAssignment, clusters.map((name) => ({
      cluster_name: name,
      endpoints: [{
        locality: { region: 'us-central1', zone: 'us-central1-a' },
        load_balancing_weight: { value: 1 },
        lb_endpoints: [{
          endpoint: { address: { socket_address: { address: '10.1.2.3', port_value: 8080 } } },
          health_status: 'HEALTHY',
          load_balancing_weight: { value: 1 },
        }],
      }],
    })), clusters),
    [],
  );
  const state = compileMeshState({ targets: [target], resources: cache }, EMPTY_MESH_STATE);
  const resolved = state.targets.get(target);
  assert.ok(resolved?.status === 'resolved');
  const vh = findVirtualHost(resolved.routes.virtualHosts, target);
  assert.equal(vh?.name, target, 'the exact domain beats the allow_any wildcard');
  const action = vh?.routes[0]?.action;
  assert.deepEqual(action, {
    kind: 'forward',
    clusters: [{ cluster, weight: 1 }],
    totalWeight: 1,
    timeoutMs: undefined,
    // istiod's default retry policy (retry_host_predicate/host_selection_retry_max_attempts are ignored by Weft)
    retry: {
      conditions: ['connect-failure', 'refused-stream', 'unavailable', 'cancelled', 'retriable-status-codes'],
      retriableStatusCodes: [],
      numRetries: 2,
      perTryTimeoutMs: undefined,
      baseIntervalMs: 25,
      maxIntervalMs: 250,
      retryNonIdempotent: false,
    },
  });
  assert.deepEqual(state.clusters.get(cluster)?.endpoints[0]?.locality, { region: 'us-central1', zone: 'us-central1-a', subZone: '' });
  assert.equal(state.clusters.get(cluster)?.connectTimeoutMs, 10_000);
});

test('go-control-plane-style resources with no locality, no weights and a bare cluster route resolve', () => {
  const cache = new ResourceCache();
  const ads = { resource_api_version: 'V3', ads: {} };
  assert.deepEqual(load(cache, TYPE_URL.listener, [{
    name: 'echo',
    api_listener: { api_listener: {
      '@type': TYPE_URL.httpConnectionManager,
      stat_prefix: 'http',
      codec_type: 'AUTO',
      route_config: { name: 'local_route', virtual_hosts: [{ name: 'local_service', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'echo_cluster' } }] }] },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
    } },
  }], ['echo']), []);
  assert.deepEqual(load(cache, TYPE_URL.cluster, [{
    name: 'echo_cluster', connect_timeout: { seconds: 5 }, type: 'EDS', lb_policy: 'ROUND_ROBIN', eds_cluster_config: { eds_config: ads },
  }], ['echo_cluster']), []);
  assert.deepEqual(load(cache, TYPE_URL.clusterLoadAssignment, [{
    cluster_name: 'echo_cluster',
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { protocol: 'TCP', address: '127.0.0.1', port_value: 9000 } } } }] }],
  }], ['echo_cluster']), []);
  const state = compileMeshState({ targets: ['echo'], resources: cache }, EMPTY_MESH_STATE);
  const resolved = state.targets.get('echo');
  assert.ok(resolved?.status === 'resolved');
  assert.equal(resolved.routes.routeConfig, 'local_route');
  assert.deepEqual(state.clusters.get('echo_cluster')?.endpoints, [
    { address: '127.0.0.1', port: 9000, weight: 1, locality: { region: '', zone: '', subZone: '' }, health: 'UNKNOWN' },
  ]);
});
