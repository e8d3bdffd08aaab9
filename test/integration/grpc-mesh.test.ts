// Meshed grpc-js clients and servers: a real control plane, echo backends in their own processes (served through
// mesh.grpc), and a client mesh in this process. Routing by method and metadata, weighted split, all four call types,
// deadline, retry (and the safe default without it), and clear errors for unroutable calls.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh } from '../../src/index.js';
import { EchoClient, echoService, say, type EchoReply, type EchoClientInstance } from '../../src/testing/index.js';
import { serviceYaml, spawnFixture, startTestControlPlane, type TestControlPlane, type TestProcess } from './helpers.js';

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata:
  name: echo
spec:
  parentRefs:
    - { kind: Service, name: echo }
  rules:
    - matches:
        - method: { service: weft.test.Echo, method: Say }
          headers: [{ name: x-canary, value: "yes" }]
      backendRefs: [{ name: echo-v2, port: 50051 }]
    - matches:
        - method: { service: weft.test.Echo, method: Say }
          headers: [{ name: x-noretry, value: "yes" }]
      backendRefs: [{ name: echo-v1, port: 50051 }]
      timeouts: { request: 1s }
    - matches:
        - method: { service: weft.test.Echo, method: Say }
      backendRefs:
        - { name: echo-v1, port: 50051, weight: 80 }
        - { name: echo-v2, port: 50051, weight: 20 }
      timeouts: { request: 1s }
      retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 10ms }
    - matches:
        - method: { service: weft.test.Echo }
      backendRefs:
        - { name: echo-v1, port: 50051 }
        - { name: echo-v2, port: 50051 }
