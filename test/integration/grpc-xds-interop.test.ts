// Interop: an unmodified @grpc/grpc-js-xds client, bootstrapped to the Weft control plane, calls plain grpc-js
// servers registered in Weft, and follows a weighted GRPCRoute (80/20) and a live edit of it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RegistryClient } from '../../src/experimental.js';
import { runXdsClient, serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const GRPC_ROUTE = (v1: number, v2: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo-split
spec:
  parentRefs:
    - kind: Service
      name: echo
  rules:
    - matches:
        - method:
            service: weft.test.Echo
      backendRefs:
        - name: echo-v1
          port: 50051
          weight: ${v1}
        - name: echo-v2
          port: 50051
          weight: ${v2}
`;

const json = {
  serialize: (value: unknown) => Buffer.from(JSON.stringify(value)),
  deserialize: (bytes: Buffer) => JSON.parse(bytes.toString()) as unknown,
};

/** A plain grpc-js server (no Weft code in it) answering /weft.test.Echo/Say with its name. */
async function startEchoServer(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  server.addService(
    {
      Say: {
        path: '/weft.test.Echo/Say',
        requestStream: false,
        responseStream: false,
        requestSerialize: json.serialize,
        requestDeserialize: json.deserialize,
        responseSerialize: json.serialize,
        responseDeserialize: json.deserialize,
      },
    },
    { Say: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, { server: name }) },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, server };
}

describe('grpc-js-xds interop', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  const servers: grpc.Server[] = [];
  let registry: RegistryClient;

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': [serviceYaml('echo', 'GRPC', 50051), serviceYaml('echo-v1', 'GRPC', 50051), serviceYaml('echo-v2', 'GRPC', 50051)].join('---\n'),
      'route.yaml': GRPC_ROUTE(80, 20),
    });
    registry = new RegistryClient({ server: tcp.cp.xdsAddress });
    for (const name of ['echo-v1', 'echo-v2']) {
      const { port, server } = await startEchoServer(name);
      servers.push(server);
      const registration = registry.register({ service: name, address: '127.0.0.1', port, nodeId: `interop-${name}` });
      assert.equal(await registration.registered(), true);
    }
  });

  after(async () => {
    await registry?.close();
    for (const s of servers) s.forceShutdown();
    await tcp?.close();
  });

  it('routes an unmodified grpc-js-xds client 80/20 by a GRPCRoute', async () => {
    const result = await runXdsClient(tcp.cp.xdsAddress, 200, 'xds:///echo');
    assert.equal(result.failures, 0, result.lastError);
    const v2 = result.counts['echo-v2'] ?? 0;
    // 20 % of 200 = 40, binomial sd ≈ 5.7: allow ±4 sd.
    assert.ok(v2 >= 17 && v2 <= 63, `echo-v2 got ${v2}/200: ${JSON.stringify(result.counts)}`);
    assert.equal((result.counts['echo-v1'] ?? 0) + v2, 200);
  });

  it('follows a live edit of the route', async () => {
    const res = await tcp.apply(GRPC_ROUTE(0, 100));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const result = await runXdsClient(tcp.cp.xdsAddress, 50, 'xds:///echo');
    assert.deepEqual(result.counts, { 'echo-v2': 50 });
  });
});
