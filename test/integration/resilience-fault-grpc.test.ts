// Interop: an unmodified @grpc/grpc-js-xds client and a Weft-meshed grpc-js client both obey a Weft FaultInjection
// (gRFC A33 client-side fault injection): a GRPCRoute rule with a 100 % grpcStatus abort fails every RPC with that
// status, and the server sees none of them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RegistryClient } from '../../src/experimental.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { addEchoService, EchoClient, say, type EchoStats } from '../../src/testing/index.js';
import { runXdsClient, serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const ROUTE = (fault: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: fault-rpc
spec:
  parentRefs:
    - kind: Service
      name: fault-rpc
  rules:
    - matches:
        - method:
            service: weft.test.Echo
      backendRefs:
        - name: fault-rpc
          port: 50051
${fault ? `      filters:\n        - type: ExtensionRef\n          extensionRef: { group: weft.dev, kind: FaultInjection, name: ${fault} }\n` : ''}`;

const FAULT = `apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata:
  name: rpc-unavailable
spec:
  abort: { grpcStatus: 14, percentage: 100 }
`;


describe('grpc-js-xds obeys Weft fault injection (gRFC A33)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let server: grpc.Server;
  let registry: RegistryClient;
  let stats: EchoStats;
  const served = (): number => stats.calls['Say'] ?? 0;
  let mesh: Mesh;

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': serviceYaml('fault-rpc', 'GRPC', 50051),
      'fault.yaml': FAULT,
      'route.yaml': ROUTE('rpc-unavailable'),
    });
    server = new grpc.Server();
    stats = addEchoService(server, 'fault-rpc');
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    registry = new RegistryClient({ server: tcp.cp.xdsAddress });
    const registration = registry.register({ service: 'fault-rpc', address: '127.0.0.1', port, nodeId: 'fault-rpc-server' });
    assert.equal(await registration.registered(), true);
  });

  after(async () => {
    await mesh?.close();
    await registry?.close();
    server?.forceShutdown();
    await tcp?.close();
  });

  it('fails every RPC with UNAVAILABLE from the fault, never reaching the server', async () => {
    const result = await runXdsClient(tcp.cp.xdsAddress, 20, 'xds:///fault-rpc');
    assert.equal(result.failures, 20, JSON.stringify(result));
    assert.match(result.lastError, /^14 UNAVAILABLE: Fault injected/);
    assert.equal(served(), 0);
  });

  it('fails every call of a Weft-meshed grpc-js client the same way, naming the route, before anything is sent', async () => {
    mesh = await createMesh({ service: 'fault-caller', controlPlane: tcp.cp.xdsUrl });
    const client = mesh.grpc.client(EchoClient, 'fault-rpc');
    try {
      for (let i = 0; i < 20; i++) {
        await assert.rejects(say(client, {}), (e: grpc.ServiceError) => {
          assert.equal(e.code, grpc.status.UNAVAILABLE);
          assert.match(e.details, /fault injected by route 'GRPCRoute\/fault-rpc\/rules\/0\/matches\/0' of fault-rpc/);
          return true;
        });
      }
    } finally {
      client.close();
    }
    assert.equal(served(), 0);
  });

  it('calls go through once the filter is removed from the rule', async () => {
    const res = await tcp.apply(ROUTE(''));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const result = await runXdsClient(tcp.cp.xdsAddress, 10, 'xds:///fault-rpc');
    assert.deepEqual(result, { counts: { 'fault-rpc': 10 }, failures: 0, lastError: '' });
    assert.equal(served(), 10);
    const client = mesh.grpc.client(EchoClient, 'fault-rpc');
    try {
      for (let i = 0; i < 5; i++) assert.equal((await say(client, {})).server, 'fault-rpc');
    } finally {
      client.close();
    }
    assert.equal(served(), 15);
  });
});