`;

function collect<T>(stream: grpc.ClientReadableStream<T> | grpc.ClientDuplexStream<unknown, T>): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const out: T[] = [];
    stream.on('data', (d: T) => out.push(d));
    stream.on('error', reject);
    stream.on('end', () => resolve(out));
  });
}

describe('meshed gRPC (mesh.grpc)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let client: EchoClientInstance;
  const backends: TestProcess[] = [];

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': ['echo', 'echo-v1', 'echo-v2', 'nothing'].map((s) => serviceYaml(s, 'GRPC', 50051)).join('---\n'),
      'route.yaml': ROUTE,
    });
    const env = { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl };
    for (const [service, instance] of [['echo-v1', 'v1-a'], ['echo-v1', 'v1-b'], ['echo-v2', 'v2-a']] as const) {
      backends.push(spawnFixture('test/integration/fixtures/grpc-echo-backend.ts', { ...env, SERVICE: service, INSTANCE: instance }));
    }
    await Promise.all(backends.map((b) => b.waitForLine((l) => l['type'] === 'ready')));
    mesh = await createMesh({ service: 'frontend', controlPlane: tcp.cp.xdsUrl });
    client = mesh.grpc.client(EchoClient, 'echo');
  });

  after(async () => {
    client?.close();
    await mesh?.close();
    await Promise.all(backends.map((b) => b.stop()));
    await tcp?.close();
  });

  it('splits unary calls 80/20 by weight across the backends of a GRPCRoute rule', async () => {
    const replies: EchoReply[] = [];
    for (let i = 0; i < 200; i++) replies.push(await say(client, { text: String(i) }));
    const v2 = replies.filter((r) => r.server === 'v2-a').length;
    // 20 % of 200 = 40, binomial sd ≈ 5.7: allow ±4 sd.
    assert.ok(v2 >= 17 && v2 <= 63, `v2 got ${v2}/200`);
    const v1 = new Set(replies.filter((r) => r.server !== 'v2-a').map((r) => r.server));
    assert.deepEqual([...v1].sort(), ['v1-a', 'v1-b'], 'both v1 replicas are balanced to');
  });

  it('routes by metadata: Say with x-canary: yes always reaches v2 (more header conditions win over the split rule)', async () => {
    const md = new grpc.Metadata();
    md.set('x-canary', 'yes');
    for (let i = 0; i < 20; i++) assert.equal((await say(client, { text: 'c' }, { metadata: md })).server, 'v2-a');
  });

  it('carries all four call types through the mesh', async () => {
    const unary = await say(client, { text: 'hi' });
    assert.equal(unary.text, 'hi');
    const counted = await collect<EchoReply>(client.makeServerStreamRequest(echoService.Count.path, echoService.Count.requestSerialize, echoService.Count.responseDeserialize, { count: 4 }));
    assert.deepEqual(counted.map((r) => r.index), [0, 1, 2, 3]);
    assert.equal(new Set(counted.map((r) => r.server)).size, 1, 'one stream, one backend');
    const collected = await new Promise<EchoReply>((resolve, reject) => {
      const call = client.makeClientStreamRequest(echoService.Collect.path, echoService.Collect.requestSerialize, echoService.Collect.responseDeserialize, (err, value) => (err ? reject(err) : resolve(value!)));
      for (const text of ['a', 'b', 'c']) call.write({ text });
      call.end();
    });
    assert.equal(collected.text, 'a b c');
    assert.equal(collected.index, 3);
    const chat = client.makeBidiStreamRequest(echoService.Chat.path, echoService.Chat.requestSerialize, echoService.Chat.responseDeserialize);
    const echoed = collect<EchoReply>(chat);
    for (const text of ['x', 'y', 'z']) chat.write({ text });
    chat.end();
    assert.deepEqual((await echoed).map((r) => r.text), ['x', 'y', 'z']);
  });

  it('gives each call the route deadline: the server sees it, and a slow call fails with DEADLINE_EXCEEDED', async () => {
    const reply = await say(client, { text: 'd' });
    assert.ok(reply.deadlineMs !== undefined && reply.deadlineMs <= 1000 && reply.deadlineMs > 500, `server saw ${reply.deadlineMs} ms`);
    // The backend would answer after 20 s: a DEADLINE_EXCEEDED before then is the 1 s route deadline firing, and not
    // before ~1 s shows it is the route's deadline, not a shorter one (how close to 1 s is no property of a loaded box).
    const started = Date.now();
    await assert.rejects(say(client, { delayMs: 20_000 }), (e: grpc.ServiceError) => e.code === grpc.status.DEADLINE_EXCEEDED);
    const took = Date.now() - started;
    assert.ok(took >= 900 && took < 20_000, `failed after ${took} ms`);
  });

  it('retries UNAVAILABLE on a route whose retry names it, and not on a route without a retry policy', async () => {
    const retried = await say(client, { fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2 } });
    assert.equal(retried.attempt, 2, 'the second attempt succeeded');
    const md = new grpc.Metadata();
    md.set('x-noretry', 'yes');
    await assert.rejects(say(client, { fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2, details: 'scripted' } }, { metadata: md }), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.UNAVAILABLE);
      assert.match(e.details, /scripted/, 'the server\'s own failure, not retried');
      return true;
    });
  });

  it('fails a call no rule matches with UNIMPLEMENTED naming the method, and an unknown service with UNAVAILABLE', async () => {
    await assert.rejects(
      new Promise((resolve, reject) =>
        client.makeUnaryRequest('/weft.other.Svc/Do', echoService.Say.requestSerialize, echoService.Say.responseDeserialize, {}, (err, v) => (err ? reject(err) : resolve(v))),
      ),
      (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNIMPLEMENTED);
        assert.match(e.details, /^WEFT_ERR_NO_ROUTE: no route of echo matches \/weft\.other\.Svc\/Do/);
        return true;
      },
    );
    const stranger = mesh.grpc.client(EchoClient, 'no-such-service');
    try {
      await assert.rejects(say(stranger, {}, { deadlineMs: 5_000 }), (e: grpc.ServiceError) => {
        assert.equal(e.code, grpc.status.UNAVAILABLE);
        assert.match(e.details, /WEFT_ERR_UNKNOWN_SERVICE: 'no-such-service' is not a mesh service/);
        return true;
      });
    } finally {
      stranger.close();
    }
  });

  it('explains a gRPC call: which GRPCRoute rule matches and why the others did not, and an unknown service', async () => {
    const canary = await mesh.explain('weft:///echo/weft.test.Echo/Say', { headers: { 'x-canary': 'yes' } });
    assert.equal(canary.decision, 'forward');
    assert.equal(canary.route?.name, 'GRPCRoute/echo/rules/0/matches/0');
    const plain = await mesh.explain('weft:///echo/weft.test.Echo/Say');
    assert.equal(plain.route?.source?.rule, 2, 'the split rule');
    assert.match(plain.routes[0]!.reason ?? '', /x-canary/);
    assert.deepEqual(plain.route?.clusters.map((c) => c.name).sort(), ['echo-v1:50051', 'echo-v2:50051']);
    const none = await mesh.explain('weft:///echo/weft.other.Svc/Do');
    assert.equal(none.decision, 'fail');
    assert.equal(none.error?.code, 'WEFT_ERR_NO_ROUTE');
    const stranger = await mesh.explain('weft:///no-such-service/x.Y/Z');
    assert.equal(stranger.error?.code, 'WEFT_ERR_UNKNOWN_SERVICE');
  });
});
