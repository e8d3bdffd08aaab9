// Benchmark: the cost of tracing and access logs on a meshed HTTP call (undici.request through mesh.dispatcher to a
// loopback server in its own process). Every row is paired, round by round, with a baseline measured in the same run:
// a MeshDispatcher built without telemetry (the telemetry code path compiled out). Phase 1 has no OpenTelemetry SDK
// registered (the state a user who does not trace is in); phase 2 registers a real SDK (BasicTracerProvider +
// BatchSpanProcessor with a discarding exporter, AsyncLocalStorage context manager, W3C propagators) and samples 1 %
// and 100 % by Telemetry resources. Usage: node --import tsx benchmarks/telemetry.ts [--concurrency 64] [--seconds 2] [--rounds 6]
import path from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { context, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { request, type Dispatcher } from 'undici';
import { MeshDispatcher } from '../dist/src/client/http/dispatcher.js';
import { createXdsClient } from '../dist/src/discovery/xds/ads-client.js';
import { NO_TELEMETRY } from '../dist/src/discovery/telemetry-policy.js';
import { observeAttempt } from '../dist/src/client/http/observe-handler.js';
import { traceHttpAttempt, traceHttpRoute } from '../dist/src/telemetry/http-client.js';
import { createMeshTelemetry } from '../dist/src/telemetry/mesh-telemetry.js';
import { createMesh, forkWithMessage, loadArgs, startBenchControlPlane } from './lib.js';
import { median, runLoad, type Call, type LoadResult } from './load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds } = loadArgs({ concurrency: 64, seconds: 2, rounds: 6 });
const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'backend.ts'));

const service = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 80, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
---
`;
const telemetry = (name: string, spec: string) => `apiVersion: weft.dev/v1alpha1
kind: Telemetry
metadata: { name: ${name} }
spec:
  targetRefs: [{ kind: Service, name: ${name} }]
${spec}---
`;
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'services.yaml': ['plain', 'logged', 'sampled1', 'sampled100'].map(service).join(''),
  'telemetry.yaml':
    telemetry('logged', '  accessLogging: [{}]\n') +
    telemetry('sampled1', '  tracing: [{ randomSamplingPercentage: 1 }]\n') +
    telemetry('sampled100', '  tracing: [{ randomSamplingPercentage: 100 }]\n'),
});
const targets = ['plain', 'logged', 'sampled1', 'sampled100'];
const discard = new Writable({ write: (_c, _e, cb) => cb() });
// Golden metrics off, so the rows measure tracing and access logs alone (benchmarks/telemetry-metrics.ts measures metrics).
const mesh = await createMesh({ service: 'bench', controlPlane: controlPlane.xdsUrl, dependsOn: targets, accessLog: { stream: discard }, metrics: { enabled: false } });
await mesh.ready();
// The baseline: the same dispatcher, built without telemetry (what the mesh was before this feature).
const xds = createXdsClient({ server: controlPlane.xdsUrl.replace('http://', ''), node: { id: 'bench-baseline', cluster: 'bench', locality: {} } });
const baseline = new MeshDispatcher({ discovery: xds });
await Promise.all(targets.map((t) => xds.resolve(t, 5000)));

const call = (dispatcher: Dispatcher, target: string): Call => async () => {
  const res = await request(`http://${target}/`, { dispatcher });
  await res.body.dump();
};
const base = call(baseline, 'plain');
const run = (c: Call, ms: number): Promise<LoadResult> => runLoad(c, concurrency, ms);

const rows: string[][] = [];
async function compare(name: string, c: Call): Promise<void> {
  await run(base, 500);
  await run(c, 500);
  const b: LoadResult[] = [];
  const m: LoadResult[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      b.push(await run(base, seconds * 1000));
      m.push(await run(c, seconds * 1000));
    } else {
      m.push(await run(c, seconds * 1000));
      b.push(await run(base, seconds * 1000));
    }
  }
  const ratios = b.map((x, i) => m[i]!.rps / x.rps);
  const cpu = (rs: LoadResult[]) => median(rs.map((r) => r.cpuUsPerReq));
  rows.push([
    name,
    median(m.map((r) => r.rps)).toFixed(0),
    median(b.map((r) => r.rps)).toFixed(0),
    `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
    cpu(m).toFixed(1),
    cpu(b).toFixed(1),
    String(m.reduce((n, r) => n + r.errors, 0)),
  ]);
}

// The hooks alone in a tight loop (robust on a busy machine): the route and attempt hooks around a no-op dispatch,
// with no TracerProvider registered and no access log, against the bare no-op.
function hookNs(): { route: number; attempt: number } {
  const t = createMeshTelemetry('bench');
  const noop = (_o: Dispatcher.DispatchOptions, _h: Dispatcher.DispatchHandler): boolean => true;
  const route = traceHttpRoute(t, 'a', 'r', NO_TELEMETRY, observeAttempt, noop);
  const attempt = traceHttpAttempt('c', { origin: 'http://127.0.0.1:1', address: '127.0.0.1', port: 1 }, undefined, observeAttempt, noop);
  const opts: Dispatcher.DispatchOptions = { method: 'GET', path: '/', headers: {} };
  const handler = {} as Dispatcher.DispatchHandler;
  const time = (fn: typeof noop): number => {
    const n = 5_000_000;
    let sink = 0;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) if (fn(opts, handler)) sink++;
    if (sink !== n) throw new Error('unreachable');
    return Number(process.hrtime.bigint() - t0) / n;
  };
  for (let i = 0; i < 3; i++) (time(noop), time(route), time(attempt));
  const base = Math.min(time(noop), time(noop), time(noop));
  return { route: Math.min(time(route), time(route), time(route)) - base, attempt: Math.min(time(attempt), time(attempt), time(attempt)) - base };
}
const hooks = hookNs();

// Phase 1: no SDK registered.
await compare('telemetry on, no SDK registered', call(mesh.dispatcher as Dispatcher, 'plain'));
await compare('access logs on (every call, discarding sink)', call(mesh.dispatcher as Dispatcher, 'logged'));
// Phase 2: a real SDK with a batch exporter (the baseline pays the context manager too, so the rows show Weft's part).
const exporter: SpanExporter = { export: (_s: ReadableSpan[], cb) => cb({ code: 0 }), shutdown: async () => {} };
const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter, { maxQueueSize: 65_536, scheduledDelayMillis: 200 })] });
trace.setGlobalTracerProvider(provider);
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
await compare('SDK + BatchSpanProcessor, 1 % sampled', call(mesh.dispatcher as Dispatcher, 'sampled1'));
await compare('SDK + BatchSpanProcessor, 100 % sampled', call(mesh.dispatcher as Dispatcher, 'sampled100'));

const header = ['case (meshed undici.request)', 'req/s', 'baseline req/s', 'ratio (round range)', 'client CPU µs/req', 'baseline µs/req', 'errors'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nTelemetry cost, ${concurrency} concurrent keep-alive requests, ${rounds} paired rounds of ${seconds} s against a mesh dispatcher without telemetry (medians), Node ${process.version}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));
console.log(`hooks alone, no TracerProvider: route hook ${hooks.route.toFixed(1)} ns/call, attempt hook ${hooks.attempt.toFixed(1)} ns/attempt (tight loop, min of 3 × 5M)`);
console.log(`access log lines written ${mesh.status().accessLog.written}, dropped ${mesh.status().accessLog.dropped}`);

await provider.shutdown();
await mesh.close();
await baseline.close();
xds.close();
await closeControlPlane();
backend.kill();
