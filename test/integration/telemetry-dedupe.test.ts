// With @opentelemetry/instrumentation-undici registered, Weft steps back: it keeps its call span (with the mesh's
// decisions) and parents undici's per-attempt CLIENT spans under it, but makes no attempt span and injects nothing
// itself. Proves one CLIENT span per attempt and a single traceparent header on the wire, retries included.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { registerTestOtel, type TestOtel } from './otel.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const CLIENT = 2;

describe('telemetry: no duplicate spans with instrumentation-undici', { timeout: 60_000 }, () => {
  let tcp: TestControlPlane;
  let otel: TestOtel;
  let unregister: () => void;
  let client: Mesh;
  let server: Mesh;
  let calls = 0;
  const seen: string[][] = [];

  before(async () => {
    otel = registerTestOtel();
    unregister = registerInstrumentations({ instrumentations: [new UndiciInstrumentation()] });
    tcp = await startTestControlPlane({
      'services.yaml': serviceYaml('dup'),
      'routes.yaml': `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: dup }
spec:
  parentRefs: [{ kind: Service, name: dup }]
  rules:
  - backendRefs: [{ name: dup }]
    retry: { codes: [503], attempts: 2, backoff: 1ms }
`,
    });
    server = await createMesh({ service: 'dup', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 } });
    await server.serve((req, res) => {
      const values: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'traceparent') values.push(req.rawHeaders[i + 1]!);
      seen.push(values);
      res.statusCode = req.url === '/retry' && ++calls === 1 ? 503 : 200;
      res.end();
    }, { port: 0 });
    client = await createMesh({ service: 'dup-client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['dup'] });
    await client.ready();
    await waitFor(async () => (await client.fetch('http://dup/warm')).status === 200, 'dup reachable');
    otel.exporter.reset();
    seen.length = 0;
  });

  after(async () => {
    unregister?.();
    await Promise.all([client?.close(), server?.close()]);
    await tcp?.close();
    await otel?.shutdown();
  });

  it('one CLIENT span per attempt (undici’s), under Weft’s call span, and one traceparent per request on the wire', async () => {
    const res = await client.fetch('http://dup/retry');
    assert.equal(res.status, 200);
    await res.text();
    const spans = otel.spans();
    const call = spans.find((s) => s.attributes['weft.span'] === 'call')!;
    assert.ok(call, 'Weft keeps its call span');
    assert.equal(call.attributes['weft.attempts'], 2);
    const clients = spans.filter((s) => s.kind === CLIENT);
    assert.equal(clients.length, 2, `one CLIENT span per attempt, got ${clients.map((s) => `${s.scope}:${s.name}`).join(', ')}`);
    assert.ok(clients.every((s) => s.scope === '@opentelemetry/instrumentation-undici'), 'the attempt spans are undici’s, not Weft’s');
    assert.ok(clients.every((s) => s.parentSpanId === call.spanId), 'parented under the call span');
    assert.deepEqual(call.events, ['weft.attempt', 'weft.attempt'], 'the mesh facts of each attempt are events of the call span');
    assert.equal(seen.length, 2);
    for (const values of seen) assert.equal(values.length, 1, `a single traceparent header, got ${JSON.stringify(values)}`);
    const ids = seen.map((v) => v[0]!.split('-')[2]);
    assert.deepEqual(new Set(ids), new Set(clients.map((s) => s.spanId)), 'each request carries its attempt span');
  });
});
