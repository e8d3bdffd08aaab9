// Golden metrics with a real control plane and real servers on loopback: HTTP and gRPC, client and server, the values
// matching the calls sent (by status, retries, histogram counts), the TrafficSource rows, a real OpenTelemetry SDK
// reader showing the semantic-convention names and attributes, the Prometheus families typed and described (with the
// Istio option; promtool and Prometheus parse it in metrics-prometheus.test.ts), an inbound denial counted with its reason, and the metrics port closed by mesh.close().
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MeterProvider, MetricReader, type DataPoint, type Histogram as HistogramPoint } from '@opentelemetry/sdk-metrics';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { meshTraffic } from '../../src/telemetry/mesh-metrics.js';
import { addEchoService, EchoClient, say, type EchoClientInstance } from '../../src/testing/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';
import { familyHeaders, renderVia, sampleSum, samples, scrape } from './prometheus-text.js';

const ROUTES = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: api }
spec:
  parentRefs: [{ kind: Service, name: api }]
  rules:
  - backendRefs: [{ name: api }]
    retry: { codes: [503], attempts: 2, backoff: 1ms }
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
  - backendRefs: [{ name: echo, port: 50051 }]
    retry: { codes: [UNAVAILABLE], attempts: 2, backoff: 1ms }
`;

/** A MetricReader the test collects from on demand (the SDK's pull model, as a Prometheus exporter uses it). */
class TestReader extends MetricReader {
  protected override async onShutdown(): Promise<void> {}
  protected override async onForceFlush(): Promise<void> {}
}

describe('golden metrics (real control plane, HTTP and gRPC)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let client: Mesh;
  let api: Mesh;
  let echo: Mesh;
  let rpc: EchoClientInstance;
  let reader: TestReader;
  let provider: MeterProvider;
  const failedOnce = new Set<string>();

  before(async () => {
    tcp = await startTestControlPlane({ 'services.yaml': [serviceYaml('api'), serviceYaml('echo', 'GRPC', 50051)].join('---\n'), 'routes.yaml': ROUTES });
    api = await createMesh({ service: 'api', controlPlane: tcp.cp.xdsUrl });
    await api.serve(
      (req, res) => {
        const once = req.headers['x-fail-once'];
        if (typeof once === 'string' && !failedOnce.has(once)) {
          failedOnce.add(once);
          res.statusCode = 503;
          return void res.end('try again');
        }
        res.statusCode = Number(req.headers['x-status'] ?? 200);
        res.end('ok');
      },
      { port: 0 },
    );
    echo = await createMesh({ service: 'echo', controlPlane: tcp.cp.xdsUrl });
    const g = echo.grpc.server({ health: false });
    addEchoService(g, 'echo-1');
    await echo.grpc.serve(g, { port: 0 });
    reader = new TestReader();
    provider = new MeterProvider({ readers: [reader] });
    client = await createMesh({
      service: 'client',
      controlPlane: tcp.cp.xdsUrl,
      dependsOn: ['api', 'echo'],
      metrics: { istio: true, meterProvider: provider },
      metricsPort: 0,
    });
    await client.ready();
    rpc = client.grpc.client(EchoClient, 'echo');
    await waitFor(async () => {
      const r = await request('http://api/warm', { dispatcher: client.dispatcher, headers: { 'x-status': '204' } });
      await r.body.text();
      return r.statusCode === 204;
    }, 'api reachable');
    await waitFor(async () => (await say(rpc, { text: 'warm' }, { deadlineMs: 2_000 }).then(() => true, () => false)), 'echo reachable');
  });

  after(async () => {
    rpc?.close();
    await client?.close();
    await api?.close();
    await echo?.close();
    await provider?.shutdown();
    await tcp?.close();
  });

  const call = async (path: string, headers: Record<string, string> = {}) => {
    const r = await request(`http://api${path}`, { dispatcher: client.dispatcher, headers });
    await r.body.text();
    return r.statusCode;
  };

  it('counts HTTP calls by status and outcome, retries by reason, on both ends, and the histograms count every call', async () => {
    const url = `http://127.0.0.1:${client.metricsAddress()!.port}/metrics`;
    const before = await scrape(url);
    const base = (labels: Record<string, string>) => sampleSum(before, 'http_client_request_duration_seconds_count', labels);
    const serverBefore = await scrape(`http://127.0.0.1:${await servePort(api)}/`);
    for (let i = 0; i < 3; i++) assert.equal(await call('/ok'), 200);
    for (let i = 0; i < 2; i++) assert.equal(await call('/missing', { 'x-status': '404' }), 404);
    assert.equal(await call('/flaky', { 'x-fail-once': 'a' }), 200, 'retried once, then 200');
    assert.equal(await call('/down', { 'x-status': '503' }), 503, 'retried twice (attempts: 2 retries), still 503');

    const text = await scrape(url);
    const count = (labels: Record<string, string>) => sampleSum(text, 'http_client_request_duration_seconds_count', labels) - base(labels);
    const common = { http_request_method: 'GET', server_address: 'api', weft_source_service: 'client', weft_destination_service: 'api', url_scheme: 'http' };
    assert.equal(count({ ...common, http_response_status_code: '200', weft_outcome: 'success' }), 4);
    assert.equal(count({ ...common, http_response_status_code: '404', weft_outcome: 'success' }), 2, '4xx is not a failure');
    assert.equal(count({ ...common, http_response_status_code: '503', weft_outcome: 'failure', error_type: '503' }), 1);
    assert.equal(count({}), 7, 'one histogram count per logical call');
    assert.equal(sampleSum(text, 'weft_retries_total', { weft_destination_service: 'api', reason: '503' }) - sampleSum(before, 'weft_retries_total', { reason: '503' }), 3);
    // The bucket counts add up to the count.
    assert.equal(sampleSum(text, 'http_client_request_duration_seconds_bucket', { le: '+Inf' }), sampleSum(text, 'http_client_request_duration_seconds_count', {}));

    // The server saw every attempt: 4 × 200, 2 × 404 and 4 × 503 (the retried one's first attempt, and the 3 of /down).
    const served = await scrape(`http://127.0.0.1:${await servePort(api)}/`);
    const sc = (status: string) =>
      sampleSum(served, 'http_server_request_duration_seconds_count', { http_response_status_code: status, weft_destination_service: 'api' }) -
      sampleSum(serverBefore, 'http_server_request_duration_seconds_count', { http_response_status_code: status });
    assert.deepEqual([sc('200'), sc('404'), sc('503')], [4, 2, 4]);
  });

  it('reports TrafficSource rows per route: requests, failures by the classifier, retries, latency buckets', () => {
    const rows = meshTraffic(client).traffic();
    const row = rows.find((r) => r.direction === 'outbound' && r.protocol === 'http' && r.peer === 'api' && r.route !== '');
    assert.ok(row, JSON.stringify(rows));
    assert.match(row.route, /api/);
    assert.ok(row.requests >= 7, `requests ${row.requests}`);
    assert.equal(row.failures, 1, 'only the final 503 is a failure');
    assert.equal(row.retries, 3);
    assert.equal(row.latency.length, 15);
    assert.equal(row.latency.reduce((a, b) => a + b, 0), row.requests);
    const inbound = meshTraffic(api).traffic().find((r) => r.direction === 'inbound' && r.protocol === 'http');
    assert.equal(inbound?.peer, 'unknown', 'a plaintext caller has no mesh identity');
    assert.equal(inbound?.failures, 4);
  });

  it('records into a real OpenTelemetry SDK with semantic-convention names, units and attributes', async () => {
    const { resourceMetrics } = await reader.collect();
    const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
    const http = metrics.find((m) => m.descriptor.name === 'http.client.request.duration');
    assert.ok(http, metrics.map((m) => m.descriptor.name).join(','));
    assert.equal(http.descriptor.unit, 's');
    const points = http.dataPoints as DataPoint<HistogramPoint>[];
    const ok = points.find((p) => p.attributes['http.response.status_code'] === 200 && p.attributes['http.request.method'] === 'GET');
    assert.ok(ok);
    assert.deepEqual(
      { ...ok.attributes },
      {
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'url.scheme': 'http',
        'server.address': 'api',
        'server.port': 80,
        'weft.source.service': 'client',
        'weft.destination.service': 'api',
        'weft.route': ok.attributes['weft.route'],
        'weft.outcome': 'success',
      },
    );
    const total = points.reduce((n, p) => n + p.value.count, 0);
    assert.equal(total, meshTraffic(client).traffic().filter((r) => r.direction === 'outbound' && r.protocol === 'http').reduce((n, r) => n + r.requests, 0));
    assert.deepEqual(ok.value.buckets.boundaries.slice(0, 3), [0.0005, 0.001, 0.0025]);
    const failed = points.find((p) => p.attributes['http.response.status_code'] === 503);
    assert.equal(failed?.attributes['error.type'], '503');
    assert.equal(failed?.attributes['weft.outcome'], 'failure');
    // gRPC (the warm-up call in before()): semconv 1.45's rpc.client.call.duration, in seconds, the same bounds.
    const rpcMetric = metrics.find((m) => m.descriptor.name === 'rpc.client.call.duration');
    assert.ok(rpcMetric, metrics.map((m) => m.descriptor.name).join(','));
    assert.equal(rpcMetric.descriptor.unit, 's');
    assert.equal(metrics.some((m) => m.descriptor.name === 'rpc.client.duration'), false);
    const rpcOk = (rpcMetric.dataPoints as DataPoint<HistogramPoint>[]).find((p) => p.attributes['rpc.status_code'] === 'OK');
    assert.ok(rpcOk);
    assert.deepEqual(
      [rpcOk.attributes['rpc.system.name'], rpcOk.attributes['rpc.method'], rpcOk.attributes['rpc.system'], rpcOk.attributes['rpc.grpc.status_code']],
      ['grpc', 'weft.test.Echo/Say', undefined, undefined],
    );
    assert.deepEqual(rpcOk.value.buckets.boundaries, ok.value.buckets.boundaries);
  });

  it('counts gRPC calls on the client and the server with the semconv 1.45 rpc.* names, the full method and status names', async () => {
    const before = await scrape(`http://127.0.0.1:${client.metricsAddress()!.port}/`);
    for (let i = 0; i < 3; i++) await say(rpc, { text: 'hi' }, { deadlineMs: 5_000 });
    await assert.rejects(say(rpc, { text: 'no', fail: { code: grpc.status.NOT_FOUND } }, { deadlineMs: 5_000 }));
    const text = await scrape(`http://127.0.0.1:${client.metricsAddress()!.port}/`);
    const c = (t: string, code: string) =>
      sampleSum(t, 'rpc_client_call_duration_seconds_count', { rpc_system_name: 'grpc', rpc_method: 'weft.test.Echo/Say', rpc_status_code: code, weft_destination_service: 'echo' });
    assert.equal(c(text, 'OK') - c(before, 'OK'), 3);
    assert.equal(c(text, 'NOT_FOUND') - c(before, 'NOT_FOUND'), 1);
    assert.equal(sampleSum(text, 'rpc_client_call_duration_seconds_count', { rpc_status_code: 'NOT_FOUND', weft_outcome: 'failure', error_type: 'NOT_FOUND' }), 1);
    const okSample = samples(text, 'rpc_client_call_duration_seconds_count').find((m) => m.labels['rpc_status_code'] === 'OK');
    assert.deepEqual(
      { ...okSample?.labels },
      {
        rpc_system_name: 'grpc',
        rpc_method: 'weft.test.Echo/Say',
        rpc_status_code: 'OK',
        server_address: 'echo',
        server_port: '80', // as on the spans: the target `echo` names no port
        weft_source_service: 'client',
        weft_destination_service: 'echo',
        weft_route: okSample?.labels['weft_route'],
        weft_outcome: 'success',
      },
      'the semconv 1.45 attributes only (no rpc.system, rpc.service, rpc.grpc.status_code)',
    );
    assert.equal(text.includes('rpc_client_duration_milliseconds'), false);
    const served = echo.metricsHandler();
    const serverText = await renderVia(served);
    const sv = { rpc_system_name: 'grpc', rpc_method: 'weft.test.Echo/Say' };
    assert.ok(sampleSum(serverText, 'rpc_server_call_duration_seconds_count', { ...sv, rpc_status_code: 'OK', weft_destination_service: 'echo' }) >= 4);
    assert.equal(sampleSum(serverText, 'rpc_server_call_duration_seconds_count', { ...sv, rpc_status_code: 'NOT_FOUND', error_type: 'NOT_FOUND', weft_outcome: 'failure' }), 1);
    assert.equal(sampleSum(serverText, 'rpc_server_call_duration_seconds_count', { ...sv, rpc_status_code: 'NOT_FOUND' }), 1);
    // A call retried once by grpc-js (UNAVAILABLE on the first attempt) is one call, with one retry counted.
    const retriedBefore = sampleSum(text, 'weft_retries_total', { protocol: 'grpc', weft_destination_service: 'echo' });
    const reply = await say(rpc, { text: 'again', fail: { code: grpc.status.UNAVAILABLE, untilAttempt: 2 } }, { deadlineMs: 5_000 });
    assert.equal(reply.attempt, 2);
    const after = await scrape(`http://127.0.0.1:${client.metricsAddress()!.port}/`);
    assert.equal(sampleSum(after, 'weft_retries_total', { protocol: 'grpc', weft_destination_service: 'echo' }) - retriedBefore, 1);
    assert.equal(c(after, 'OK') - c(text, 'OK'), 1, 'the retried call is one logical call');
    const out = meshTraffic(client).traffic().find((r) => r.direction === 'outbound' && r.protocol === 'grpc' && r.peer === 'echo');
    assert.equal(out?.retries, 1);
    const rows = meshTraffic(echo).traffic().filter((r) => r.direction === 'inbound' && r.protocol === 'grpc');
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.route, '/weft.test.Echo/Say');
    assert.equal(rows[0]!.failures, 2, 'NOT_FOUND, and the UNAVAILABLE attempt grpc-js retried');
  });

  // That the text parses is promtool's and Prometheus' to say (metrics-prometheus.test.ts); here, what it holds.
  it('serves Prometheus text with every family typed and described, and the Istio metrics and labels', async () => {
    const text = await scrape(`http://127.0.0.1:${client.metricsAddress()!.port}/metrics`);
    const headers = familyHeaders(text);
    for (const [name, type] of [
      ['http_client_request_duration_seconds', 'histogram'],
      ['rpc_client_call_duration_seconds', 'histogram'],
      ['weft_retries_total', 'counter'],
      ['weft_xds_connected', 'gauge'],
      ['weft_xds_acked_version_info', 'gauge'],
      ['weft_xds_nacks_total', 'counter'],
      ['weft_retry_budget_exhausted_total', 'counter'],
      ['istio_requests_total', 'counter'],
      ['istio_request_duration_milliseconds', 'histogram'],
    ] as const) {
      assert.equal(headers.get(name)?.type, type, `${name} is a ${type}`);
      assert.ok(headers.get(name)!.help.length > 0);
    }
    const istio = samples(text, 'istio_requests_total');
    const ok = istio.find((m) => m.labels['destination_service_name'] === 'api' && m.labels['response_code'] === '200');
    assert.ok(ok, JSON.stringify(istio));
    assert.deepEqual(Object.keys(ok.labels).sort(), [
      'connection_security_policy',
      'destination_app',
      'destination_principal',
      'destination_service',
      'destination_service_name',
      'destination_service_namespace',
      'destination_workload',
      'destination_workload_namespace',
      'grpc_response_status',
      'reporter',
      'request_protocol',
      'response_code',
      'response_flags',
      'source_app',
      'source_principal',
      'source_workload',
      'source_workload_namespace',
    ]);
    assert.equal(ok.labels['reporter'], 'source');
    assert.equal(ok.labels['source_workload'], 'client');
    assert.equal(ok.labels['request_protocol'], 'http');
    assert.equal(ok.value, sampleSum(text, 'http_client_request_duration_seconds_count', { http_response_status_code: '200', weft_destination_service: 'api' }));
    const grpcRow = istio.find((m) => m.labels['request_protocol'] === 'grpc' && m.labels['grpc_response_status'] === '5');
    assert.equal(grpcRow?.labels['response_code'], '200');
    assert.equal(sampleSum(text, 'istio_request_duration_milliseconds_count', { destination_service_name: 'api' }), sampleSum(text, 'istio_requests_total', { destination_service_name: 'api' }));
    assert.equal((await renderVia(api.metricsHandler())).includes('istio_requests_total'), false, 'Istio names only with the option');
  });

  it('counts an inbound denial with its reason, and the refused request as a 403 on the server', async () => {
    const r = await tcp.apply(`apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: no-admin }\nspec:\n  targetRef: { kind: Service, name: api }\n  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/admin*"] } }] }]\n`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await waitFor(async () => (await call('/admin')) === 403, 'the DENY to reach api', 5_000);
    const text = await renderVia(api.metricsHandler());
    const denials = sampleSum(text, 'weft_inbound_denials_total', { reason: 'rbac_denied', kind: 'authz', weft_destination_service: 'api' });
    assert.ok(denials >= 1);
    assert.equal(denials, api.status().inbound!.refused['rbac_denied']);
    assert.equal(sampleSum(text, 'http_server_request_duration_seconds_count', { http_response_status_code: '403' }), denials, 'every refusal is a served 403');
  });

  it('records nothing with metrics: { enabled: false }', async () => {
    const quiet = await createMesh({ service: 'quiet', controlPlane: tcp.cp.xdsUrl, metrics: { enabled: false } });
    try {
      const { port } = await quiet.serve((_req, res) => res.end('ok'), { port: 0 });
      await (await request(`http://127.0.0.1:${port}/`)).body.text();
      assert.deepEqual(meshTraffic(quiet).traffic(), []);
      assert.equal(await renderVia(quiet.metricsHandler()), '');
    } finally {
      await quiet.close();
    }
  });

  it('closes the metrics port with the mesh', async () => {
    const m = await createMesh({ service: 'other', controlPlane: tcp.cp.xdsUrl, metricsPort: 0 });
    const { port } = m.metricsAddress()!;
    assert.equal((await request(`http://127.0.0.1:${port}/metrics`)).statusCode, 200);
    await m.close();
    await assert.rejects(request(`http://127.0.0.1:${port}/metrics`), /ECONNREFUSED/);
  });
});

/** The port of a server for `mesh`'s metricsHandler (made once per mesh). */
const ports = new WeakMap<Mesh, number>();
async function servePort(mesh: Mesh): Promise<number> {
  const known = ports.get(mesh);
  if (known !== undefined) return known;
  const http = await import('node:http');
  const server = http.createServer(mesh.metricsHandler());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  const port = (server.address() as import('node:net').AddressInfo).port;
  ports.set(mesh, port);
  return port;
}
