// Points an unmodified @grpc/grpc-js-xds client at the ADS server and checks it routes, ACKs, follows pushes and NACKs.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import grpcXds from '@grpc/grpc-js-xds';
import { TYPE_URL } from '../../../src/discovery/xds/protos.js';
import type { XdsResource, XdsResources } from '../model.js';
import { AdsServer } from './ads-server.js';
import { SnapshotCache } from './snapshot-cache.js';
import { hcmTelemetryFields } from '../translate/telemetry.js';
import { parseAccessLogFilter, type AccessLogFilterExpr } from '../config/telemetry-schema.js';

const ECHO: grpc.ServiceDefinition = {
  Echo: {
    path: '/test.Echo/Echo',
    requestStream: false,
    responseStream: false,
    requestSerialize: (b: Buffer) => b,
    requestDeserialize: (b: Buffer) => b,
    responseSerialize: (b: Buffer) => b,
    responseDeserialize: (b: Buffer) => b,
  },
};

/** The Listener/Route/Cluster/CLA set of docs/xds-mapping.md for one service `echo` whose endpoint is 127.0.0.1:`port`. */
function echoWorld(port: number, lbPolicy = 'ROUND_ROBIN', hcmExtra: Record<string, unknown> = {}): XdsResources {
  const listener: XdsResource = {
    '@type': TYPE_URL.listener,
    name: 'echo',
    api_listener: {
      api_listener: {
        '@type': TYPE_URL.httpConnectionManager,
        stat_prefix: 'echo',
        rds: { route_config_name: 'echo', config_source: { ads: {}, resource_api_version: 'V3' } },
        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TYPE_URL.router } }],
        ...hcmExtra,
      },
    },
  };
  const route: XdsResource = {
    '@type': TYPE_URL.routeConfiguration,
    name: 'echo',
    virtual_hosts: [{ name: 'echo', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { weighted_clusters: { clusters: [{ name: 'echo:80', weight: { value: 1 } }] } } }] }],
  };
  const cluster: XdsResource = {
    '@type': TYPE_URL.cluster,
    name: 'echo:80',
    type: 'EDS',
    eds_cluster_config: { eds_config: { ads: {}, resource_api_version: 'V3' }, service_name: 'echo:80' },
    lb_policy: lbPolicy,
    connect_timeout: { seconds: 5 },
  };
  const cla: XdsResource = {
    '@type': TYPE_URL.clusterLoadAssignment,
    cluster_name: 'echo:80',
    endpoints: [{
      locality: { region: '', zone: '', sub_zone: '' },
      load_balancing_weight: { value: 1 },
      priority: 0,
      lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: port } } }, health_status: 'HEALTHY', load_balancing_weight: { value: 1 } }],
    }],
  };
  return {
    [TYPE_URL.listener]: new Map([['echo', listener]]),
    [TYPE_URL.routeConfiguration]: new Map([['echo', route]]),
    [TYPE_URL.cluster]: new Map([['echo:80', cluster]]),
    [TYPE_URL.clusterLoadAssignment]: new Map([['echo:80', cla]]),
    [TYPE_URL.secret]: new Map(),
  } as XdsResources;
}

async function bind(server: grpc.Server): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
}

describe('ADS interop with @grpc/grpc-js-xds', { timeout: 30_000 }, () => {
  const cache = new SnapshotCache();
  const ads = new AdsServer({ cache });
  const cp = new grpc.Server();
  const backends: grpc.Server[] = [];
  const backendPorts: number[] = [];
  let client: grpc.Client;

  before(async () => {
    for (const label of ['A', 'B']) {
      const s = new grpc.Server();
      s.addService(ECHO, { Echo: (_call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(label)) });
      backendPorts.push(await bind(s));
      backends.push(s);
    }
    ads.addTo(cp);
    const cpPort = await bind(cp);
    cache.set(echoWorld(backendPorts[0]!));
    process.env['GRPC_XDS_BOOTSTRAP_CONFIG'] = JSON.stringify({
      xds_servers: [{ server_uri: `127.0.0.1:${cpPort}`, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
      node: { id: 'interop-client-1', cluster: 'interop', locality: {} },
    });
    grpcXds.register();
    const Ctor = grpc.makeGenericClientConstructor(ECHO, 'Echo');
    client = new Ctor('xds:///echo', grpc.credentials.createInsecure());
  });
  after(() => {
    client.close();
    ads.close();
    cp.forceShutdown();
    for (const b of backends) b.forceShutdown();
  });

  const echo = () =>
    new Promise<string>((resolve, reject) => {
      const method = (client as unknown as Record<string, grpc.requestCallback<Buffer> & ((...a: unknown[]) => void)>)['Echo']!;
      method.call(client, Buffer.from('hi'), { deadline: Date.now() + 5_000 }, (e: grpc.ServiceError | null, r?: Buffer) => (e ? reject(e) : resolve(String(r))));
    });
  const eventually = async (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5_000) => {
    const end = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const clientTypes = () => ads.clients().find((c) => c.nodeId === 'interop-client-1')?.types ?? [];

  it('resolves xds:///echo through LDS, RDS, CDS and EDS and ACKs every type', async () => {
    assert.equal(await echo(), 'A');
    await eventually(() => clientTypes().length === 4 && clientTypes().every((t) => t.ackedVersion !== '' && t.ackedVersion === t.sentVersion), 'ACKs of all four types');
    assert.ok(clientTypes().every((t) => t.nack === undefined));
    const client0 = ads.clients().find((c) => c.nodeId === 'interop-client-1');
    assert.equal(client0?.service, 'interop');
    assert.match(client0?.userAgent ?? '', /gRPC Node/);
  });

  it('follows an endpoint change pushed by the server', async () => {
    cache.set(echoWorld(backendPorts[1]!));
    await eventually(async () => (await echo()) === 'B', 'calls to reach backend B');
  });

  it('NACKs a cluster it cannot use, keeps working on the last good one, and the NACK is recorded', async () => {
    cache.set(echoWorld(backendPorts[1]!, 'LEAST_REQUEST'));
    await eventually(() => clientTypes().some((t) => t.typeUrl === TYPE_URL.cluster && t.nack !== undefined), 'a CDS NACK');
    const nack = clientTypes().find((t) => t.typeUrl === TYPE_URL.cluster)?.nack;
    assert.match(nack?.message ?? '', /LEAST_REQUEST/);
    assert.equal(nack?.version, cache.get(TYPE_URL.cluster).version);
    assert.equal(await echo(), 'B');
    cache.set(echoWorld(backendPorts[0]!));
    await eventually(async () => (await echo()) === 'A', 'calls to reach backend A after the fix');
    await eventually(() => clientTypes().every((t) => t.nack === undefined), 'the NACK to clear');
  });

  it('ACKs a Listener carrying Telemetry (tracing.random_sampling, a filtered stdout access_log) and keeps routing', async () => {
    const parsed = parseAccessLogFilter('response.code >= 500 || response.duration > 100ms && response.code == 200') as AccessLogFilterExpr;
    const telemetry = hcmTelemetryFields({ samplingPercent: 10, accessLogging: { disabled: false, filter: { expression: '', parsed } } });
    cache.set(echoWorld(backendPorts[1]!, 'ROUND_ROBIN', telemetry));
    const lds = () => clientTypes().find((t) => t.typeUrl === TYPE_URL.listener);
    await eventually(() => lds()?.ackedVersion === cache.get(TYPE_URL.listener).version, 'the Listener with Telemetry to be ACKed');
    assert.equal(lds()?.nack, undefined);
    await eventually(async () => (await echo()) === 'B', 'calls to follow the push');
  });
});
