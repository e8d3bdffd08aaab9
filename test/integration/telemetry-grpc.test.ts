// Tracing and access logs of meshed gRPC with a real OpenTelemetry SDK: a call span with a CLIENT span per attempt
// (a retried call shows two), the rpc semantic conventions, the server span (context carried in metadata), a denied
// call's server span naming the reason, and access-log lines for both sides.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh } from '../../src/index.js';
import { addEchoService, EchoClient, ECHO_SERVICE, say, type EchoClientInstance } from '../../src/testing/index.js';
import { registerTestOtel, type TestOtel } from './otel.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const INTERNAL = 0;
const SERVER = 1;
const CLIENT = 2;

const CONFIG = {
  'services.yaml': ['gecho', 'gdeny'].map((s) => serviceYaml(s, 'GRPC', 50051)).join('---\n'),
  'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: gecho }
spec:
  parentRefs: [{ kind: Service, name: gecho }]
  rules:
    - backendRefs: [{ name: gecho, port: 50051 }]
      retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 5ms }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-all }
spec:
  targetRef: { kind: Service, name: gdeny }
  action: DENY
  rules: [{}]
---
apiVersion: weft.dev/v1alpha1
kind: Telemetry
metadata: { name: mesh }
spec:
  accessLogging: [{}]
`,
};

describe('telemetry: gRPC tracing and access logs', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let otel: TestOtel;
  let client: Mesh;
  const meshes: Mesh[] = [];
  const clients: grpc.Client[] = [];
  const log = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  let echo: EchoClientInstance;
  let deny: EchoClientInstance;

  before(async () => {
    otel = registerTestOtel();
    log.setEncoding('utf8');
    let buf = '';
    log.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        buf = buf.slice(i + 1);
      }
    });
    tcp = await startTestControlPlane(CONFIG);
    for (const service of ['gecho', 'gdeny']) {
      const m = await createMesh({ service, controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 }, accessLog: { stream: log } });
      meshes.push(m);
      const server = m.grpc.server();
      addEchoService(server, `${service}-1`);
      await (await m.grpc.serve(server, { port: 0 })).registration?.registered();
    }
    client = await createMesh({ service: 'gclient', controlPlane: tcp.cp.xdsUrl, dependsOn: ['gecho', 'gdeny'], accessLog: { stream: log } });
    await client.ready();
    echo = client.grpc.client(EchoClient, 'gecho');
    deny = client.grpc.client(EchoClient, 'gdeny');
    clients.push(echo, deny);
    await waitFor(async () => (await say(echo, {})).server === 'gecho-1', 'gecho reachable');
    otel.exporter.reset();
  });

  after(async () => {
    for (const c of clients) c.close();
    await Promise.all([client?.close(), ...meshes.map((m) => m.close())]);
    await tcp?.close();
    await otel?.shutdown();
  });

  it('a retried call: one call span, two CLIENT attempt spans (the second with its reason), a SERVER span per attempt', async () => {
    const reply = await say(echo, { fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2 } });
    assert.equal(reply.attempt, 2);
    const spans = await waitFor(() => {
      const s = otel.spans();
      return s.filter((x) => x.kind === SERVER).length >= 2 && s.some((x) => x.kind === INTERNAL) ? s : undefined;
    }, 'spans');
    const method = `${ECHO_SERVICE}/Say`;
    const call = spans!.find((s) => s.kind === INTERNAL && s.attributes['weft.span'] === 'call')!;
    assert.equal(call.name, method);
    assert.equal(call.attributes['rpc.system.name'], 'grpc');
    assert.equal(call.attributes['rpc.system'], 'grpc');
    assert.equal(call.attributes['rpc.method'], method);
    assert.equal(call.attributes['rpc.service'], ECHO_SERVICE);
    assert.equal(call.attributes['rpc.grpc.status_code'], 0);
    assert.equal(call.attributes['weft.attempts'], 2);
    assert.equal(call.attributes['server.address'], 'gecho');
    const attempts = spans!.filter((s) => s.kind === CLIENT && s.parentSpanId === call.spanId).sort((a, b) => Number(a.attributes['weft.attempt']) - Number(b.attributes['weft.attempt']));
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]!.attributes['rpc.grpc.status_code'], grpc.status.UNAVAILABLE);
    assert.equal(attempts[0]!.attributes['error.type'], 'UNAVAILABLE');
    assert.equal(attempts[1]!.attributes['weft.retry.reason'], 'UNAVAILABLE');
    assert.equal(attempts[1]!.attributes['rpc.status_code'], 'OK');
    assert.equal(attempts[1]!.attributes['weft.cluster'], 'gecho:50051');
    assert.match(String(attempts[1]!.attributes['weft.endpoint']), /^127\.0\.0\.1:\d+$/);
    const servers = spans!.filter((s) => s.kind === SERVER && s.traceId === call.traceId);
    assert.equal(servers.length, 2);
    assert.deepEqual(new Set(servers.map((s) => s.parentSpanId)), new Set(attempts.map((a) => a.spanId)));
    assert.equal(servers[0]!.name, method);
  });

  it("a denied call's SERVER span says why, and both sides write access-log lines", async () => {
    otel.exporter.reset();
    await assert.rejects(say(deny, {}), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
    const server = (await waitFor(() => otel.spans().find((s) => s.kind === SERVER), 'server span'))!;
    assert.equal(server.attributes['weft.denied.reason'], 'rbac_denied');
    assert.equal(server.attributes['weft.denied.policy'], 'deny-all');
    assert.equal(server.attributes['rpc.grpc.status_code'], grpc.status.PERMISSION_DENIED);
    const inbound = await waitFor(() => lines.find((l) => l.direction === 'inbound' && l.protocol === 'grpc' && l.grpc_status === grpc.status.PERMISSION_DENIED), 'inbound line');
    assert.deepEqual(inbound!.flags, ['denied:rbac_denied']);
    assert.equal(inbound!.path, `/${ECHO_SERVICE}/Say`);
    const outbound = lines.find((l) => l.direction === 'outbound' && l.protocol === 'grpc' && l.authority === 'gdeny')!;
    assert.equal(outbound.grpc_status, grpc.status.PERMISSION_DENIED);
    assert.equal(outbound.trace_id, inbound!.trace_id);
    assert.equal(outbound.cluster, 'gdeny:50051');
  });
});
