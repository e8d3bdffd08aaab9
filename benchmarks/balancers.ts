// Benchmark: one slow endpoint among three loopback servers; p50/p99 latency and requests/s through the mesh with
// round robin, least request (P2C) and peak-EWMA at fixed concurrency. Rounds are paired (every policy runs in each
// round, in rotating order) so all see the same machine state; the table shows medians over rounds.
// Usage: node --import tsx benchmarks/balancers.ts [--concurrency 16] [--seconds 2] [--rounds 5] [--slow-ms 50] [--fast-ms 0] [--decay 10s]
// --fast-ms gives the two fast endpoints a service time of their own (a timer, no CPU), as real services have.
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { request } from 'undici';

const here = fileURLToPath(import.meta.url);
const { values: args } = parseArgs({
  options: {
    backend: { type: 'boolean', default: false },
    concurrency: { type: 'string', default: '16' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '5' },
    'slow-ms': { type: 'string', default: '50' },
    'fast-ms': { type: 'string', default: '0' },
    decay: { type: 'string', default: '10s' },
  },
});

if (args.backend) {
  // Child: three servers, the third answers after --slow-ms, the others after --fast-ms; sends their ports to the parent.
  const slowMs = Number(args['slow-ms']);
  const fastMs = Number(args['fast-ms']);
  const ports = await Promise.all(
    [fastMs, fastMs, slowMs].map(
      (delayMs) =>
        new Promise<number>((resolve) => {
          const server = createServer((_req, res) => {
            if (delayMs > 0) setTimeout(() => res.end('ok'), delayMs);
            else res.end('ok');
          });
          server.keepAliveTimeout = 30_000;
          server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
        }),
    ),
  );
  process.send!({ ports });
} else {
  await main();
}

async function main(): Promise<void> {
  const { startBenchControlPlane, createMesh } = await import('./lib.js');
  const concurrency = Number(args.concurrency);
  const seconds = Number(args.seconds);
  const rounds = Number(args.rounds);

  const backend = fork(here, ['--backend', '--slow-ms', String(args['slow-ms']), '--fast-ms', String(args['fast-ms'])], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const ports = await new Promise<number[]>((resolve) => backend.once('message', (m) => resolve((m as { ports: number[] }).ports)));

  const policies = [
    { name: 'round robin', service: 'pool-rr', lb: 'RoundRobin' },
    { name: 'least request', service: 'pool-lr', lb: 'LeastRequest' },
    { name: 'peak EWMA', service: 'pool-ewma', lb: 'PeakEWMA' },
  ];
  const endpoints = ports.map((p) => `{ address: 127.0.0.1, port: ${p} }`).join(', ');
  const yaml = policies
    .map(
      (p) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${p.service} }
spec:
  ports: [{ name: http, port: 80 }]
  endpoints: [${endpoints}]
---
apiVersion: weft.dev/v1alpha1
kind: DestinationPolicy
metadata: { name: ${p.service} }
spec:
  targetRef: { kind: Service, name: ${p.service} }
  loadBalancer: { type: ${p.lb}${p.lb === 'PeakEWMA' ? `, peakEWMA: { decay: ${args.decay} }` : ''} }
`,
    )
    .join('---\n');
  const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({ 'pools.yaml': yaml });
  const mesh = await createMesh({ service: 'bench', controlPlane: controlPlane.xdsUrl, dependsOn: policies.map((p) => p.service) });
  await mesh.ready();

  /** Runs `concurrency` loops for `seconds`; returns every latency (ms) and the count. */
  async function run(service: string): Promise<{ latencies: Float64Array; count: number }> {
    const latencies: number[] = [];
    const until = performance.now() + seconds * 1000;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (performance.now() < until) {
          const start = performance.now();
          const res = await request(`http://${service}/`, { dispatcher: mesh.dispatcher });
          await res.body.dump();
          latencies.push(performance.now() - start);
        }
      }),
    );
    return { latencies: Float64Array.from(latencies).sort(), count: latencies.length };
  }
  const q = (xs: Float64Array, p: number): number => xs[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

  for (const p of policies) await run(p.service); // warm-up: pools, JIT, latency estimates
  const results = new Map(policies.map((p) => [p.name, { p50: [] as number[], p99: [] as number[], rps: [] as number[] }]));
  for (let r = 0; r < rounds; r++) {
    const order = policies.map((_, i) => policies[(i + r) % policies.length]!);
    for (const p of order) {
      const { latencies, count } = await run(p.service);
      const row = results.get(p.name)!;
      row.p50.push(q(latencies, 0.5));
      row.p99.push(q(latencies, 0.99));
      row.rps.push(count / seconds);
    }
  }

  const rrP99 = median(results.get('round robin')!.p99);
  console.log(`\nOne endpoint ${args['slow-ms']} ms slow among three (the others ${args['fast-ms']} ms); concurrency ${concurrency}, EWMA decay ${args.decay}, ${rounds} paired rounds of ${seconds} s (medians)\n`);
  console.log('| balancer | p50 ms | p99 ms | requests/s | p99 vs round robin |');
  console.log('|---|---|---|---|---|');
  for (const p of policies) {
    const row = results.get(p.name)!;
    const p99 = median(row.p99);
    console.log(`| ${p.name} | ${median(row.p50).toFixed(2)} | ${p99.toFixed(2)} | ${median(row.rps).toFixed(0)} | ${(p99 / rrP99).toFixed(2)}× |`);
  }
  const ewmaP99 = median(results.get('peak EWMA')!.p99);
  console.log(`\nGoal: peak-EWMA p99 ≤ 0.5 × round-robin p99 → ${ewmaP99 <= 0.5 * rrP99 ? 'met' : 'NOT met'} (${(ewmaP99 / rrP99).toFixed(2)}×)`);

  await mesh.close();
  await closeControlPlane();
  backend.kill();
}
