// Benchmark: N simulated xDS clients (benchmarks/xds-load) against one control plane in its own process. Per routing
// edit: time from `weft apply` to each client's ACK of the version carrying it; control-plane memory per client and
// CPU per edit; bytes pushed per edit. Baseline: the same with --baseline clients, measured in the same run.
// A second table compares the same --clients on delta xDS (bytes from the server's counters); --no-delta skips it.
// Usage: npm run build && node --import tsx benchmarks/xds-scale.ts [--clients 2000] [--baseline 100] [--edits 10]
//        [--services 100] [--workers 2] [--channels 16] [--cpu-prof dir]   (the issue's figure: --clients 10000)
import { parseArgs } from 'node:util';
import { percentile, startLoad } from './xds-load/harness.js';
import { editScenario } from './xds-load/scenario.js';
import { startControlPlaneProcess, type ControlPlaneStats } from './xds-load/control-plane-runner.js';

const { values: args } = parseArgs({
  options: {
    clients: { type: 'string', default: '2000' },
    baseline: { type: 'string', default: '100' },
    edits: { type: 'string', default: '10' },
    services: { type: 'string', default: '100' },
    workers: { type: 'string', default: '2' },
    channels: { type: 'string', default: '16' },
    'cpu-prof': { type: 'string' },
    // Spelled out: Node 20's parseArgs has no `--no-<flag>` negation.
    'no-delta': { type: 'boolean', default: false },
  },
});
const edits = Number(args.edits);
const serviceCount = Number(args.services);

const scenario = editScenario(serviceCount);

interface Result {
  readonly clients: number;
  readonly perClientMs: readonly number[];
  readonly perEditMs: readonly number[];
  readonly idle: ControlPlaneStats;
  readonly loaded: ControlPlaneStats;
  readonly cpuPerEditMs: number;
  readonly bytesPerEdit: number;
  readonly harnessCpuPerEditMs: number;
  readonly connectS: number;
}

