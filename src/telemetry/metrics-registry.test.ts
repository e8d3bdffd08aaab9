// The metrics registry: records land in their cell and row, the TrafficSource rows obey MAX_TRAFFIC_ROWS (busiest
// kept, the rest folded with their totals), the label-set cap folds new label sets into one overflow series, and the
// gRPC families carry semconv 1.45's names, unit and attributes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCode, methodIndex, MetricsRegistry, OVERFLOW_LABEL } from './metrics-registry.js';
import { cellAttributes, LATENCY_BUCKETS_S, MeshMetrics } from './mesh-metrics.js';
import { renderPrometheus, type HistogramSample } from './prometheus.js';
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS } from './traffic-summary.js';

const GET = methodIndex('GET');

describe('MetricsRegistry', () => {
  it('records a call into its cell, its row and the right latency bucket', () => {
    const r = new MetricsRegistry({ service: 'me' });
    const s = r.series('outbound', 'http', 'api', 'HTTPRoute/api/rules/0');
    s.record(GET, 200, undefined, 0.4);
    s.record(GET, 200, undefined, 3);
    s.record(GET, 503, undefined, 20_000);
    s.record(GET, -1, 'reset', 7);
    s.retried('503');
    assert.equal(r.series('outbound', 'http', 'api', 'HTTPRoute/api/rules/0'), s, 'one series per key');
    const [row] = r.traffic();
    assert.deepEqual({ ...row, latency: [...row!.latency] }, {
      direction: 'outbound',
      protocol: 'http',
      peer: 'api',
      route: 'HTTPRoute/api/rules/0',
      requests: 4,
      failures: 2,
      retries: 1,
      latency: [1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    });
    assert.equal(row!.latency.length, LATENCY_BUCKETS_MS.length + 1);
    const cells = s.cells();
    assert.deepEqual(
      cells.map((c) => [c.method, c.code, c.errorType, c.failure, c.count]),
      [
        ['GET', 200, '', false, 2],
        ['GET', 503, '503', true, 1],
        ['GET', -1, 'reset', true, 1],
      ],
    );
    assert.ok(errorCode('reset') >= 600);
    assert.equal(methodIndex('BREW'), methodIndex('_OTHER'));
  });

  it('keeps the busiest MAX_TRAFFIC_ROWS rows and folds the rest, totals unchanged', () => {
    const r = new MetricsRegistry({ service: 'me', maxRoutes: 10_000, maxSeries: 10_000 });
    const n = MAX_TRAFFIC_ROWS + 50;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const s = r.series('outbound', 'http', `svc${i}`, 'r');
      for (let k = 0; k <= i % 7; k++) s.record(GET, 200, undefined, 1);
      total += (i % 7) + 1;
    }
    const inbound = r.series('inbound', 'grpc', 'unknown', '/a.B/C', '', undefined, '/a.B/C');
    for (let k = 0; k < 10; k++) inbound.record(GET, 0, undefined, 1);
    total += 10;
    const rows = r.traffic();
    assert.equal(rows.length, MAX_TRAFFIC_ROWS);
    assert.equal(rows.reduce((a, row) => a + row.requests, 0), total, 'nothing lost in the fold');
    const folded = rows.filter((row) => row.route === '*');
    assert.equal(folded.length, 1, 'one folded row per (direction, protocol) that lost rows');
    assert.equal(folded[0]!.peer, '*');
    const kept = new Set(rows.filter((row) => row.route !== '*').map((row) => row.peer));
    assert.ok(kept.has('unknown'), 'a group with no folded row keeps its row');
    const requestsOf = (i: number) => (i % 7) + 1;
    const keptMin = Math.min(...[...Array(n).keys()].filter((i) => kept.has(`svc${i}`)).map(requestsOf));
    const foldedMax = Math.max(...[...Array(n).keys()].filter((i) => !kept.has(`svc${i}`)).map(requestsOf));
    assert.ok(keptMin >= foldedMax, `the busiest are kept (kept min ${keptMin}, folded max ${foldedMax})`);
  });

  it('merges series that differ only by authority or gRPC method into one row', () => {
    const r = new MetricsRegistry({ service: 'me' });
    r.series('outbound', 'grpc', 'echo', 'route', 'echo', undefined, '/p.S/A').record(GET, 0, undefined, 1);
    r.series('outbound', 'grpc', 'echo', 'route', 'echo', undefined, '/p.S/B').record(GET, 14, undefined, 1);
    const rows = r.traffic();
    assert.equal(rows.length, 1);
    assert.deepEqual([rows[0]!.requests, rows[0]!.failures], [2, 1]);
  });

  it('folds label sets past the cap into one _overflow series, and still counts them in their rows', () => {
    const m = new MeshMetrics({ service: 'me', maxSeries: 3 });
    const s = m.outboundSeries('http', 'api', 'r', undefined);
    for (const status of [200, 201, 202, 203, 204, 500]) s.record(GET, status, undefined, 1);
    const text = renderPrometheus(m.families());
    assert.match(text, /^# TYPE http_client_request_duration_seconds histogram$/m);
    const counts = [...text.matchAll(/^http_client_request_duration_seconds_count\{([^}]*)\} (\d+)$/gm)].map((x) => [x[1]!, Number(x[2])] as const);
    assert.equal(counts.length, 4, 'three label sets and the overflow');
    const overflow = counts.find(([labels]) => labels.includes(`weft_route="${OVERFLOW_LABEL}"`));
    assert.equal(overflow?.[1], 3);
    const [row] = m.registry.traffic();
    assert.deepEqual([row!.requests, row!.failures], [6, 1], 'the row counts the overflowed failure');
  });

  it('names the gRPC histograms by semconv 1.45: rpc.{client,server}.call.duration in seconds, full method, status name', () => {
    const m = new MeshMetrics({ service: 'me' });
    const out = m.outboundSeries('grpc', 'echo:50051', 'GRPCRoute/echo/rules/0', undefined, '/weft.test.Echo/Say');
    out.record(methodIndex('POST'), 0, undefined, 2);
    out.record(methodIndex('POST'), 14, undefined, 3);
    m.inboundSeries('grpc', undefined, '/weft.test.Echo/Say').record(methodIndex('POST'), 5, undefined, 4);
    const families = m.families();
    const byName = new Map(families.map((f) => [f.name, f]));
    assert.equal(byName.has('rpc.client.duration_milliseconds'), false);
    for (const name of ['rpc.client.call.duration_seconds', 'rpc.server.call.duration_seconds']) {
      const f = byName.get(name);
      assert.ok(f && f.type === 'histogram', `${name} in ${[...byName.keys()].join(',')}`);
      assert.deepEqual(f.bounds, LATENCY_BUCKETS_S);
    }
    const client = byName.get('rpc.client.call.duration_seconds')!.samples as readonly HistogramSample[];
    const failed = client.find((x) => x.labels['rpc_status_code'] === 'UNAVAILABLE');
    assert.deepEqual(failed?.labels, {
      rpc_system_name: 'grpc',
      rpc_method: 'weft.test.Echo/Say',
      rpc_status_code: 'UNAVAILABLE',
      error_type: 'UNAVAILABLE',
      server_address: 'echo',
      server_port: '50051',
      weft_source_service: 'me',
      weft_destination_service: 'echo',
      weft_route: 'GRPCRoute/echo/rules/0',
      weft_outcome: 'failure',
    });
    assert.equal(failed.sum, 0.003, 'seconds');
    assert.equal(client.find((x) => x.labels['rpc_status_code'] === 'OK')?.labels['weft_outcome'], 'success');
    const server = byName.get('rpc.server.call.duration_seconds')!.samples as readonly HistogramSample[];
    assert.deepEqual(server[0]?.labels, {
      rpc_system_name: 'grpc',
      rpc_method: 'weft.test.Echo/Say',
      rpc_status_code: 'NOT_FOUND',
      error_type: 'NOT_FOUND',
      weft_source_service: 'unknown',
      weft_destination_service: 'me',
      weft_route: '/weft.test.Echo/Say',
      weft_outcome: 'failure',
    });
    // The OpenTelemetry attributes (one object per cell) hold the same names, the status a string.
    const cell = [...m.registry.allCells()].find((c) => c.series.direction === 'outbound' && c.code === 0)!;
    const attrs = cellAttributes(cell, 'me');
    assert.deepEqual([attrs['rpc.system.name'], attrs['rpc.method'], attrs['rpc.status_code'], attrs['server.port']], ['grpc', 'weft.test.Echo/Say', 'OK', 50051]);
    const text = renderPrometheus(families);
    assert.match(text, /^# TYPE rpc_client_call_duration_seconds histogram$/m);
    assert.match(text, /^# TYPE rpc_server_call_duration_seconds histogram$/m);
  });
});
