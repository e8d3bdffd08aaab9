// Interop: an unmodified @grpc/grpc-js-xds client, bootstrapped to the Weft control plane, and a Weft-meshed grpc-js
// client call plain grpc-js servers registered in Weft, and see the same routing: a weighted GRPCRoute (80/20), a live
// edit of it, and the route's retry policy (A44 in grpc-js-xds, A6 in Weft's client).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { RegistryClient } from '../../src/experimental.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { addEchoService, EchoClient, say, type EchoClientInstance } from '../../src/testing/index.js';
import { runXdsClient, serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const GRPC_ROUTE = (v1: number, v2: number, retry = '') => `apiVersion: gateway.networking.k8s.io/v1
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
${retry}`;

/** A plain grpc-js server (no mesh) with the test kit's echo service: it answers with its name and honours scripted failures. */
async function startEchoServer(name: string): Promise<{ port: number; server: grpc.Server }> {
  const server = new grpc.Server();
  addEchoService(server, name);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return { port, server };
}

describe('grpc-js-xds interop', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  const servers: grpc.Server[] = [];
  let registry: RegistryClient;
  let mesh: Mesh;
  let client: EchoClientInstance;

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
    mesh = await createMesh({ service: 'interop-weft-client', controlPlane: tcp.cp.xdsUrl });
    client = mesh.grpc.client(EchoClient, 'echo');
  });

  after(async () => {
    client?.close();
    await mesh?.close();
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

  it('routes a Weft-meshed grpc-js client 80/20 by the same GRPCRoute', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 200; i++) {
      const { server } = await say(client, {});
      counts[server] = (counts[server] ?? 0) + 1;
    }
    const v2 = counts['echo-v2'] ?? 0;
    assert.ok(v2 >= 17 && v2 <= 63, `echo-v2 got ${v2}/200: ${JSON.stringify(counts)}`);
    assert.equal((counts['echo-v1'] ?? 0) + v2, 200);
  });

  it('both clients follow a live edit of the route', async () => {
    const res = await tcp.apply(GRPC_ROUTE(0, 100));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const result = await runXdsClient(tcp.cp.xdsAddress, 50, 'xds:///echo');
    assert.deepEqual(result.counts, { 'echo-v2': 50 });
    // The Weft client got the same push; allow it the convergence time of one update.
    const deadline = Date.now() + 5_000;
    while ((await say(client, {})).server !== 'echo-v2' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (let i = 0; i < 50; i++) assert.equal((await say(client, {})).server, 'echo-v2');
  });

  it('both clients retry by the retry policy of the route, and neither retries without one', async () => {
    const flaky = { fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2 } };
    const without = await runXdsClient(tcp.cp.xdsAddress, 10, 'xds:///echo', flaky);
    assert.equal(without.failures, 10, `grpc-js-xds without a retry policy: ${JSON.stringify(without)}`);
    await assert.rejects(say(client, flaky), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
    const res = await tcp.apply(GRPC_ROUTE(0, 100, '      retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 10ms }\n'));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const withRetry = await runXdsClient(tcp.cp.xdsAddress, 10, 'xds:///echo', flaky);
    assert.deepEqual(withRetry, { counts: { 'echo-v2': 10 }, failures: 0, lastError: '' });
    const deadline = Date.now() + 5_000;
    for (;;) {
      const ok = await say(client, flaky).then(
        (r) => r.attempt === 2,
        () => false,
      );
      if (ok) break;
      assert.ok(Date.now() < deadline, 'the Weft client did not start retrying within 5 s of the edit');
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 10; i++) assert.equal((await say(client, flaky)).attempt, 2);
  });
});
