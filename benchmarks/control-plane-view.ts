// Micro-benchmark of the control plane's view of traffic: what one report costs to record, what `weft stat` (stats())
// and a dashboard chart (series()) cost to answer, and the memory held, for a mesh of many processes reporting every
// 10 s for the whole 15-minute retention. In-process, no sockets.
// Usage: node --import tsx benchmarks/control-plane-view.ts [--instances 200] [--rows 20]
import { parseArgs } from 'node:util';
import { TrafficAggregator } from '../control-plane/src/telemetry/traffic-aggregator.js';
import type { TrafficReport } from '../control-plane/src/telemetry/traffic-views.js';
import { LATENCY_BUCKETS_MS, MAX_TRAFFIC_ROWS, type RouteTraffic } from '../src/telemetry/traffic-summary.js';

const { values: args } = parseArgs({ options: { instances: { type: 'string', default: '200' }, rows: { type: 'string', default: '20' } } });
const instances = Number(args.instances);
const rowsPer = Math.min(MAX_TRAFFIC_ROWS, Number(args.rows));
const services = Math.max(1, Math.round(instances / 4));

let now = 0;
const agg = new TrafficAggregator({ nowMs: () => now });
const counters = Array.from({ length: instances }, (_, i) =>
  Array.from({ length: rowsPer }, (_, r): RouteTraffic => ({
    direction: r % 2 === 0 ? 'inbound' : 'outbound',
    protocol: 'http',
    peer: `svc-${(i + r) % services}`,
    route: `route-${r}`,
    requests: 0,
    failures: 0,
    retries: 0,
    latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
  })),
);
const reportOf = (i: number): TrafficReport => ({
  nodeId: `node-${i}`,
  service: `svc-${i % services}`,
  instance: `10.0.0.${i % 250}:8080`,
  startedAtMs: 1,
  certificateExpiresAtMs: 0,
  sdkVersion: 'weft/bench',
  identity: '',
  traffic: counters[i]!.map((row, r) => {
    const n = 10 + ((i + r) % 7);
    const latency = [...row.latency];
    latency[(i + r) % latency.length]! += n;
    const next = { ...row, requests: row.requests + n, failures: row.failures + (r % 5 === 0 ? 1 : 0), latency };
    counters[i]![r] = next;
    return next;
  }),
});

const heapBefore = process.memoryUsage().heapUsed;
let recordNs = 0n;
let records = 0;
for (let t = 0; t <= 15 * 60; t += 10) {
  now = t * 1000;
  for (let i = 0; i < instances; i++) {
    const report = reportOf(i);
    const start = process.hrtime.bigint();
    agg.record(report);
    recordNs += process.hrtime.bigint() - start;
    records++;
  }
}
global.gc?.();
const heapAfter = process.memoryUsage().heapUsed;

const time = (fn: () => unknown, n: number) => {
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  return Number(process.hrtime.bigint() - start) / 1e6 / n;
};
const statsMs = time(() => agg.stats({ windowMs: 60_000 }), 20);
const statsOneMs = time(() => agg.stats({ windowMs: 60_000, service: 'svc-1' }), 20);
const seriesMs = time(() => agg.series('svc-1', { rangeMs: 5 * 60_000, stepMs: 5_000 }), 20);
const size = agg.size();
console.log(`control plane view: ${instances} processes x ${rowsPer} rows, a report every 10 s for 15 min (${records} reports)`);
console.log(`| what | figure |\n|---|---|`);
console.log(`| record one report | ${(Number(recordNs) / 1e3 / records).toFixed(1)} µs |`);
console.log(`| stats(), whole mesh, 1 m window (weft stat) | ${statsMs.toFixed(1)} ms |`);
console.log(`| stats() of one service | ${statsOneMs.toFixed(1)} ms |`);
console.log(`| series(), 5 min in 5 s steps (dashboard chart) | ${seriesMs.toFixed(1)} ms |`);
console.log(`| samples held | ${size.samples} (${(size.samples / size.instances).toFixed(0)} per process) |`);
console.log(`| heap held${global.gc ? '' : ' (run with --expose-gc for a cleaner figure)'} | ${((heapAfter - heapBefore) / 1024 / 1024).toFixed(1)} MiB |`);
