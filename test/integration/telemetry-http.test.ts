// Tracing and access logs of HTTP with a real OpenTelemetry SDK (in-memory exporter) and real processes on loopback:
// one trace across three services, retries as attempt spans, semconv names, a denied request's server span, sampling
// and access logs switched live by a control-plane edit.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { registerTestOtel, type SpanRecord, type TestOtel } from './otel.js';
import { serviceYaml, spawnFixture, startTestControlPlane, waitFor, type TestControlPlane, type TestProcess } from './helpers.js';

const INTERNAL = 0;
const SERVER = 1;
const CLIENT = 2;

const routes = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: flaky-retry }
spec:
  parentRefs: [{ kind: Service, name: flaky }]
  rules:
  - backendRefs: [{ name: flaky }]
    retry: { codes: [503], attempts: 2, backoff: 1ms }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: deny-secret }
spec:
  targetRef: { kind: Service, name: guarded }
  action: DENY
  rules: [{ to: [{ operation: { paths: ["/secret"] } }] }]
---
apiVersion: weft.dev/v1alpha1
kind: FaultInjection
metadata: { name: echo-abort }
spec:
  abort: { httpStatus: 418, percentage: 100 }
  headers: [{ name: x-chaos, value: "on" }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: echo-chaos }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
  - backendRefs: [{ name: echo }]
    filters:
    - type: ExtensionRef
      extensionRef: { group: weft.dev, kind: FaultInjection, name: echo-abort }
`;

const telemetry = (spec: string) => `apiVersion: weft.dev/v1alpha1
kind: Telemetry
metadata: { name: echo-telemetry }
spec:
  targetRefs: [{ kind: Service, name: echo }]
