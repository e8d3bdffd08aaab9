// The Prometheus endpoint against the real Prometheus (Debian package `prometheus`): `promtool check metrics` parses
// the text of meshes that served and made HTTP and gRPC calls (default names, and with the Istio option) and lints it
// clean but for the millisecond name Istio defines; a Prometheus server scraping them every second
// reads each family's type and help, and answers PromQL (counts by status, a latency quantile, the success rate of
// Istio's dashboards) with the traffic sent; escaped label values and help, NaN and -Inf read back as rendered.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { request } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { PROMETHEUS_CONTENT_TYPE, renderPrometheus, type Family } from '../../src/telemetry/prometheus.js';
import { LATENCY_BUCKETS_MS } from '../../src/telemetry/traffic-summary.js';
import { addEchoService, EchoClient, say, type EchoClientInstance } from '../../src/testing/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';
import { assertPrometheusInstalled, promtoolCheckMetrics, startPrometheus, type TestPrometheus } from './prometheus.js';
import { sampleSum, scrape } from './prometheus-text.js';

/** Every measured request is held this long by the server, so the latency quantile has a known floor. */
const DELAY_MS = 30;
const OK_CALLS = 15;
const FAILED_CALLS = 5;
const GRPC_CALLS = 4;
/**
 * The one rule promtool flags, on purpose: this histogram keeps its millisecond name because Istio defines it
 * (istio_request_duration_milliseconds: its dashboards query it; Istio's proxies draw the same lint). Every other
 * histogram, the gRPC ones included (semconv 1.45's rpc.{client,server}.call.duration), is in seconds.
 */
const MILLISECOND_NAMES = ['istio_request_duration_milliseconds'];
/** A label value and a help text with every character the exporter escapes, and values Prometheus writes by name. */
const ODD_VALUE = 'a "quoted" back\\slash\nnew line';
const ODD_HELP = 'Help with a back\\slash\nand a new line.';
const ODD_FAMILIES: Family[] = [
  {
    name: 'weft.test-escapes',
    help: ODD_HELP,
    type: 'gauge',
    samples: [
      { labels: { 'odd.label': ODD_VALUE }, value: 1 },
      { labels: { 'odd.label': 'nan' }, value: NaN },
      { labels: { 'odd.label': 'minus-inf' }, value: -Infinity },
    ],
  },
];

