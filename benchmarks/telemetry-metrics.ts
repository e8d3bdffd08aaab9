// Benchmark: what golden metrics cost per call. The same meshed call with metrics off (`metrics: { enabled: false }`),
// on (the built-in store alone, no OpenTelemetry SDK), and on with an OpenTelemetry SDK MeterProvider (periodic
// reader + in-memory exporter), for the HTTP client, the gRPC client and the HTTP server; rounds alternate the order.
// Prints req/s, p50/p99, CPU µs per call (the client's, or for the server case the server process's) and each
// variant's req/s ratio to `off` (median of per-round ratios, with their range).
// First, the hooks alone in a tight loop (CPU ns per call, no network: robust on a busy machine): the HTTP client's
// per-call handler wrapper and record, and the same with an OpenTelemetry SDK MeterProvider attached.
// Usage: node --import tsx benchmarks/telemetry-metrics.ts [--concurrency 32] [--seconds 2] [--rounds 6]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildProcess } from 'node:child_process';
import { Agent, request, type Dispatcher } from 'undici';
import { MeterProvider, PeriodicExportingMetricReader, InMemoryMetricExporter, AggregationTemporality } from '@opentelemetry/sdk-metrics';
import { createMesh, EchoClient, forkWithMessage, loadArgs, say, startBenchControlPlane, type EchoClientInstance, type Mesh } from './lib.js';
import { median, runLoad, type Call, type LoadResult as Result } from './load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds } = loadArgs({ concurrency: 32, seconds: 2, rounds: 6 });

// --- The hooks alone: a synthetic dispatch that answers 200 at once, through clientMetricsDispatch or not.
{
  const { MeshMetrics } = await import('../dist/src/telemetry/mesh-metrics.js');
  const { clientMetricsDispatch } = await import('../dist/src/telemetry/http-client-metrics.js');
  const { attachOpenTelemetry } = await import('../dist/src/telemetry/otel-bridge.js');
  type Fn = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;
  const controller = { abort() {}, pause() {}, resume() {}, aborted: false, paused: false, reason: null } as unknown as Dispatcher.DispatchController;
  const base: Fn = (_opts, h) => {
    h.onRequestStart?.(controller, {});
    h.onResponseStart?.(controller, 200, {}, 'OK');
    h.onResponseEnd?.(controller, {});
    return true;
  };
  const sink: Dispatcher.DispatchHandler = { onRequestStart() {}, onResponseStart() {}, onResponseData() {}, onResponseEnd() {}, onResponseError() {} };
  const opts = { origin: 'http://api', path: '/', method: 'GET' } as Dispatcher.DispatchOptions;
  const plain = new MeshMetrics({ service: 'bench' });
  const withOtel = new MeshMetrics({ service: 'bench' });
  const otelProvider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 60_000 })] });
  attachOpenTelemetry(withOtel, otelProvider);
  const variants: [string, Fn][] = [
    ['dispatch, no metrics', base],
    ['dispatch + metrics', clientMetricsDispatch(plain.outboundSeries('http', 'api', 'r', undefined), base)],
    ['dispatch + metrics + OTel SDK', clientMetricsDispatch(withOtel.outboundSeries('http', 'api', 'r', undefined), base)],
  ];
  const N = 2_000_000;
  const nsPerCall = (fn: Fn): number => {
    const c0 = process.cpuUsage();
    for (let i = 0; i < N; i++) fn(opts, sink);
    const c = process.cpuUsage(c0);
    return ((c.user + c.system) * 1000) / N;
  };
  for (const [, fn] of variants) nsPerCall(fn); // warm up
  const ns = variants.map(([name, fn]) => [name, median([0, 1, 2, 3, 4].map(() => nsPerCall(fn)))] as const);
  console.log(`\nMetrics hooks alone (HTTP client wrapper + record), CPU ns per call, median of 5 × ${N} calls, Node ${process.version}`);
  for (const [name, v] of ns) console.log(`| ${name.padEnd(30)} | ${v.toFixed(0).padStart(5)} ns | +${(v - ns[0]![1]).toFixed(0)} ns |`);
  await otelProvider.shutdown();
}

