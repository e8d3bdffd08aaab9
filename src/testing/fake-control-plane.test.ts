// Tests the FakeControlPlane's own protocol behaviour, and that an unmodified grpc-js-xds client routes by what it serves.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import * as grpcXds from '@grpc/grpc-js-xds';
import { protos, TYPE_URL, type ProtoObject } from '../discovery/xds/protos.js';
import { FakeControlPlane, xdsResource as x } from './fake-control-plane.js';

const TEST_TIMEOUT_MS = 20_000;

/** A raw ADS stream to `cp`, collecting responses. */
function openStream(t: TestContext, cp: FakeControlPlane) {
  const Client = grpc.makeGenericClientConstructor(protos().adsService, 'AggregatedDiscoveryService');
  const client = new Client(cp.address, grpc.credentials.createInsecure());
  const call = (client as unknown as { StreamAggregatedResources(): grpc.ClientDuplexStream<ProtoObject, ProtoObject> }).StreamAggregatedResources();
  const responses: ProtoObject[] = [];
  const waiters: (() => void)[] = [];
  call.on('data', (r: ProtoObject) => {
    responses.push(r);
    waiters.splice(0).forEach((w) => w());
  });
  call.on('error', () => {});
  t.after(() => {
    call.cancel();
    client.close();
  });
  const next = (count: number): Promise<ProtoObject> =>
    responses.length >= count ? Promise.resolve(responses[count - 1]!) : new Promise((r) => waiters.push(() => void next(count).then(r)));
  return { call, responses, next };
}

test('answers a type once it is set, on name changes only, and pushes updates to subscribers', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const cp = await FakeControlPlane.start();
  t.after(() => cp.close());
  const { call, responses, next } = openStream(t, cp);
  call.write({ type_url: TYPE_URL.cluster, resource_names: ['a', 'b'], node: { id: 'n' } });
  await cp.waitForRequest((r) => r.type_url === TYPE_URL.cluster);
  assert.equal(responses.length, 0, 'nothing set yet: no answer');

  cp.setResources(TYPE_URL.cluster, [x.cluster('a'), x.cluster('z')]);
  const first = await next(1);
  assert.equal(first['version_info'], '1');
  assert.deepEqual((first['resources'] as ProtoObject[]).map((r) => r['name']), ['a'], 'only subscribed resources are sent');

  call.write({ type_url: TYPE_URL.cluster, resource_names: ['a', 'b'], version_info: '1', response_nonce: String(first['nonce']) });
  call.write({ type_url: TYPE_URL.cluster, resource_names: ['a', 'z'], version_info: '1', response_nonce: String(first['nonce']) });
  const second = await next(2);
  assert.deepEqual((second['resources'] as ProtoObject[]).map((r) => r['name']), ['a', 'z']);
  assert.ok(Number(second['nonce']) > Number(first['nonce']), 'nonces increase');
  assert.equal(responses.length, 2, 'the ACK with unchanged names got no answer');

  cp.setResources(TYPE_URL.cluster, [x.cluster('a')], { version: 'v-next' });
  const third = await next(3);
  assert.equal(third['version_info'], 'v-next');
  assert.equal(cp.requests[0]?.node?.['id'], 'n');
  assert.equal(cp.requests[1]?.response_nonce, String(first['nonce']));
  assert.equal(cp.openStreams, 1);
});

test('an unmodified grpc-js-xds client routes an RPC by the resources it serves', { timeout: TEST_TIMEOUT_MS }, async (t) => {
  const identity = (b: Buffer): Buffer => b;
  const server = new grpc.Server();
  server.addService(
    { Say: { path: '/test.Echo/Say', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity, originalName: 'Say' } },
    { Say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(`echo:${call.request.toString()}`)) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const cp = await FakeControlPlane.start();
  cp.setResources(TYPE_URL.listener, [x.listener('payments')]);
  cp.setResources(TYPE_URL.routeConfiguration, [x.routeConfig('payments', [x.route('/', { 'payments:8080': 1 }, 5000)])]);
  cp.setResources(TYPE_URL.cluster, [x.cluster('payments:8080')]);
  cp.setResources(TYPE_URL.clusterLoadAssignment, [x.clusterLoadAssignment('payments:8080', [`127.0.0.1:${port}`])]);

  grpcXds.register();
  const bootstrap = {
    xds_servers: [{ server_uri: cp.address, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'interop', cluster: 'interop', locality: {} },
  };
  const client = new grpc.Client('xds:///payments', grpc.credentials.createInsecure(), {
    'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap),
  });
  t.after(async () => {
    client.close();
    await cp.close();
    server.forceShutdown();
  });
  const reply = await new Promise<Buffer>((resolve, reject) =>
    client.makeUnaryRequest('/test.Echo/Say', identity, identity, Buffer.from('hi'), { deadline: Date.now() + 10_000 }, (e, r) => (e || !r ? reject(e) : resolve(r))),
  );
  assert.equal(reply.toString(), 'echo:hi');
  const acks = cp.requests.filter((r) => r.response_nonce !== '' && r.error_detail === null);
  assert.deepEqual([...new Set(acks.map((r) => r.type_url))].sort(), [...Object.values(TYPE_URL)].filter((u) => cp.responses.some((s) => s.type_url === u)).sort());
  assert.equal(cp.requests.some((r) => r.error_detail !== null), false, 'grpc-js-xds NACKed nothing');
});