describe('Prometheus endpoint against promtool and a real Prometheus server', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let api: Mesh;
  let echo: Mesh;
  let client: Mesh;
  let plain: Mesh;
  let prom: TestPrometheus | undefined;
  let odd: Server | undefined;
  const rpcs: EchoClientInstance[] = [];

  const metricsUrl = (mesh: Mesh) => `http://127.0.0.1:${mesh.metricsAddress()!.port}/metrics`;
  const target = (mesh: Mesh) => `127.0.0.1:${mesh.metricsAddress()!.port}`;
  const call = async (from: Mesh, status: number, delayMs = 0) => {
    const r = await request('http://api/', { dispatcher: from.dispatcher, headers: { 'x-status': String(status), 'x-delay-ms': String(delayMs) } });
    await r.body.text();
    return r.statusCode;
  };

  before(async () => {
    assertPrometheusInstalled();
    tcp = await startTestControlPlane({ 'services.yaml': [serviceYaml('api'), serviceYaml('echo', 'GRPC', 50051)].join('---\n') });
    // api serves HTTP with the Istio names; echo serves gRPC with the default names only.
    api = await createMesh({ service: 'api', controlPlane: tcp.cp.xdsUrl, metrics: { istio: true }, metricsPort: 0 });
    await api.serve(
      (req, res) => {
        setTimeout(() => {
          res.statusCode = Number(req.headers['x-status'] ?? 200);
          res.end('ok');
        }, Number(req.headers['x-delay-ms'] ?? 0));
      },
      { port: 0 },
    );
    echo = await createMesh({ service: 'echo', controlPlane: tcp.cp.xdsUrl, metricsPort: 0 });
    const g = echo.grpc.server({ health: false });
    addEchoService(g, 'echo-1');
    await echo.grpc.serve(g, { port: 0 });
    // Two callers: `client` with the Istio option, `plain` with the defaults.
    client = await createMesh({ service: 'client', controlPlane: tcp.cp.xdsUrl, dependsOn: ['api', 'echo'], metrics: { istio: true }, metricsPort: 0 });
    plain = await createMesh({ service: 'plain', controlPlane: tcp.cp.xdsUrl, dependsOn: ['api', 'echo'], metricsPort: 0 });
    for (const from of [client, plain]) {
      await from.ready();
      const rpc = from.grpc.client(EchoClient, 'echo');
      rpcs.push(rpc);
      await waitFor(async () => (await call(from, 200)) === 200, 'api reachable');
      await waitFor(async () => (await say(rpc, { text: 'warm' }, { deadlineMs: 2_000 }).then(() => true, () => false)), 'echo reachable');
      // Every label set the measured traffic uses exists before it: a counter Prometheus first sees already
      // non-zero loses those increments to rate().
      assert.equal(await call(from, 503), 503);
      await assert.rejects(say(rpc, { text: 'no', fail: { code: grpc.status.NOT_FOUND } }, { deadlineMs: 5_000 }));
    }
    // The exporter's rendering of odd names, label values and numbers, served as a fourth target.
    odd = createServer((_req, res) => {
      res.setHeader('content-type', PROMETHEUS_CONTENT_TYPE);
      res.end(renderPrometheus(ODD_FAMILIES));
    });
    await new Promise<void>((resolve) => odd!.listen(0, '127.0.0.1', resolve));
    prom = await startPrometheus([...[api, echo, client].map(target), `127.0.0.1:${(odd.address() as AddressInfo).port}`]);
  });

  after(async () => {
    await prom?.stop();
    odd?.closeAllConnections();
    await new Promise((resolve) => (odd === undefined ? resolve(undefined) : odd.close(resolve)));
    for (const rpc of rpcs) rpc.close();
    await client?.close();
    await plain?.close();
    await api?.close();
    await echo?.close();
    await tcp?.close();
  });

  it('promtool check metrics: every mesh text parses, and lints clean but for the millisecond names others define', async () => {
    for (const [name, mesh] of [['api (serves HTTP, istio)', api], ['echo (serves gRPC)', echo], ['client (calls both, istio)', client], ['plain (calls both)', plain]] as const) {
      const text = await scrape(metricsUrl(mesh));
      assert.ok(text.includes('_bucket{'), `${name}: has histograms`);
      const { code, output } = await promtoolCheckMetrics(text);
      const problems = output.split('\n').filter((line) => line !== '');
      // Exit 1 is a text promtool cannot parse; 3 means lint problems, all of which must be the known ones.
      assert.ok(code === 0 || code === 3, `${name}: promtool exited ${code}: ${output}`);
      assert.equal(code === 3, problems.length > 0, `${name}: ${output}`);
      assert.deepEqual(problems.filter((line) => !MILLISECOND_NAMES.some((n) => line === `${n} use base unit "seconds" instead of "milliseconds"`)), [], `${name}: promtool check metrics`);
    }
    assert.ok((await scrape(metricsUrl(client))).includes('istio_request_duration_milliseconds_bucket{'));
    assert.ok((await scrape(metricsUrl(plain))).includes('rpc_client_call_duration_seconds_bucket{'));
  });

  it('Prometheus scrapes every mesh and its queries count the traffic sent, its latency and success rate', async () => {
    const p = prom!;
    const apiTarget = target(api);
    const q = {
      served: `sum(http_server_request_duration_seconds_count{weft_destination_service="api"})`,
      servedByStatus: `sum by (http_response_status_code) (http_server_request_duration_seconds_count{weft_destination_service="api"})`,
      istioOk: `sum(istio_requests_total{reporter="destination",destination_service_name="api",response_code="200"})`,
      grpcOk: `sum(istio_requests_total{reporter="source",request_protocol="grpc",destination_service_name="echo",grpc_response_status="0"})`,
      grpcServed: `sum(rpc_server_call_duration_seconds_count{weft_destination_service="echo",rpc_status_code="OK"})`,
      // When api was last scraped, if that scrape succeeded (a failed one leaves its series without a sample there).
      apiScrapedAt: `timestamp(up{job="weft",instance="${apiTarget}"}) and on() (up{job="weft",instance="${apiTarget}"} == 1)`,
    };
    // All four targets up: Prometheus scraped each and its own parser accepted the text.
    await waitFor(async () => (await p.value('sum(up{job="weft"})')) === 4, 'the four targets to be up', 30_000, 250);
    // The families' types and help as Prometheus read them.
    const metadata = await p.metadata();
    for (const [name, type] of [
      ['http_server_request_duration_seconds', 'histogram'],
      ['http_client_request_duration_seconds', 'histogram'],
      ['rpc_client_call_duration_seconds', 'histogram'],
      ['rpc_server_call_duration_seconds', 'histogram'],
      ['istio_requests_total', 'counter'],
      ['istio_request_duration_milliseconds', 'histogram'],
      ['weft_xds_connected', 'gauge'],
    ] as const) {
      assert.equal(metadata[name]?.[0]?.type, type, `${name}: ${JSON.stringify(metadata[name])}`);
      assert.ok(metadata[name]![0]!.help.length > 0, name);
    }

    // Prometheus has the warm-up traffic: its values equal the texts' (read once the meshes are quiet).
    const apiText = await scrape(metricsUrl(api));
    const clientText = await scrape(metricsUrl(client));
    const echoText = await scrape(metricsUrl(echo));
    const base = {
      served200: sampleSum(apiText, 'http_server_request_duration_seconds_count', { weft_destination_service: 'api', http_response_status_code: '200' }),
      served503: sampleSum(apiText, 'http_server_request_duration_seconds_count', { weft_destination_service: 'api', http_response_status_code: '503' }),
      istioOk: sampleSum(apiText, 'istio_requests_total', { reporter: 'destination', destination_service_name: 'api', response_code: '200' }),
      grpcOk: sampleSum(clientText, 'istio_requests_total', { reporter: 'source', request_protocol: 'grpc', destination_service_name: 'echo', grpc_response_status: '0' }),
      grpcServed: sampleSum(echoText, 'rpc_server_call_duration_seconds_count', { weft_destination_service: 'echo', rpc_status_code: 'OK' }),
    };
    assert.ok(base.served503 >= 2 && base.istioOk >= 2 && base.grpcOk >= 1, JSON.stringify(base));
    await waitFor(
      async () =>
        (await p.value(q.served)) === base.served200 + base.served503 &&
        (await p.value(q.istioOk)) === base.istioOk &&
        (await p.value(q.grpcOk)) === base.grpcOk &&
        (await p.value(q.grpcServed)) === base.grpcServed,
      'Prometheus to hold the warm-up counts',
      20_000,
      250,
    );
    // One more scrape of api before the measured traffic: its timestamp starts the window the rates are taken over.
    const quietS = Date.now() / 1000;
    const startS = await waitFor(async () => {
      const t = await p.value(q.apiScrapedAt);
      return t !== undefined && t > quietS ? t : 0;
    }, 'a scrape of api after the warm-up', 20_000, 100);

    let slowestMs = 0;
    const send = async (status: number) => {
      const t0 = performance.now();
      assert.equal(await call(client, status, DELAY_MS), status);
      slowestMs = Math.max(slowestMs, performance.now() - t0);
    };
    for (let i = 0; i < OK_CALLS; i++) await send(200);
    for (let i = 0; i < FAILED_CALLS; i++) await send(503);
    const rpc = rpcs[0]!;
    for (let i = 0; i < GRPC_CALLS; i++) await say(rpc, { text: 'hi' }, { deadlineMs: 5_000 });

    // Bounded: 20 s at 250 ms (the scrape interval is 1 s).
    const total = base.served200 + base.served503 + OK_CALLS + FAILED_CALLS;
    await waitFor(
      async () =>
        (await p.value(q.served)) === total && (await p.value(q.grpcOk)) === base.grpcOk + GRPC_CALLS && (await p.value(q.grpcServed)) === base.grpcServed + GRPC_CALLS,
      `Prometheus to scrape the ${OK_CALLS + FAILED_CALLS} HTTP and ${GRPC_CALLS} gRPC calls`,
      20_000,
      250,
    );
    const endS = await waitFor(async () => (await p.value(q.apiScrapedAt)) ?? 0, 'a successful scrape of api', 20_000, 100);

    const byStatus = Object.fromEntries((await p.query(q.servedByStatus)).map((s) => [s.metric['http_response_status_code'], s.value]));
    assert.deepEqual(byStatus, { '200': base.served200 + OK_CALLS, '503': base.served503 + FAILED_CALLS });
    assert.equal(await p.value(q.istioOk), base.istioOk + OK_CALLS);

    // The rates span exactly the api samples from `startS` to `endS` (range selectors include both ends in
    // Prometheus 2.x), so rate() does not extrapolate and a ratio of rates is the ratio of the increases.
    const windowMs = Math.round((endS - startS) * 1000);
    // Two distinct scrapes (1 s apart, give or take the scraper's jitter: 995 ms was seen on CI).
    assert.ok(windowMs >= 500, `window ${windowMs} ms: the start and end samples must be different scrapes`);
    const w = `[${windowMs}ms]`;
    // Istio's dashboards' success rate (istio-service-dashboard "Incoming Success Rate"), irate(...[1m]) taken
    // over the measured window.
    const successRate = await p.value(
      `sum(rate(istio_requests_total{reporter="destination",destination_service_name="api",response_code!~"5.*"}${w})) / sum(rate(istio_requests_total{reporter="destination",destination_service_name="api"}${w}))`,
      endS,
    );
    assert.ok(successRate !== undefined && Math.abs(successRate - OK_CALLS / (OK_CALLS + FAILED_CALLS)) < 1e-9, `success rate ${successRate}`);

    // The median latency lies in the buckets the measured calls fell in: at least the server's hold, at most the
    // bound above the slowest call the client timed.
    const ceilBucketMs = LATENCY_BUCKETS_MS.find((b) => b >= slowestMs) ?? Infinity;
    const floorBucketMs = [...LATENCY_BUCKETS_MS].reverse().find((b) => b <= DELAY_MS)!;
    const medianS = await p.value(`histogram_quantile(0.5, sum by (le) (rate(http_server_request_duration_seconds_bucket{weft_destination_service="api"}${w})))`, endS);
    assert.ok(medianS !== undefined && Number.isFinite(medianS), `median ${medianS}`);
    assert.ok(medianS * 1000 >= floorBucketMs && medianS * 1000 <= ceilBucketMs, `median ${medianS * 1000} ms in [${floorBucketMs}, ${ceilBucketMs}] ms`);
    // Istio's dashboards' "Incoming Request Duration By Source" P50, in milliseconds.
    const istioMedianMs = await p.value(
      `histogram_quantile(0.50, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination",destination_service_name="api"}${w})) by (le))`,
      endS,
    );
    assert.ok(istioMedianMs !== undefined && istioMedianMs >= floorBucketMs && istioMedianMs <= ceilBucketMs, `istio median ${istioMedianMs} ms`);
  });

  it('promtool and Prometheus read escaped label values and help, sanitised names, NaN and -Inf as rendered', async () => {
    const text = renderPrometheus(ODD_FAMILIES);
    assert.deepEqual(await promtoolCheckMetrics(text), { code: 0, output: '' });
    const p = prom!;
    await waitFor(async () => (await p.value(`weft_test_escapes{odd_label=${JSON.stringify(ODD_VALUE)}}`)) === 1, 'the escaped label value to be read back', 30_000, 250);
    assert.ok(Number.isNaN(await p.value('weft_test_escapes{odd_label="nan"}')));
    assert.equal(await p.value('weft_test_escapes{odd_label="minus-inf"}'), -Infinity);
    assert.deepEqual((await p.metadata())['weft_test_escapes'], [{ type: 'gauge', help: ODD_HELP, unit: '' }]);
  });
});
