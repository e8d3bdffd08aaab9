// The metrics registry: records land in their cell and row, the TrafficSource rows obey MAX_TRAFFIC_ROWS (busiest
// kept, the rest folded with their totals), and the label-set cap folds new label sets into one overflow series.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { errorCode, methodIndex, MetricsRegistry, OVERFLOW_LABEL } from './metrics-registry.js';
import { MeshMetrics } from './mesh-metrics.js';
import { renderPrometheus } from './prometheus.js';
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
});
