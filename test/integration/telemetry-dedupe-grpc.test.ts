// With @opentelemetry/instrumentation-grpc registered (before grpc-js loads, as it requires), Weft makes no call span
// of its own (instrumentation-grpc's CLIENT span is the call) and hangs one CLIENT span per attempt under it; each
// attempt sends one traceparent (Weft's `metadata.set` replaces the instrumentation's value).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { GrpcInstrumentation } from '@opentelemetry/instrumentation-grpc';
import { registerTestOtel, type TestOtel } from './otel.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const otel: TestOtel = registerTestOtel();
const unregister = registerInstrumentations({ instrumentations: [new GrpcInstrumentation()] });
// Loaded only now, so instrumentation-grpc can wrap grpc-js.
const grpc = await import('@grpc/grpc-js');
const { createMesh } = await import('../../src/index.js');
const { addEchoService, EchoClient, say } = await import('../../src/testing/index.js');
type Mesh = Awaited<ReturnType<typeof createMesh>>;

const CLIENT = 2;

describe('telemetry: no duplicate spans with instrumentation-grpc', { timeout: 60_000 }, () => {
  let tcp: TestControlPlane;
  let client: Mesh;
  let server: Mesh;
  const seen: number[] = [];
  let echo: InstanceType<typeof EchoClient>;

  before(async () => {
    tcp = await startTestControlPlane({
      'services.yaml': serviceYaml('gdup', 'GRPC', 50051),
      'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: gdup }
spec:
  parentRefs: [{ kind: Service, name: gdup }]
  rules:
    - backendRefs: [{ name: gdup, port: 50051 }]
      retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 5ms }
`,
    });
    server = await createMesh({ service: 'gdup', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 } });
    const s = server.grpc.server({
      interceptors: [
        (_method, call) =>
          new grpc.ServerInterceptingCall(call, {
            start: (next) => next({ onReceiveMetadata: (md, nextMd) => (seen.push(md.get('traceparent').length), nextMd(md)) }),
          }),
      ],
    });
    addEchoService(s, 'gdup-1');
    await (await server.grpc.serve(s, { port: 0 })).registration?.registered();
    client = await createMesh({ service: 'gdup-client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['gdup'] });
    await client.ready();
    echo = client.grpc.client(EchoClient, 'gdup');
    await waitFor(async () => (await say(echo, {})).server === 'gdup-1', 'gdup reachable');
    otel.exporter.reset();
    seen.length = 0;
  });

  after(async () => {
    echo?.close();
    unregister();
    await Promise.all([client?.close(), server?.close()]);
    await tcp?.close();
    await otel.shutdown();
  });

  it('instrumentation-grpc’s span is the call, Weft adds one CLIENT span per attempt under it, one traceparent each', async () => {
    const reply = await say(echo, { fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2 } });
    assert.equal(reply.attempt, 2);
    const spans = await waitFor(() => {
      const s = otel.spans();
      return s.filter((x) => x.kind === CLIENT).length >= 3 ? s : undefined;
    }, 'client spans');
    const theirs = spans!.filter((s) => s.kind === CLIENT && s.scope === '@opentelemetry/instrumentation-grpc');
    assert.equal(theirs.length, 1, 'instrumentation-grpc: one span per call');
    assert.equal(spans!.filter((s) => s.attributes['weft.span'] === 'call').length, 0, 'Weft makes no call span of its own');
    const attempts = spans!.filter((s) => s.kind === CLIENT && s.scope === 'weft');
    assert.equal(attempts.length, 2, 'one Weft CLIENT span per attempt');
    assert.ok(attempts.every((a) => a.parentSpanId === theirs[0]!.spanId));
    assert.deepEqual(seen, [1, 1], 'one traceparent per attempt on the wire');
  });
});
