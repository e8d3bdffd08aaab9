// Benchmark: the retry layer's cost on the happy path. The same loopback backend is called as `plain` (no retry
// policy: only the safe default, which retries calls that never reached a server) and as `retried` (an HTTPRoute with
// retry codes/attempts/backoff and a request timeout, so every call carries x-weft-attempt and x-weft-timeout-ms),
// next to a raw undici Agent. Rounds are paired and alternate their order.
// Usage: node --import tsx benchmarks/retry-overhead.ts [--concurrency 64] [--seconds 2] [--rounds 10]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request, type Dispatcher } from 'undici';
import { forkWithMessage, startBenchControlPlane, loadArgs } from './lib.js';
import { median, runLoad, type Call, type LoadResult as Result } from './load.js';
import { createMesh } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds } = loadArgs({ concurrency: 64, seconds: 2, rounds: 10 });

const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'backend.ts'));

const service = (name: string) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 80, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
---
`;
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'mesh.yaml': `${service('plain')}${service('retried')}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: retried }
spec:
  parentRefs: [{ kind: Service, name: retried }]
  rules:
  - backendRefs: [{ name: retried }]
    retry: { codes: [502, 503, 504], attempts: 2, backoff: 25ms }
    timeouts: { request: 5s, backendRequest: 2s }
`,
});
const mesh = await createMesh({ service: 'bench', controlPlane: controlPlane.xdsUrl, dependsOn: ['plain', 'retried'] });
await mesh.ready();
const rawAgent = new Agent({ keepAliveTimeout: 10_000 });

const call =
  (url: string, dispatcher: Dispatcher): Call =>
  async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
  };
const cases: { name: string; call: Call }[] = [
  { name: 'raw undici (Agent)', call: call(`http://127.0.0.1:${port}/`, rawAgent) },
  { name: 'mesh, no retry policy (safe default)', call: call('http://plain/', mesh.dispatcher as Dispatcher) },
  { name: 'mesh, retry policy + timeouts', call: call('http://retried/', mesh.dispatcher as Dispatcher) },
];

const run = (call: Call, durationMs: number): Promise<Result> => runLoad(call, concurrency, durationMs);
for (const c of cases) await run(c.call, 500); // warm up every path
const results: Result[][] = cases.map(() => []);
for (let i = 0; i < rounds; i++) {
  // Rotate the order each round so machine drift favours no case.
  for (let k = 0; k < cases.length; k++) {
    const idx = (k + i) % cases.length;
    results[idx]!.push(await run(cases[idx]!.call, seconds * 1000));
  }
}
const plainIdx = 1;
const rows = cases.map((c, idx) => {
  const rs = results[idx]!;
  const ratios = rs.map((r, i) => r.rps / results[plainIdx]![i]!.rps);
  return [
    c.name,
    median(rs.map((r) => r.rps)).toFixed(0),
    median(rs.map((r) => r.p50Ms)).toFixed(2),
    median(rs.map((r) => r.p99Ms)).toFixed(2),
    median(rs.map((r) => r.cpuUsPerReq)).toFixed(1),
    String(rs.reduce((n, r) => n + r.errors, 0)),
    idx === plainIdx ? '1' : `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
  ];
});
const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'client CPU µs/req', 'errors', 'req/s vs no policy (round range)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nRetry layer on the happy path: ${concurrency} concurrent keep-alive undici.request calls, ${rounds} rounds of ${seconds} s (medians; ratio = median of per-round ratios), Node ${process.version}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rows) console.log(line(row));

await mesh.close();
await rawAgent.close();
await closeControlPlane();
backend.kill();
