// Benchmark: registry churn. A mesh of --services Services with --instances registered endpoints (real Register calls
// over gRPC) and --clients simulated xDS clients (benchmarks/xds-load); every second one Service is rescaled (new
// replicas registered, the old ones deregistered). Measures, per rescale, the time from the first Register to each
// subscribed client's ACK of the endpoints carrying it, and the control plane's CPU. Baseline: the same churn on a
// mesh of --baseline-services Services (2 instances each), in the same run.
// Usage: npm run build && node --import tsx benchmarks/xds-churn.ts [--services 1000] [--instances 2000] [--clients 2000]
//        [--seconds 20] [--baseline-services 100] [--workers 2] [--channels 16]
import { parseArgs } from 'node:util';
import { markerAddress, percentile, startLoad, type Load, type SimClientSpec } from './xds-load/harness.js';
import { startControlPlaneProcess, type ControlPlaneProcess } from './xds-load/control-plane-runner.js';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    instances: { type: 'string', default: '2000' },
    clients: { type: 'string', default: '2000' },
    seconds: { type: 'string', default: '20' },
    'baseline-services': { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    channels: { type: 'string', default: '16' },
  },
});
const clientCount = Number(args.clients);
const seconds = Number(args.seconds);
/** Leases outlive the run (the registry clamps TTLs to 5 min), so nothing expires by itself during it. */
const LEASE_TTL_MS = 300_000;
if (seconds > 240) throw new Error('--seconds must be at most 240: the registered leases last 5 minutes');

const serviceYaml = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec:\n  ports: [{ name: http, port: 80 }]\n`;

/** Client i is an instance of svc-(i mod S) calling two other Services. */
function specs(services: number): SimClientSpec[] {
  return Array.from({ length: clientCount }, (_, id) => {
    const a = (id * 7 + 1) % services;
    let b = (id * 13 + 5) % services;
    if (b === a) b = (b + 1) % services;
    return { id, service: `svc-${id % services}`, dependsOn: [`svc-${a}`, `svc-${b}`], port: 80 };
  });
}

async function inBatches<T>(items: readonly T[], size: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

interface Result {
  readonly services: number;
  readonly instances: number;
  readonly samplesMs: readonly number[];
  readonly perRescaleMs: readonly number[];
  readonly cpuShare: number;
  readonly idleCpuShare: number;
}

async function run(services: number, instances: number): Promise<Result> {
  const files = { 'services.yaml': Array.from({ length: services }, (_, i) => serviceYaml(`svc-${i}`)).join('---\n') };
  const cp: ControlPlaneProcess = await startControlPlaneProcess(files);
  const leases = new Map<number, string[]>(); // service index -> its live lease ids
  let load: Load | undefined;
  try {
    await inBatches(Array.from({ length: instances }, (_, k) => k), 100, async (k) => {
      const s = k % services;
      const id = await cp.register({ service: `svc-${s}`, address: `10.20.${k >> 8}.${k & 255}`, port: 8080 }, LEASE_TTL_MS);
      leases.set(s, [...(leases.get(s) ?? []), id]);
    });
    load = await startLoad({ address: cp.xdsAddress, specs: specs(services), workers: Number(args.workers), channelsPerWorker: Number(args.channels) });
    await load.waitReady(60_000 + clientCount * 30);
    const subscribers = new Map<number, number[]>();
    for (const spec of specs(services)) for (const d of spec.dependsOn) {
      const s = Number(d.slice('svc-'.length));
      subscribers.set(s, [...(subscribers.get(s) ?? []), spec.id]);
    }
    const quiet0 = await cp.stats();
    await new Promise((r) => setTimeout(r, 2000));
    const quiet1 = await cp.stats();
    const idleCpuShare = (quiet1.cpuUs - quiet0.cpuUs) / 1000 / 2000;
    const start = await cp.stats();
    const startMs = Date.now();
    const waits: Promise<number[]>[] = [];
    for (let r = 1; r <= seconds; r++) {
      const due = startMs + r * 1000;
      const s = (r * 37) % services;
      const t0 = Date.now();
      const replicas = 1 + (r % 3);
      const fresh = await Promise.all(Array.from({ length: replicas }, (_, j) => cp.register({ service: `svc-${s}`, address: markerAddress(r), port: 9000 + j }, LEASE_TTL_MS)));
      for (const old of leases.get(s) ?? []) await cp.deregister(old);
      leases.set(s, fresh);
      const ids = subscribers.get(s) ?? [];
      waits.push(ids.length === 0 ? Promise.resolve([]) : load!.waitConverged(r, 30_000, ids).then((acked) => [...acked.values()].map((at) => at - t0)));
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
    }
    const perRound = await Promise.all(waits);
    const end = await cp.stats();
    const wallMs = Date.now() - startMs;
    const counters = await load.counters();
    if (counters.nacks > 0) throw new Error(`${counters.nacks} responses were NACKed`);
    return {
      services,
      instances,
      samplesMs: perRound.flat().sort((a, b) => a - b),
      perRescaleMs: perRound.filter((t) => t.length > 0).map((t) => Math.max(...t)).sort((a, b) => a - b),
      cpuShare: (end.cpuUs - start.cpuUs) / 1000 / wallMs,
      idleCpuShare,
    };
  } finally {
    await load?.close();
    await cp.close();
  }
}

const baseServices = Number(args['baseline-services']);
const base = await run(baseServices, baseServices * 2);
const big = await run(Number(args.services), Number(args.instances));
const rows: [string, (r: Result) => number, (v: number) => string][] = [
  ['subscribed client ACKs measured', (r) => r.samplesMs.length, String],
  ['rescale → subscribed client ACK, p50 (ms)', (r) => percentile(r.samplesMs, 0.5), String],
  ['rescale → subscribed client ACK, p99 (ms)', (r) => percentile(r.samplesMs, 0.99), String],
  ['rescale → last subscribed client ACK, p99 (ms)', (r) => percentile(r.perRescaleMs, 0.99), String],
  ['control plane CPU under churn (% of a core)', (r) => r.cpuShare * 100, (v) => v.toFixed(1)],
  ['control plane CPU before churn, idle (% of a core)', (r) => r.idleCpuShare * 100, (v) => v.toFixed(1)],
];
console.log(`\nxDS registry churn: one Service rescaled every second for ${seconds} s, ${clientCount} simulated clients (each an instance calling 2 Services), Node ${process.version}`);
console.log(`| measure | ${base.services} svc / ${base.instances} inst | ${big.services} svc / ${big.instances} inst | ratio |`);
console.log('| --- | --- | --- | --- |');
for (const [label, f, fmt] of rows) {
  const a = f(base);
  const b = f(big);
  console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${a === 0 ? '-' : `${(b / a).toFixed(2)}x`} |`);
}