async function run(clients: number, protocol: 'sotw' | 'delta' = 'sotw'): Promise<Result> {
  const prof = args['cpu-prof'];
  const cp = await startControlPlaneProcess(scenario.files, { nodeFlags: prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`] });
  const load = await startLoad({ address: cp.xdsAddress, specs: scenario.specs(clients).map((spec) => ({ ...spec, protocol })), workers: Number(args.workers), channelsPerWorker: Number(args.channels) });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const idle = await cp.stats();
    const t = Date.now();
    await load.waitReady(60_000 + clients * 30);
    const connectS = (Date.now() - t) / 1000;
    await new Promise((r) => setTimeout(r, 1000)); // let the last ACKs and GC settle
    const loaded = await cp.stats();
    const before = await load.counters();
    const perClientMs: number[] = [];
    const perEditMs: number[] = [];
    for (let e = 1; e <= edits; e++) {
      const t0 = Date.now();
      await cp.apply(scenario.edit(e));
      const acked = await load.waitConverged(e, 60_000);
      const times = [...acked.values()].map((at) => at - t0);
      perClientMs.push(...times);
      perEditMs.push(Math.max(...times));
      await new Promise((r) => setTimeout(r, 300));
    }
    const after = await cp.stats();
    const counters = await load.counters();
    if (counters.nacks > 0) throw new Error(`${counters.nacks} responses were NACKed`);
    return {
      clients,
      perClientMs: perClientMs.sort((a, b) => a - b),
      perEditMs: perEditMs.sort((a, b) => a - b),
      idle,
      loaded,
      cpuPerEditMs: (after.cpuUs - loaded.cpuUs) / 1000 / edits,
      bytesPerEdit: protocol === 'sotw' ? (after.sotwBytes - loaded.sotwBytes) / edits : (after.deltaBytes - loaded.deltaBytes) / edits,
      harnessCpuPerEditMs: (counters.workerCpuUs - before.workerCpuUs) / 1000 / edits,
      connectS,
    };
  } finally {
    await load.close();
    await cp.close();
  }
}

const base = await run(Number(args.baseline));
const big = await run(Number(args.clients));
const kib = (b: number) => (b / 1024).toFixed(1);
const rows: [string, (r: Result) => number, (v: number) => string][] = [
  ['apply → client ACK, p50 (ms)', (r) => percentile(r.perClientMs, 0.5), String],
  ['apply → client ACK, p99 (ms)', (r) => percentile(r.perClientMs, 0.99), String],
  ['apply → client ACK, max (ms)', (r) => r.perClientMs[r.perClientMs.length - 1]!, String],
  ['apply → last client ACK, median edit (ms)', (r) => percentile(r.perEditMs, 0.5), String],
  ['CP RSS per client (KiB)', (r) => (r.loaded.rssBytes - r.idle.rssBytes) / r.clients, kib],
  ['CP heap per client (KiB)', (r) => (r.loaded.heapUsedBytes - r.idle.heapUsedBytes) / r.clients, kib],
  ['CP CPU per edit (ms)', (r) => r.cpuPerEditMs, (v) => v.toFixed(1)],
  ['CP CPU per edit per client (µs)', (r) => (r.cpuPerEditMs * 1000) / r.clients, (v) => v.toFixed(1)],
  ['harness (client workers) CPU per edit (ms)', (r) => r.harnessCpuPerEditMs, (v) => v.toFixed(1)],
  ['bytes pushed per edit, all clients (KiB, SotW)', (r) => r.bytesPerEdit, kib],
  ['bytes pushed per edit per client (B, SotW)', (r) => r.bytesPerEdit / r.clients, (v) => v.toFixed(0)],
  ['connect: all clients ready (s)', (r) => r.connectS, (v) => v.toFixed(1)],
];
console.log(`\nxDS scale: ${big.clients} simulated ADS clients (${serviceCount} node views) vs a ${base.clients}-client baseline, ${edits} edits each, control plane alone in its process, Node ${process.version}`);
console.log(`| measure | ${base.clients} clients | ${big.clients} clients | ratio |`);
console.log('| --- | --- | --- | --- |');
for (const [label, f, fmt] of rows) {
  const a = f(base);
  const b = f(big);
  console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${a === 0 ? '-' : `${(b / a).toFixed(2)}x`} |`);
}
console.log(`(goals: p99 ≤ 1000 ms, RSS per client ≤ 30 KiB; idle RSS ${kib(big.idle.rssBytes / 1024)} MiB, loaded ${kib(big.loaded.rssBytes / 1024)} MiB)`);

if (!args['no-delta']) {
  const delta = await run(Number(args.clients), 'delta');
  const compare: [string, (r: Result) => number, (v: number) => string][] = [
    ['bytes pushed per edit per client (B)', (r) => r.bytesPerEdit / r.clients, (v) => v.toFixed(0)],
    ['apply → client ACK, p50 (ms)', (r) => percentile(r.perClientMs, 0.5), String],
    ['apply → client ACK, p99 (ms)', (r) => percentile(r.perClientMs, 0.99), String],
    ['CP CPU per edit (ms)', (r) => r.cpuPerEditMs, (v) => v.toFixed(1)],
    ['harness (client workers) CPU per edit (ms)', (r) => r.harnessCpuPerEditMs, (v) => v.toFixed(1)],
    ['CP RSS per client (KiB)', (r) => (r.loaded.rssBytes - r.idle.rssBytes) / r.clients, kib],
  ];
  console.log(`\nThe same ${big.clients} clients on delta xDS (DeltaAggregatedResources), same run`);
  console.log('| measure | SotW | delta | delta / SotW |');
  console.log('| --- | --- | --- | --- |');
  for (const [label, f, fmt] of compare) {
    const a = f(big);
    const b = f(delta);
    console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${a === 0 ? '-' : `${(b / a).toFixed(2)}x`} |`);
  }
}