const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'backend.ts'));
const { child: grpcBackend, message: { port: grpcPort } } = await forkWithMessage<{ port: number }>(path.join(here, 'grpc-backend.ts'));
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'services.yaml': `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: backend }
spec:
  ports: [{ name: http, port: 80, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: echo }
spec:
  ports: [{ name: grpc, port: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${grpcPort} }]
---
${['off', 'on', 'otel'].map((v) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: srv-${v} }\nspec:\n  ports: [{ name: http, port: 80, protocol: HTTP }]\n`).join('---\n')}`,
});
const { child: servers, message: { ports: serverPorts } } = await forkWithMessage<{ ports: Record<Variant, number> }>(path.join(here, 'metrics-server.ts'), [controlPlane.xdsUrl]);

type Variant = 'off' | 'on' | 'otel';
const VARIANTS: readonly Variant[] = ['off', 'on', 'otel'];
const provider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 1_000 })],
});
const meshes = {} as Record<Variant, Mesh>;
const grpcClients = {} as Record<Variant, EchoClientInstance>;
for (const v of VARIANTS) {
  const metrics = v === 'off' ? { enabled: false } : v === 'otel' ? { meterProvider: provider } : {};
  meshes[v] = await createMesh({ service: `bench-${v}`, controlPlane: controlPlane.xdsUrl, dependsOn: ['backend', 'echo'], metrics });
  await meshes[v].ready();
  grpcClients[v] = meshes[v].grpc.client(EchoClient, 'echo');
}
const rawAgent = new Agent({ keepAliveTimeout: 10_000, connections: concurrency });

const serverCpuUs = (child: ChildProcess): Promise<number> =>
  new Promise((resolve) => {
    child.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs));
    child.send('cpu');
  });

interface Case {
  readonly name: string;
  readonly call: (v: Variant) => Call;
  /** The process whose CPU is the cost (the server's for the server case); undefined = this one (runLoad measures it). */
  readonly cpuOf?: ChildProcess;
}
const cases: Case[] = [
  {
    name: 'HTTP client',
    call: (v) => async () => {
      const res = await request('http://backend/', { dispatcher: meshes[v].dispatcher as Dispatcher });
      await res.body.dump();
    },
  },
  { name: 'gRPC client', call: (v) => async () => void (await say(grpcClients[v], { text: 'hi' })) },
  {
    name: 'HTTP server',
    call: (v) => async () => {
      const res = await request(`http://127.0.0.1:${serverPorts[v]}/`, { dispatcher: rawAgent });
      await res.body.dump();
    },
    cpuOf: servers,
  },
];

const measure = async (c: Case, v: Variant, ms: number): Promise<Result> => {
  const before = c.cpuOf ? await serverCpuUs(c.cpuOf) : 0;
  const r = await runLoad(c.call(v), concurrency, ms);
  if (!c.cpuOf) return r;
  const used = (await serverCpuUs(c.cpuOf)) - before;
  return { ...r, cpuUsPerReq: used / Math.max(1, r.rps * (ms / 1000)) };
};

const rowsOut: string[][] = [];
for (const c of cases) {
  for (const v of VARIANTS) await measure(c, v, 500); // warm up (connections, JIT)
  const results: Record<Variant, Result[]> = { off: [], on: [], otel: [] };
  for (let i = 0; i < rounds; i++) {
    const order = VARIANTS.map((_, k) => VARIANTS[(k + i) % VARIANTS.length]!);
    for (const v of order) results[v].push(await measure(c, v, seconds * 1000));
  }
  for (const v of VARIANTS) {
    const rs = results[v];
    const ratios = rs.map((r, i) => r.rps / results.off[i]!.rps);
    rowsOut.push([
      `${c.name}, metrics ${v === 'otel' ? 'on + OTel SDK' : v}`,
      median(rs.map((r) => r.rps)).toFixed(0),
      median(rs.map((r) => r.p50Ms)).toFixed(2),
      median(rs.map((r) => r.p99Ms)).toFixed(2),
      median(rs.map((r) => r.cpuUsPerReq)).toFixed(1),
      String(rs.reduce((n, r) => n + r.errors, 0)),
      v === 'off' ? '' : `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    ]);
  }
}

const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/call', 'errors', 'req/s vs off (round range)'];
const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nGolden metrics cost, ${concurrency} concurrent calls, ${rounds} rotated rounds of ${seconds} s (medians), Node ${process.version}`);
console.log('CPU µs/call: the client process for client cases, the server process for the server case.');
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rowsOut) console.log(line(row));

for (const v of VARIANTS) {
  grpcClients[v].close();
  await meshes[v].close();
}
await provider.shutdown();
await rawAgent.close();
await closeControlPlane();
servers.kill();
backend.kill();
grpcBackend.kill();
