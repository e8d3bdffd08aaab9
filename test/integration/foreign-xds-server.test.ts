// The SDK against an xDS server that is not Weft's: a minimal scripted ADS server (FakeControlPlane) serving
// Istio-style resources. The mesh routes by them, NACKs an invalid update, keeps the last good state, and recovers.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { FakeControlPlane, type FakeResource } from '../../src/testing/index.js';
import { waitFor } from './helpers.js';

const HOST = 'echo.default.svc.cluster.local:8080';
const CLUSTER = 'outbound|8080||echo.default.svc.cluster.local';

// What istiod sends a proxyless client: the listener is named host:port, RDS is named by port, the virtual host
// lists every spelling of the host, the route has a name of its own, and the cluster uses Istio's naming.
const listener: FakeResource = {
  '@type': TYPE_URL.listener,
  name: HOST,
  api_listener: {
    api_listener: {
      '@type': TYPE_URL.httpConnectionManager,
      rds: { route_config_name: '8080', config_source: { ads: {}, resource_api_version: 'V3' } },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
    },
  },
};
const routeConfig = (prefix: string, cluster: string): FakeResource => ({
  '@type': TYPE_URL.routeConfiguration,
  name: '8080',
  virtual_hosts: [
    {
      name: 'echo.default.svc.cluster.local:8080',
      domains: ['echo.default.svc.cluster.local', HOST, 'echo', 'echo:8080'],
      routes: [{ name: 'default', match: { prefix }, route: { cluster, timeout: { seconds: 0 } } }],
    },
  ],
});
const cluster = (name: string): FakeResource => ({
  '@type': TYPE_URL.cluster,
  name,
  type: 'EDS',
  eds_cluster_config: { eds_config: { ads: {}, initial_fetch_timeout: { seconds: 0 }, resource_api_version: 'V3' }, service_name: name },
  lb_policy: 'ROUND_ROBIN',
  connect_timeout: { seconds: 10 },
});
const endpoints = (name: string, port: number): FakeResource => ({
  '@type': TYPE_URL.clusterLoadAssignment,
  cluster_name: name,
  endpoints: [
    {
      locality: { region: 'us-central1', zone: 'us-central1-a', sub_zone: '' },
      load_balancing_weight: { value: 1 },
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } }, health_status: 'HEALTHY' }],
    },
  ],
});

async function backend(name: string): Promise<{ server: http.Server; port: number }> {
  const server = http.createServer((req, res) => res.end(JSON.stringify({ name, host: req.headers.host, path: req.url })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

describe('the SDK against a non-Weft xDS server', { timeout: 60_000 }, () => {
  let xds: FakeControlPlane;
  let mesh: Mesh;
  const servers: http.Server[] = [];
  let portA = 0;
  let portB = 0;

  const get = async (path: string) => {
    const res = await mesh.fetch(`http://${HOST}${path}`);
    assert.equal(res.status, 200);
    return (await res.json()) as { name: string; host: string; path: string };
  };

  before(async () => {
    const a = await backend('a');
    const b = await backend('b');
    servers.push(a.server, b.server);
    portA = a.port;
    portB = b.port;
    xds = await FakeControlPlane.start();
    xds.setResources(TYPE_URL.listener, [listener]);
    xds.setResources(TYPE_URL.routeConfiguration, [routeConfig('/', CLUSTER)]);
    xds.setResources(TYPE_URL.cluster, [cluster(CLUSTER), cluster('outbound|8080|v2|echo.default.svc.cluster.local')]);
    xds.setResources(TYPE_URL.clusterLoadAssignment, [
      endpoints(CLUSTER, portA),
      endpoints('outbound|8080|v2|echo.default.svc.cluster.local', portB),
    ]);
    // Istio names are dotted: say which domain is the mesh's, as a user of another control plane would.
    mesh = await createMesh({ service: 'client', controlPlane: `http://${xds.address}`, dependsOn: [HOST], meshDomains: ['.svc.cluster.local'] });
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await xds?.close();
    for (const s of servers) s.close();
  });

  it('routes by its resources, keeping the logical host', async () => {
    const reply = await get('/hello');
    assert.deepEqual(reply, { name: 'a', host: HOST, path: '/hello' });
    const first = xds.requests.find((r) => r.type_url === TYPE_URL.listener);
    assert.deepEqual(first?.resource_names, [HOST]);
  });

  it('NACKs an invalid update with a precise reason and keeps routing by the last good one', async () => {
    const from = xds.requests.length;
    const goodVersion = [...xds.requests].reverse().find((r) => r.type_url === TYPE_URL.routeConfiguration && r.version_info !== '')!.version_info;
    const bad = routeConfig('/', CLUSTER);
    // A regex JavaScript cannot evaluate as RE2 would (a lookahead) is refused, not silently mis-matched.
    (bad['virtual_hosts'] as { routes: { match: unknown }[] }[])[0]!.routes[0]!.match = { safe_regex: { regex: '(?=x).*' } };
    xds.setResources(TYPE_URL.routeConfiguration, [bad]);
    const nack = await xds.waitForRequest((r) => r.type_url === TYPE_URL.routeConfiguration && r.error_detail !== null, { from, timeoutMs: 5000 });
    assert.match(nack.error_detail!.message, /resource '8080'/);
    assert.match(nack.error_detail!.message, /regex/i);
    assert.equal(nack.version_info, goodVersion, 'a NACK names the last version accepted');
    // Still the old route, and the client says why its config is stale.
    for (let i = 0; i < 5; i++) assert.equal((await get('/still')).name, 'a');
    const types = mesh.status().discovery!.types;
    const rds = types.find((t) => t.typeUrl === TYPE_URL.routeConfiguration)!;
    assert.ok(rds.lastNack, 'NACK visible in mesh.status()');
    const explanation = await mesh.explain(`http://${HOST}/still`);
    assert.equal(explanation.decision, 'forward');
    assert.equal(explanation.nacks.length, 1);
  });

  it('recovers with the next valid update', async () => {
    xds.setResources(TYPE_URL.routeConfiguration, [routeConfig('/', 'outbound|8080|v2|echo.default.svc.cluster.local')]);
    await waitFor(async () => (await get('/x')).name === 'b', 'the new route to be used', 5000);
    await waitFor(() => mesh.status().discovery!.types.every((t) => t.lastNack === undefined), 'the NACK to clear', 5000);
  });
});
