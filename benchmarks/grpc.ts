// Benchmark: unary gRPC calls through a Weft meshed grpc-js client against a plain grpc-js client and an unmodified
// grpc-js-xds client, all three on the same route to the same backend, in one run. Prints calls/s, p50/p99 latency,
// client CPU per call and the Weft/plain and Weft/grpc-js-xds ratios (median of per-round ratios, with their range).
// Usage: node --import tsx benchmarks/grpc.ts [--concurrency 32] [--seconds 2] [--rounds 6] [--cpu-prof weft[,plain,xds]]
// (--cpu-prof writes a V8 CPU profile of each named client's process to <tmpdir>/weft-grpc-profiles; its figures are then not comparable.)
//
// Process layout: the control plane runs here; the echo backend (a plain grpc-js server, identical for all three
// clients) runs in its own process; and each client kind runs in its OWN child process, forked with the same execArgv
// and the same environment. This process only coordinates: it runs one client at a time, rotating the order every
// round (paired rounds), so each ratio compares runs made back to back on the same machine state. One process for all
// three would skew the figures: grpc-js-xds registers process-wide resolvers and LB policies, keeps an XdsClient and
// ~20 MB of protos on the heap (GC work that the other clients would pay for), grpc-js's global subchannel pool could
// let two clients share one HTTP/2 connection, and process.cpuUsage() could not tell whose CPU a call used.
import { fork, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { forkWithMessage, startBenchControlPlane, loadArgs } from './lib.js';
import type { ClientCommand } from './grpc-client.js';
import { median, type LoadResult as Result } from './load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds, extra: args } = loadArgs({ concurrency: 32, seconds: 2, rounds: 6 }, { 'cpu-prof': undefined });
const EXEC_ARGV = ['--import', 'tsx'];
const PROFILE_DIR = path.join(tmpdir(), 'weft-grpc-profiles');

const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'grpc-backend.ts'));

// Service `echo` with the backend as its static endpoint, and one GRPCRoute for the echo service that all three
// clients follow (Weft and grpc-js-xds read it from the control plane; plain grpc-js dials the same endpoint).
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'echo.yaml': `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: echo }
spec:
  ports: [{ name: grpc, port: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${port} }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: { name: echo }
spec:
  parentRefs: [{ kind: Service, name: echo }]
  rules:
    - matches: [{ method: { service: weft.test.Echo } }]
      backendRefs: [{ name: echo, port: 50051 }]
`,
});