${spec}`;

describe('telemetry: HTTP tracing and access logs', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let otel: TestOtel;
  let client: Mesh;
  let servers: Mesh;
  const log = new PassThrough();
  const lines: Record<string, unknown>[] = [];
  const procs: TestProcess[] = [];
  let flakyCalls = 0;

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
    tcp = await startTestControlPlane({
      'services.yaml': ['a', 'b', 'flaky', 'guarded', 'echo', 'empty'].map((s) => serviceYaml(s)).join('---\n'),
      'routes.yaml': routes,
    });
    const env = { WEFT_CONTROL_PLANE: tcp.cp.xdsUrl };
    const b = spawnFixture('test/integration/fixtures/trace-service.ts', { ...env, SERVICE: 'b' });
    const a = spawnFixture('test/integration/fixtures/trace-service.ts', { ...env, SERVICE: 'a', NEXT: 'b' });
    procs.push(a, b);
    // In this process: the servers of flaky, guarded and echo (one mesh), and the client (another).
    servers = await createMesh({ service: 'guarded', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 } });
    await servers.serve((req, res) => res.end('secret'), { port: 0 });
    client = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['a', 'flaky', 'guarded', 'echo', 'empty'], accessLog: { stream: log } });
    const flakyMesh = await createMesh({ service: 'flaky', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 } });
    await flakyMesh.serve((_req, res) => {
      res.statusCode = ++flakyCalls % 2 === 1 ? 503 : 200;
      res.end();
    }, { port: 0 });
    const echoMesh = await createMesh({ service: 'echo', controlPlane: tcp.cp.xdsUrl, drain: { drainDelayMs: 0 }, accessLog: { stream: log } });
    await echoMesh.serve((req, res) => {
      res.statusCode = Number(req.headers['x-status'] ?? 200);
      res.end('echo');
    }, { port: 0 });
    extra.push(flakyMesh, echoMesh);
    await Promise.all([a.waitForLine((l) => l.type === 'ready'), b.waitForLine((l) => l.type === 'ready')]);
    await client.ready();
    await waitFor(async () => (await client.fetch('http://flaky/warm')).status > 0 && (await client.fetch('http://a/warm')).status === 200, 'services reachable');
    otel.exporter.reset();
  });
  const extra: Mesh[] = [];

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await Promise.all([client?.close(), servers?.close(), ...extra.map((m) => m.close())]);
    await tcp?.close();
    await otel?.shutdown();
  });

  const fetchSpans = async (port: number): Promise<SpanRecord[]> => (await (await fetch(`http://127.0.0.1:${port}/__spans`)).json()) as SpanRecord[];

  it('one trace spans client → a → b: call span, attempt CLIENT span, SERVER span in each process, linked by traceparent', async () => {
    const res = await client.fetch('http://a/start');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'a -> b ok');
    const mine = otel.spans();
    const call = mine.find((s) => s.kind === INTERNAL && s.attributes['weft.span'] === 'call' && s.attributes['url.full'] === 'http://a/start')!;
    assert.ok(call, 'client call span');
    assert.equal(call.name, 'GET a');
    const attempt = mine.find((s) => s.kind === CLIENT && s.parentSpanId === call.spanId)!;
    assert.equal(attempt.name, 'GET');
    assert.equal(attempt.attributes['http.request.method'], 'GET');
    assert.equal(attempt.attributes['url.full'], 'http://a/start');
    assert.equal(attempt.attributes['server.address'], 'a');
    assert.equal(attempt.attributes['server.port'], 80);
    assert.equal(attempt.attributes['http.response.status_code'], 200);
    assert.equal(attempt.attributes['weft.cluster'], 'a:8080');
    assert.equal(attempt.attributes['weft.attempt'], 1);
    assert.match(String(attempt.attributes['weft.endpoint']), /^127\.0\.0\.1:\d+$/);
    assert.equal(attempt.attributes['http.request.resend_count'], undefined);
    // Process a: its SERVER span is the child of our attempt span, and its own call to b hangs under it.
    const aPort = (procs[0]!.lines.find((l) => (l as { type?: string }).type === 'ready') as { port: number }).port;
    const bPort = (procs[1]!.lines.find((l) => (l as { type?: string }).type === 'ready') as { port: number }).port;
    const aSpans = (await waitFor(async () => {
      const s = await fetchSpans(aPort);
      return s.some((x) => x.traceId === call.traceId && x.kind === CLIENT) ? s : undefined;
    }, 'spans of a'))!;
    const aServer = aSpans.find((s) => s.kind === SERVER && s.traceId === call.traceId)!;
    assert.equal(aServer.parentSpanId, attempt.spanId);
    assert.equal(aServer.name, 'GET');
    assert.equal(aServer.attributes['url.path'], '/start');
    assert.equal(aServer.attributes['http.response.status_code'], 200);
    const aCall = aSpans.find((s) => s.kind === INTERNAL && s.parentSpanId === aServer.spanId)!;
    assert.equal(aCall.attributes['url.full'], 'http://b/hop');
    const aAttempt = aSpans.find((s) => s.kind === CLIENT && s.parentSpanId === aCall.spanId)!;
    const bSpans = (await waitFor(async () => {
      const s = await fetchSpans(bPort);
      return s.some((x) => x.traceId === call.traceId) ? s : undefined;
    }, 'spans of b'))!;
    const bServer = bSpans.find((s) => s.kind === SERVER && s.traceId === call.traceId)!;
    assert.equal(bServer.parentSpanId, aAttempt.spanId);
    assert.equal(bServer.attributes['url.path'], '/hop');
  });

  it('a retried call shows two attempt spans under one call span, the second with its retry reason and resend count', async () => {
    otel.exporter.reset();
    flakyCalls = 0;
    const res = await client.fetch('http://flaky/x');
    assert.equal(res.status, 200);
    await res.text();
    const spans = otel.spans();
    const call = spans.find((s) => s.attributes['weft.span'] === 'call' && s.attributes['url.full'] === 'http://flaky/x')!;
    const attempts = spans.filter((s) => s.kind === CLIENT && s.parentSpanId === call.spanId).sort((x, y) => Number(x.attributes['weft.attempt']) - Number(y.attributes['weft.attempt']));
    assert.equal(attempts.length, 2);
    assert.equal(attempts[0]!.attributes['http.response.status_code'], 503);
    assert.equal(attempts[0]!.attributes['error.type'], '503');
    assert.equal(attempts[0]!.status, 2);
    assert.equal(attempts[1]!.attributes['weft.attempt'], 2);
    assert.equal(attempts[1]!.attributes['weft.retry.reason'], '503');
    assert.equal(attempts[1]!.attributes['http.request.resend_count'], 1);
    assert.equal(attempts[1]!.attributes['http.response.status_code'], 200);
    assert.equal(call.attributes['weft.attempts'], 2);
    assert.equal(call.attributes['http.response.status_code'], 200);
    assert.equal(call.attributes['weft.route'], 'HTTPRoute/flaky-retry/rules/0/matches/0');
    // Each attempt's SERVER span is its own child: the server saw two different traceparents.
    const servers = spans.filter((s) => s.kind === SERVER && s.traceId === call.traceId);
    assert.deepEqual(new Set(servers.map((s) => s.parentSpanId)), new Set(attempts.map((a) => a.spanId)));
  });

  it("a denied inbound request's SERVER span says why", async () => {
    otel.exporter.reset();
    const res = await client.fetch('http://guarded/secret');
    assert.equal(res.status, 403);
    await res.text();
    const server = (await waitFor(() => otel.spans().find((s) => s.kind === SERVER && s.attributes['url.path'] === '/secret'), 'server span'))!;
    assert.equal(server.attributes['http.response.status_code'], 403);
    assert.equal(server.attributes['weft.denied.reason'], 'rbac_denied');
    assert.equal(server.attributes['weft.denied.policy'], 'deny-secret');
    assert.equal(server.attributes['weft.error.code'], 'WEFT_ERR_PERMISSION_DENIED');
  });

  it('a call the fault filter answered says so, and a mesh refusal names its error code', async () => {
    otel.exporter.reset();
    const res = await client.fetch('http://echo/f', { headers: { 'x-chaos': 'on' } });
    assert.equal(res.status, 418);
    await res.text();
    const call = otel.spans().find((s) => s.attributes['weft.span'] === 'call' && s.attributes['url.full'] === 'http://echo/f')!;
    assert.equal(call.attributes['weft.fault.injected'], true);
    assert.equal(call.attributes['weft.attempts'], 0, 'nothing was sent');
    assert.equal(otel.spans().filter((s) => s.kind === CLIENT).length, 0);
    otel.exporter.reset();
    await assert.rejects(client.fetch('http://empty/x'));
    const refused = otel.spans().find((s) => s.attributes['weft.span'] === 'call' && s.attributes['url.full'] === 'http://empty/x')!;
    assert.equal(refused.attributes['error.type'], 'WEFT_ERR_NO_ENDPOINTS');
    assert.equal(refused.attributes['weft.error.code'], 'WEFT_ERR_NO_ENDPOINTS');
    assert.equal(refused.attributes['weft.cluster'], undefined, 'no attempt was made');
    assert.equal(refused.status, 2);
  });

  it('sampling 0 % then 100 % applies live from a Telemetry edit', async () => {
    const applied = async (yaml: string) => assert.equal((await tcp.apply(yaml)).status, 200);
    const echoSpans = () => otel.spans().filter((s) => String(s.attributes['url.full'] ?? '').startsWith('http://echo/') || s.attributes['url.path'] === '/s');
    await applied(telemetry('  tracing: [{ randomSamplingPercentage: 0 }]\n'));
    await waitFor(async () => {
      otel.exporter.reset();
      await (await client.fetch('http://echo/s')).text();
      await new Promise((r) => setTimeout(r, 20));
      return echoSpans().length === 0;
    }, 'sampling 0 applied');
    for (let i = 0; i < 20; i++) await (await client.fetch('http://echo/s')).text();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(echoSpans().length, 0, 'no span at 0 %, on the client nor on the server (unsampled parent passed on)');
    await applied(telemetry('  tracing: [{ randomSamplingPercentage: 100 }]\n'));
    await waitFor(async () => {
      otel.exporter.reset();
      await (await client.fetch('http://echo/s')).text();
      await new Promise((r) => setTimeout(r, 20));
      return echoSpans().length >= 3;
    }, 'sampling 100 applied');
    const kinds = echoSpans().map((s) => s.kind).sort();
    assert.deepEqual(kinds, [INTERNAL, SERVER, CLIENT].sort());
  });

  it('access logs: off by default, on with a filter, on for all, then disabled, by central edits', async () => {
    const call = async (status: number) => (await client.fetch('http://echo/log', { headers: { 'x-status': String(status) } })).text();
    const outbound = () => lines.filter((l) => l.direction === 'outbound' && l.authority === 'echo');
    await call(200);
    assert.equal(outbound().length, 0, 'off by default');
    assert.equal((await tcp.apply(telemetry('  accessLogging: [{ filter: { expression: "response.code >= 500" } }]\n'))).status, 200);
    await waitFor(async () => {
      await call(503);
      return outbound().length > 0;
    }, 'filtered access log on');
    const before = outbound().length;
    await call(200);
    await call(503);
    const added = outbound().slice(before);
    assert.equal(added.length, 1, 'only the 503 is logged');
    const line = added[0]!;
    assert.equal(line.status, 503);
    assert.equal(line.protocol, 'http');
    assert.equal(line.method, 'GET');
    assert.equal(line.path, '/log');
    assert.equal(line.cluster, 'echo:8080');
    assert.equal(line.attempts, 1);
    assert.match(String(line.endpoint), /^127\.0\.0\.1:\d+$/);
    assert.equal(typeof line.duration_ms, 'number');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT/);
    assert.match(String(line.trace_id), /^[0-9a-f]{32}$/);
    // The server side logs by the same Telemetry (its inbound Listener), with the same trace id.
    const inbound = lines.filter((l) => l.direction === 'inbound' && l.path === '/log');
    assert.ok(inbound.some((l) => l.trace_id === line.trace_id && l.status === 503));
    assert.ok(inbound.every((l) => l.status === 503), 'the inbound filter applies too');
    assert.equal((await tcp.apply(telemetry('  accessLogging: [{}]\n'))).status, 200);
    await waitFor(async () => {
      const n = outbound().length;
      await call(200);
      return outbound().length > n;
    }, 'unfiltered access log');
    assert.equal((await tcp.apply(telemetry('  accessLogging: [{ disabled: true }]\n'))).status, 200);
    await waitFor(async () => {
      const n = outbound().length;
      await call(200);
      return outbound().length === n;
    }, 'access log disabled');
    assert.ok(client.status().accessLog.written >= 4);
    assert.equal(client.status().accessLog.dropped, 0);
  });
});
