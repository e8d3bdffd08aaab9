// The aggregator's arithmetic on a fake clock: rates, success rate, percentiles, edges, restarts, ageing out, bounds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LATENCY_BUCKETS_MS, type RouteTraffic } from '../../../src/telemetry/traffic-summary.js';
import { histogramQuantile } from './histogram.js';
import { TrafficAggregator } from './traffic-aggregator.js';
import type { TrafficReport } from './traffic-views.js';

/** A process's cumulative counters, as a metrics registry would keep them. */
class Counters {
  readonly #rows = new Map<string, { direction: 'inbound' | 'outbound'; protocol: 'http' | 'grpc'; peer: string; route: string; requests: number; failures: number; retries: number; latency: number[] }>();
  /** Records `n` requests of `latencyMs` each, `failed` of them failures. */
  add(direction: 'inbound' | 'outbound', peer: string, route: string, n: number, latencyMs: number, failed = 0): void {
    const key = `${direction}|${peer}|${route}`;
    let r = this.#rows.get(key);
    if (!r) this.#rows.set(key, (r = { direction, protocol: 'http', peer, route, requests: 0, failures: 0, retries: 0, latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0) }));
    r.requests += n;
    r.failures += failed;
    let b = LATENCY_BUCKETS_MS.findIndex((bound) => latencyMs <= bound);
    if (b < 0) b = LATENCY_BUCKETS_MS.length;
    r.latency[b]! += n;
  }
  traffic(): RouteTraffic[] {
    return [...this.#rows.values()].map((r) => ({ ...r, latency: [...r.latency] }));
  }
}

function report(nodeId: string, service: string, counters: Counters, startedAtMs = 0): TrafficReport {
  return { nodeId, service, instance: '127.0.0.1:1', startedAtMs, certificateExpiresAtMs: 0, sdkVersion: 'weft/test', identity: '', traffic: counters.traffic() };
}

describe('histogramQuantile', () => {
  it('interpolates within the bucket the rank falls in, as Prometheus does', () => {
    const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    counts[5] = 100; // (10, 25] ms
    assert.equal(histogramQuantile(0.5, counts), 17.5);
    assert.equal(histogramQuantile(0.99, counts), 10 + 15 * 0.99);
    counts[0] = 100; // (0, 0.5] ms: now half the requests are below 0.5 ms
    assert.equal(histogramQuantile(0.25, counts), 0.25);
    assert.equal(histogramQuantile(0.75, counts), 17.5);
  });
  it('answers the largest finite bound for the overflow bucket, and undefined when empty', () => {
    const counts = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    assert.equal(histogramQuantile(0.5, counts), undefined);
    counts[LATENCY_BUCKETS_MS.length] = 3;
    assert.equal(histogramQuantile(0.5, counts), 10_000);
  });
});

describe('TrafficAggregator', () => {
  it('sums instances into per-service RPS, success rate and percentiles, per route and per edge', () => {
    let now = 1_000_000;
    const agg = new TrafficAggregator({ nowMs: () => now, sampleSpacingMs: 1000 });
    const p1 = new Counters();
    const p2 = new Counters();
    const fe = new Counters();
    for (let t = 0; t <= 60; t++) {
      if (t > 0) {
        p1.add('inbound', 'frontend', 'charge', 10, 20, 1); // 10 rps, 10 % failures, 20 ms
        p2.add('inbound', 'frontend', 'charge', 5, 20);
        p2.add('inbound', 'frontend', 'refund', 5, 200);
        fe.add('outbound', 'payments', 'charge', 15, 21, 1);
        fe.add('outbound', 'payments', 'refund', 5, 201);
      }
      agg.record(report('payments-1', 'payments', p1, 1));
      agg.record(report('payments-2', 'payments', p2, 1));
      agg.record(report('frontend-1', 'frontend', fe, 1));
      now += 1000;
    }
    now -= 1000;
    const stats = agg.stats({ windowMs: 30_000 });
    const payments = stats.services.find((s) => s.service === 'payments')!;
    assert.equal(payments.meshed, 2);
    assert.equal(payments.rps, 20);
    assert.equal(payments.requests, 600);
    assert.equal(payments.successRate, 0.95);
    assert.equal(payments.p50Ms, 10 + 15 * (300 / 450)); // 450 of 600 in (10, 25], rank 300
    assert.ok(payments.p99Ms! > 100 && payments.p99Ms! <= 250, `p99 ${payments.p99Ms}`);
    const frontend = stats.services.find((s) => s.service === 'frontend')!;
    assert.equal(frontend.rps, 0, 'frontend serves nothing');
    assert.equal(frontend.outbound.rps, 20);
    const charge = stats.routes.find((r) => r.service === 'payments' && r.route === 'charge' && r.direction === 'inbound')!;
    assert.equal(charge.rps, 15);
    const callersRefund = stats.routes.find((r) => r.service === 'payments' && r.route === 'refund' && r.direction === 'outbound')!;
    assert.equal(callersRefund.rps, 5);
    assert.equal(callersRefund.p50Ms, 175);
    assert.deepEqual(stats.edges.map((e) => [e.source, e.destination, e.rps, e.successRate]), [['frontend', 'payments', 20, 1 - 30 / 600]]);
    // Filtering by service keeps its routes and the edges that touch it.
    const only = agg.stats({ service: 'frontend' });
    assert.deepEqual(only.services.map((s) => s.service), ['frontend']);
    assert.deepEqual(only.routes, []);
    assert.equal(only.edges.length, 1);
  });

  it('counts a restarted process from 0, never negatively', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now });
    let c = new Counters();
    for (let t = 0; t < 10; t++) {
      c.add('inbound', 'a', '', 100, 1);
      agg.record(report('n1', 'svc', c, 1));
      now += 1000;
    }
    // Same node id, new process: counters start again below where they were.
    c = new Counters();
    const restartedAtMs = now;
    for (let t = 0; t < 10; t++) {
      c.add('inbound', 'a', '', 100, 1);
      agg.record(report('n1', 'svc', c, restartedAtMs));
      now += 1000;
    }
    now -= 1000;
    const s = agg.stats({ windowMs: 60_000 }).services[0]!;
    assert.equal(s.requests, 2000, 'every request of both lives, none subtracted');
    // Even without a new start time, a counter that went down is a reset.
    const agg2 = new TrafficAggregator({ nowMs: () => now });
    const high = new Counters();
    high.add('inbound', 'a', '', 1000, 1);
    const low = new Counters();
    low.add('inbound', 'a', '', 10, 1);
    agg2.record(report('n', 'svc', high, 1));
    now += 1000;
    agg2.record(report('n', 'svc', low, 1));
    const s2 = agg2.stats({ windowMs: 60_000 }).services[0]!;
    assert.ok(s2.requests >= 10 && s2.rps >= 0, JSON.stringify(s2));
  });

  it('counts a process that started inside the window from its start', () => {
    let now = 100_000;
    const agg = new TrafficAggregator({ nowMs: () => now });
    const c = new Counters();
    c.add('inbound', 'a', '', 50, 1);
    agg.record(report('n', 'svc', c, now - 5000)); // started 5 s ago, first report holds 50 requests
    now += 5000;
    c.add('inbound', 'a', '', 50, 1);
    agg.record(report('n', 'svc', c, 95_000));
    const s = agg.stats({ windowMs: 60_000 }).services[0]!;
    assert.equal(s.requests, 100);
    assert.equal(s.rps, 10);
  });

  it('takes a new process\'s rate between its reports, not diluted by its idle start-up', () => {
    let now = 40_000;
    const agg = new TrafficAggregator({ nowMs: () => now, sampleSpacingMs: 1000 });
    const c = new Counters();
    agg.record(report('n', 'svc', c, 0)); // started at 0, first report at 40 s, no traffic yet
    for (let t = 0; t < 20; t++) {
      now += 1000;
      c.add('inbound', 'a', '', 10, 1);
      agg.record(report('n', 'svc', c, 0));
    }
    const s = agg.stats({ windowMs: 60_000 }).services[0]!;
    assert.equal(s.requests, 200);
    assert.equal(s.rps, 10);
  });

  it('stops counting instances that stop reporting, and forgets them after the retention', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now, staleAfterMs: 30_000, retentionMs: 120_000 });
    const a = new Counters();
    const b = new Counters();
    for (let t = 0; t < 10; t++) {
      a.add('inbound', 'x', '', 10, 1);
      b.add('inbound', 'x', '', 10, 1);
      agg.record(report('a', 'svc', a, 1));
      agg.record(report('b', 'svc', b, 1));
      now += 1000;
    }
    for (let t = 0; t < 40; t++) {
      a.add('inbound', 'x', '', 10, 1);
      agg.record(report('a', 'svc', a, 1)); // b went silent
      now += 1000;
    }
    now -= 1000;
    const s = agg.stats({ windowMs: 10_000 }).services[0]!;
    assert.equal(s.meshed, 1);
    assert.equal(s.rps, 10);
    assert.deepEqual(agg.instances().map((i) => [i.nodeId, i.live]), [['a', true], ['b', false]]);
    now += 120_001;
    assert.deepEqual(agg.instances().map((i) => i.nodeId), []);
    assert.deepEqual(agg.stats().services, []);
  });

  it('keeps memory bounded: samples per instance and instances', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now, retentionMs: 60_000, sampleSpacingMs: 5_000, maxInstances: 3 });
    const c = new Counters();
    for (let t = 0; t < 2000; t++) {
      c.add('inbound', 'x', '', 1, 1);
      agg.record(report('n', 'svc', c, 1));
      now += 100;
    }
    assert.ok(agg.size().samples <= 60_000 / 5_000 + 2, `samples: ${agg.size().samples}`);
    // Thinned samples still give the right rate: 10 requests per second.
    assert.equal(agg.stats({ windowMs: 30_000 }).services[0]!.rps, 10);
    for (let i = 0; i < 10; i++) agg.record(report(`other-${i}`, 'svc', c, 1));
    assert.equal(agg.size().instances, 3);
    assert.deepEqual(agg.instances().map((i) => i.nodeId), ['other-7', 'other-8', 'other-9'], 'the least recent reporters were evicted');
  });

  it('keeps old reports a minute apart and recent ones dense, and still answers a 15-minute window', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now });
    const c = new Counters();
    for (let t = 0; t <= 15 * 60; t++) {
      if (t > 0) c.add('inbound', 'x', '', 10, 1);
      agg.record(report('n', 'svc', c, 1));
      now += 1000;
    }
    now -= 1000;
    const { samples } = agg.size();
    // Dense: one per 4-5 s over the last 6 minutes (1 s reports, 5 s spacing); sparse: one a minute before that.
    assert.ok(samples <= (6 * 60) / 4 + 9 + 3, `samples: ${samples}`);
    assert.equal(agg.stats({ windowMs: 15 * 60_000 }).services[0]!.rps, 10);
    assert.equal(agg.stats({ windowMs: 10 * 60_000 }).services[0]!.rps, 10);
    assert.equal(agg.stats({ windowMs: 60_000 }).services[0]!.rps, 10);
    // Through the thinned history too (its first minute, before the second kept report, cannot be told apart).
    const points = agg.series('svc', { rangeMs: 15 * 60_000, stepMs: 10_000 }).filter((p) => p.atMs >= 60_000);
    assert.equal(points.length, 85);
    for (const p of points) assert.ok(Math.abs(p.rps - 10) < 0.01, JSON.stringify(points.map((x) => x.rps)));
  });

  it('gives a per-service series of rate and latency over time', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now, sampleSpacingMs: 1000 });
    const c = new Counters();
    for (let t = 0; t <= 60; t++) {
      if (t > 0) c.add('inbound', 'x', '', t <= 30 ? 5 : 20, t <= 30 ? 3 : 70);
      agg.record(report('n', 'svc', c, 1));
      now += 1000;
    }
    now -= 1000;
    const points = agg.series('svc', { rangeMs: 60_000, stepMs: 10_000 });
    assert.equal(points.length, 7);
    assert.equal(points.at(-1)!.atMs, now);
    assert.equal(points[2]!.rps, 5);
    assert.equal(points.at(-1)!.rps, 20);
    assert.ok(points[2]!.p99Ms! <= 5 && points.at(-1)!.p99Ms! > 50, JSON.stringify(points));
    assert.deepEqual(agg.series('nobody', { rangeMs: 20_000, stepMs: 10_000 }).map((p) => p.rps), [0, 0, 0]);
  });

  it('gives a steady series for steady traffic even with steps shorter than the report interval', () => {
    let now = 0;
    const agg = new TrafficAggregator({ nowMs: () => now }); // default spacing: 5 s between kept reports
    const c = new Counters();
    for (let t = 0; t <= 120; t += 10) {
      if (t > 0) c.add('inbound', 'x', '', 100, 3); // 10 rps, reported every 10 s (the SDK's default)
      agg.record(report('n', 'svc', c, 1));
      now += 10_000;
    }
    now -= 10_000;
    const points = agg.series('svc', { rangeMs: 60_000, stepMs: 5_000 });
    assert.equal(points.length, 13);
    for (const p of points) assert.ok(Math.abs(p.rps - 10) < 0.01, JSON.stringify(points.map((x) => x.rps)));
  });
});
