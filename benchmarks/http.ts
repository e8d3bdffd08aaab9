// Benchmark: a meshed HTTP call against a raw undici call to the same loopback server, same concurrency.
// Prints requests/s, p50/p99 latency, client CPU per request and the meshed/raw ratio; rounds alternate so
// both sides see the same machine state. Usage: node --import tsx benchmarks/http.ts [--concurrency 64] [--seconds 2] [--rounds 10]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, fetch, request, type Dispatcher } from 'undici';
import { forkWithMessage, startBenchControlPlane, loadArgs } from './lib.js';
import { median, runLoad, type Call, type LoadResult as Result } from './load.js';
import { createMesh } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds } = loadArgs({ concurrency: 64, seconds: 2, rounds: 10 });

// The backend runs in its own process so the client's CPU figures are the client's alone.
const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'backend.ts'));

const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'backend.yaml': `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: backend }
spec:
  ports: [{ name: http, port: 80, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
`,
});
const mesh = await createMesh({
  service: 'bench',
  controlPlane: controlPlane.xdsUrl,
  dependsOn: ['backend'],
});
await mesh.ready();

const rawAgent = new Agent({ keepAliveTimeout: 10_000 });
const rawUrl = `http://127.0.0.1:${port}/`;
const meshUrl = 'http://backend/';

const cases: { name: string; raw: Call; meshed: Call }[] = [
  {
    name: 'undici.request',
    raw: async () => {
      const res = await request(rawUrl, { dispatcher: rawAgent });
      await res.body.dump();
    },
    meshed: async () => {
      const res = await request(meshUrl, { dispatcher: mesh.dispatcher as Dispatcher });
      await res.body.dump();
    },
  },
  {
    name: 'fetch',
    raw: async () => {
      const res = await fetch(rawUrl, { dispatcher: rawAgent });
      await res.arrayBuffer();
    },
    meshed: async () => {
      const res = await mesh.fetch(meshUrl);
      await res.arrayBuffer();
    },
  },
];

const run = (call: Call, durationMs: number): Promise<Result> => runLoad(call, concurrency, durationMs);
const rowsOut: string[][] = [];
for (const c of cases) {
  await run(c.raw, 500); // warm up both paths (connections, JIT)
  await run(c.meshed, 500);
  const raw: Result[] = [];
  const meshed: Result[] = [];
  for (let i = 0; i < rounds; i++) {
    // Alternate which side goes first, so slow drift of the machine does not favour either.
    if (i % 2 === 0) {
      raw.push(await run(c.raw, seconds * 1000));
      meshed.push(await run(c.meshed, seconds * 1000));
    } else {
      meshed.push(await run(c.meshed, seconds * 1000));
      raw.push(await run(c.raw, seconds * 1000));
    }
  }
  const summarize = (rs: Result[]) => ({
    rps: median(rs.map((r) => r.rps)),
    p50Ms: median(rs.map((r) => r.p50Ms)),
    p99Ms: median(rs.map((r) => r.p99Ms)),
    cpu: median(rs.map((r) => r.cpuUsPerReq)),
    errors: rs.reduce((n, r) => n + r.errors, 0),
  });
  const r = summarize(raw);
  const m = summarize(meshed);
  // Each round's meshed/raw ratio, measured back to back: the spread says how much to trust the median.
  const ratios = raw.map((x, i) => meshed[i]!.rps / x.rps);
  rowsOut.push([`${c.name} raw`, r.rps.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2), r.cpu.toFixed(1), String(r.errors), '']);
  rowsOut.push([
    `${c.name} meshed`,
    m.rps.toFixed(0),
    m.p50Ms.toFixed(2),
    m.p99Ms.toFixed(2),
    m.cpu.toFixed(1),
    String(m.errors),
    `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
  ]);
}

const header = ['case', 'req/s', 'p50 ms', 'p99 ms', 'client CPU µs/req', 'errors', 'meshed/raw req/s (round range)'];
const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nHTTP, ${concurrency} concurrent keep-alive requests, ${rounds} paired rounds of ${seconds} s (medians; ratio = median of per-round ratios), Node ${process.version}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rowsOut) console.log(line(row));

await mesh.close();
await rawAgent.close();
await closeControlPlane();
backend.kill();