// The same environment for every client process (each kind reads only what it needs); node.locality {} is required
// by grpc-js-xds.
const bootstrap = {
  xds_servers: [{ server_uri: controlPlane.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
  node: { id: `bench-grpc-xds-${process.pid}`, cluster: 'bench', locality: {} },
};
const env = {
  ...process.env,
  BACKEND_PORT: String(port),
  WEFT_CONTROL_PLANE: controlPlane.xdsUrl,
  GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap),
};

const KINDS = [
  { kind: 'plain', label: 'plain grpc-js (`127.0.0.1:port`)' },
  { kind: 'weft', label: 'Weft `mesh.grpc.client` (`weft:///echo`)' },
  { kind: 'xds', label: 'grpc-js-xds (`xds:///echo`)' },
] as const;
type Kind = (typeof KINDS)[number]['kind'];

interface ClientProcess {
  readonly child: ChildProcess;
  run(durationMs: number): Promise<Result>;
}

async function startClient(kind: Kind): Promise<ClientProcess> {
  const execArgv = args['cpu-prof']?.split(',').includes(kind) ? [...EXEC_ARGV, '--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : EXEC_ARGV;
  const child = fork(path.join(here, 'grpc-client.ts'), [], { execArgv, env: { ...env, CLIENT_KIND: kind }, stdio: 'inherit' });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} client did not get ready within 60 s`)), 60_000);
    child.once('exit', (code) => reject(new Error(`${kind} client exited (${code}) before it was ready`)));
    child.once('message', () => {
      clearTimeout(timer);
      resolve();
    });
  });
  return {
    child,
    run(durationMs) {
      const command: ClientCommand = { type: 'run', durationMs, concurrency };
      child.send(command);
      return new Promise((resolve) => child.once('message', (m) => resolve((m as { result: Result }).result)));
    },
  };
}

// Started one after another so their start-up (proto loading, xDS resolution) does not overlap.
const clients = new Map<Kind, ClientProcess>();
for (const { kind } of KINDS) clients.set(kind, await startClient(kind));
const warmUps = new Map<Kind, Result>();
for (const { kind } of KINDS) warmUps.set(kind, await clients.get(kind)!.run(1_000)); // warm up: connections, JIT

const results = new Map<Kind, Result[]>(KINDS.map(({ kind }) => [kind, []]));
for (let i = 0; i < rounds; i++) {
  // Rotate the order each round so slow drift of the machine favours no client.
  for (let j = 0; j < KINDS.length; j++) {
    const { kind } = KINDS[(i + j) % KINDS.length]!;
    results.get(kind)!.push(await clients.get(kind)!.run(seconds * 1000));
  }
}

const weft = results.get('weft')!;
// Each round's Weft/other ratio, measured in the same round: the spread says how much to trust the median.
const ratiosOf = (rs: Result[], of: (r: Result) => number): number[] => rs.map((r, i) => of(weft[i]!) / of(r));
const ratioCell = (rs: Result[], of: (r: Result) => number): string => {
  const ratios = ratiosOf(rs, of);
  return `${median(ratios).toFixed(2)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
};
const rowsOut = KINDS.map(({ kind, label }) => {
  const rs = results.get(kind)!;
  const other = kind !== 'weft';
  return [
    label,
    median(rs.map((r) => r.rps)).toFixed(0),
    median(rs.map((r) => r.p50Ms)).toFixed(2),
    median(rs.map((r) => r.p99Ms)).toFixed(2),
    median(rs.map((r) => r.cpuUsPerReq)).toFixed(1),
    String(rs.reduce((n, r) => n + r.errors, 0)),
    other ? ratioCell(rs, (r) => r.rps) : '',
    other ? ratioCell(rs, (r) => r.p99Ms) : '',
  ];
});

const header = ['client', 'calls/s', 'p50 ms', 'p99 ms', 'client CPU µs/call', 'errors', 'Weft/this calls/s (round range)', 'Weft/this p99 (< 1: Weft lower)'];
const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((row) => row[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
console.log(
  `\ngRPC unary, ${concurrency} concurrent calls, ${rounds} rounds of ${seconds} s per client (each client in its own process, order rotated per round; medians; ratio = median of per-round ratios), Node ${process.version}`,
);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const row of rowsOut) console.log(line(row));
// The goals, on calls/s: Weft ≥ 0.95× plain grpc-js and ≥ 1.1× grpc-js-xds.
const goal = (kind: Kind, min: number, name: string): string => {
  const ratio = median(ratiosOf(results.get(kind)!, (r) => r.rps));
  return `Weft/${name} ${ratio.toFixed(2)} (goal ≥ ${min}: ${ratio >= min ? 'met' : 'not met'})`;
};
console.log(`\n${goal('plain', 0.95, 'plain')}; ${goal('xds', 1.1, 'grpc-js-xds')}`);

for (const c of clients.values()) {
  const exited = new Promise((resolve) => c.child.once('exit', resolve));
  c.child.send({ type: 'close' } satisfies ClientCommand);
  await exited;
}
await closeControlPlane();
backend.kill();
if (args['cpu-prof'] !== undefined) {
  // To turn profile time into time per call: about how many calls each process made after its start-up.
  const calls = KINDS.map(({ kind }) => `${kind} ${Math.round(warmUps.get(kind)!.rps + results.get(kind)!.reduce((n, r) => n + r.rps * seconds, 0))}`);
  console.log(`\nCPU profiles (${args['cpu-prof']}): ${PROFILE_DIR}; successful calls after start-up: ${calls.join(', ')}`);
}
