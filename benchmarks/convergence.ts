// Benchmark: time from `weft apply` of a routing edit to every one of N running SDK clients using the new route.
// N meshes run in P processes (each mesh has its own ADS stream); the control plane runs in this process.
// Usage: node --import tsx benchmarks/convergence.ts [--clients 100] [--processes 4] [--edits 10]
import { spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startBenchControlPlane } from './lib.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '100' },
    processes: { type: 'string', default: '4' },
    edits: { type: 'string', default: '10' },
  },
});
const clients = Number(args.clients);
const processes = Number(args.processes);
const edits = Number(args.edits);

const service = (name: string, port: number) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 80 }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
`;
const route = (backend: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: conv-route }
spec:
  parentRefs: [{ kind: Service, name: conv }]
  rules:
    - backendRefs: [{ name: ${backend}, port: 80 }]
`;

const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'services.yaml': [service('conv', 9), service('conv-a', 10), service('conv-b', 11)].join('---\n'),
  'route.yaml': route('conv-a'),
});

const changes = new Map<number, number>(); // client id -> atMs of the latest change
let ready = 0;
const perProcess = Math.ceil(clients / processes);
const children = Array.from({ length: processes }, (_, p) => {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(here, 'convergence-client.ts')], {
    env: { ...process.env, WEFT_CONTROL_PLANE: controlPlane.xdsUrl, MESHES: String(Math.min(perProcess, clients - p * perProcess)), BASE: String(p * perProcess) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const msg = JSON.parse(line) as { type: string; id: number; atMs?: number };
    if (msg.type === 'ready') ready++;
    if (msg.type === 'changed') changes.set(msg.id, msg.atMs!);
  });
  return child;
});

async function until(pred: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

await until(() => ready === clients, 120_000, `${clients} clients to be ready`);
const samples: number[] = [];
const perEdit: number[] = [];
for (let e = 0; e < edits; e++) {
  changes.clear();
  const backend = e % 2 === 0 ? 'conv-b' : 'conv-a';
  const t0 = Date.now();
  const res = await fetch(`${controlPlane.adminUrl}/v1/apply`, { method: 'POST', body: route(backend), headers: { authorization: `Bearer ${controlPlane.adminToken}` } });
  if (res.status !== 200) throw new Error(`apply failed: ${await res.text()}`);
  await until(() => changes.size === clients, 10_000, `all clients to see edit ${e}`);
  const times = [...changes.values()].map((t) => t - t0);
  samples.push(...times);
  perEdit.push(Math.max(...times));
  await new Promise((r) => setTimeout(r, 200));
}

samples.sort((a, b) => a - b);
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!;
console.log(`\nEdit-to-converged: ${clients} SDK clients in ${processes} processes, ${edits} edits, Node ${process.version}`);
console.log('| measure | p50 ms | p99 ms | max ms |');
console.log('| --- | --- | --- | --- |');
console.log(`| per client (apply → client routes by new rule) | ${pct(samples, 0.5)} | ${pct(samples, 0.99)} | ${samples[samples.length - 1]} |`);
console.log(`| per edit (apply → last client converged) | ${pct(perEdit, 0.5)} | ${pct(perEdit, 0.99)} | ${Math.max(...perEdit)} |`);

for (const child of children) child.kill('SIGTERM');
await Promise.all(children.map((c) => new Promise((r) => c.once('exit', r))));
await closeControlPlane();
