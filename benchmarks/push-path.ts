// Micro-benchmark of the control plane's push path alone, in one process, without gRPC or sockets: N AdsStreams over
// one SnapshotCache, each with a realistic SotW view, and per edit the CPU spent pushing (stream state, response
// building, serialization as grpc-js would call it) and handling the N ACKs. It isolates what Weft's own code costs
// per stream from grpc-js and from the load of the machine, so before/after figures of a change compare cleanly;
// the end-to-end figures are benchmarks/xds-scale.ts's. Baseline: --baseline streams, in the same run. A second table
// compares the same streams on delta xDS (handleDeltaRequest, ACKs with only the nonce); --no-delta skips it.
// Usage: node --expose-gc --import tsx benchmarks/push-path.ts [--streams 10000] [--baseline 100] [--edits 20] [--services 100]
//        [--deps 2] (Services each stream calls: the size of its responses) [--no-delta]
import { parseArgs } from 'node:util';
import { TYPE_URL, protos, type ProtoObject } from '../src/discovery/xds/protos.js';
import { nodeProto } from '../src/discovery/xds/ads-wire.js';
import type { XdsResource, XdsResources } from '../control-plane/src/model.js';
import { AdsStream } from '../control-plane/src/server/ads-stream.js';
import { SnapshotCache } from '../control-plane/src/server/snapshot-cache.js';
import { buildCluster, buildListener } from '../control-plane/src/translate/translate.js';

const { values: args } = parseArgs({
  options: {
    streams: { type: 'string', default: '10000' },
    baseline: { type: 'string', default: '100' },
    edits: { type: 'string', default: '20' },
    services: { type: 'string', default: '100' },
    deps: { type: 'string', default: '2' },
    // Spelled out: Node 20's parseArgs has no `--no-<flag>` negation.
    'no-delta': { type: 'boolean', default: false },
  },
});
const edits = Number(args.edits);
const serviceCount = Number(args.services);
const depCount = Math.min(Number(args.deps), serviceCount + 1);
const methods = { sotw: protos().adsService['StreamAggregatedResources']!, delta: protos().adsService['DeltaAggregatedResources']! };
// The pre-encoded path when this checkout has it (response-encoding.ts), else grpc-js's serializer as before.
const preEncoded = await import('../control-plane/src/server/response-encoding.js').then(
  (m: { serializePreEncoded?: (v: object) => Buffer | undefined }) => m.serializePreEncoded,
  () => undefined,
);
const serialize = (r: object, protocol: Protocol): Buffer => preEncoded?.(r) ?? methods[protocol].responseSerialize(r as ProtoObject);

const names = ['hub', ...Array.from({ length: serviceCount }, (_, i) => `app-${i}`)];
function snapshot(edit: number): XdsResources {
  const route = (name: string): XdsResource => ({
    '@type': TYPE_URL.routeConfiguration,
    name,
    virtual_hosts: [{
      name,
      domains: ['*'],
      routes: [
        ...(name === 'hub' ? [{ match: { prefix: `/wmark-${edit}-` }, route: { cluster: 'hub:80' } }] : []),
        { match: { prefix: '/' }, route: { cluster: `${name}:80` } },
      ],
    }],
  });
  const cla = (name: string): XdsResource => ({
    '@type': TYPE_URL.clusterLoadAssignment,
    cluster_name: `${name}:80`,
    endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: 8080 } } } }] }],
  });
  return {
    [TYPE_URL.listener]: new Map(names.flatMap((n) => [[n, buildListener(n, n)], [`weft/inbound/${n}`, { ...buildListener(`weft/inbound/${n}`, n) }]] as [string, XdsResource][])),
    [TYPE_URL.routeConfiguration]: new Map(names.map((n) => [n, route(n)])),
    [TYPE_URL.cluster]: new Map(names.map((n) => [`${n}:80`, buildCluster(`${n}:80`)])),
    [TYPE_URL.clusterLoadAssignment]: new Map(names.map((n) => [`${n}:80`, cla(n)])),
    [TYPE_URL.secret]: new Map(),
  } as XdsResources;
}

type Protocol = 'sotw' | 'delta';

interface Sim {
  readonly stream: AdsStream;
  readonly names: Map<string, string[]>;
  pending: { type_url: string; version_info?: string; system_version_info?: string; nonce: string }[];
}

function run(count: number, protocol: Protocol = 'sotw'): { pushUs: number; ackUs: number; heapPerStream: number; bytesPerEdit: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  const cache = new SnapshotCache();
  cache.set(snapshot(0));
  let nonce = 0;
  let bytes = 0;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const sims: Sim[] = [];
  for (let id = 0; id < count; id++) {
    const service = `app-${id % serviceCount}`;
    const deps = ['hub', ...Array.from({ length: depCount - 1 }, (_, k) => `app-${(id + 1 + k) % serviceCount}`)];
    const clusters = deps.map((d) => `${d}:80`);
    const sim: Sim = {
      stream: undefined as unknown as AdsStream,
      names: new Map([
        [TYPE_URL.listener, [...deps, `weft/inbound/${service}`].sort()],
        [TYPE_URL.routeConfiguration, deps],
        [TYPE_URL.cluster, clusters],
        [TYPE_URL.clusterLoadAssignment, clusters],
      ]),
      pending: [],
    };
    (sim as { stream: AdsStream }).stream = new AdsStream({
      id, peer: 'bench', cache, protocol, nextNonce: () => String(++nonce),
      send: (r) => {
        bytes += serialize(r, protocol).length;
        sim.pending.push(r as Sim['pending'][number]);
      },
    });
    let first = true;
    for (const [typeUrl, n] of sim.names) {
      const node = first ? { node: nodeProto({ id: `sim-${id}`, cluster: service }) } : {};
      if (protocol === 'delta') sim.stream.handleDeltaRequest({ type_url: typeUrl, resource_names_subscribe: n, ...node });
      else sim.stream.handleRequest({ type_url: typeUrl, resource_names: n, version_info: '', response_nonce: '', ...node });
      first = false;
    }
    sims.push(sim);
  }
  const ackAll = () => {
    for (const sim of sims) {
      const answered = sim.pending;
      sim.pending = [];
      for (const r of answered) {
        if (protocol === 'delta') sim.stream.handleDeltaRequest({ type_url: r.type_url, response_nonce: r.nonce });
        else sim.stream.handleRequest({ type_url: r.type_url, resource_names: sim.names.get(r.type_url), version_info: r.version_info ?? '', response_nonce: r.nonce });
      }
    }
  };
  ackAll();
  // What AdsServer does with a cache change: every stream checks its subscribed types.
  cache.onChange((types) => {
    for (const sim of sims) sim.stream.onCacheChange(types);
  });
  gc?.();
  const heapPerStream = (process.memoryUsage().heapUsed - heap0) / count;
  const push: number[] = [];
  const ack: number[] = [];
  const bytes0 = bytes;
  const cpuSince = (t: NodeJS.CpuUsage) => {
    const d = process.cpuUsage(t);
    return d.user + d.system;
  };
  for (let e = 1; e <= edits; e++) {
    const next = snapshot(e);
    let t = process.cpuUsage();
    cache.set(next);
    push.push(cpuSince(t));
    t = process.cpuUsage();
    ackAll();
    ack.push(cpuSince(t));
  }
  // Medians: on a shared machine a few edits take far longer than the code needs.
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { pushUs: median(push), ackUs: median(ack), heapPerStream, bytesPerEdit: (bytes - bytes0) / edits };
}

run(Number(args.baseline)); // warm-up: the JIT settles before either figure is taken
const base = run(Number(args.baseline));
const big = run(Number(args.streams));
const rows: [string, (r: ReturnType<typeof run>, n: number) => number, (v: number) => string][] = [
  ['push CPU per edit, median (ms): set + every stream + serialize', (r) => r.pushUs / 1000, (v) => v.toFixed(1)],
  ['push CPU per edit per stream (µs)', (r, n) => r.pushUs / n, (v) => v.toFixed(2)],
  ['ACK handling CPU per stream (µs)', (r, n) => r.ackUs / n, (v) => v.toFixed(2)],
  ['heap per stream (KiB)', (r) => r.heapPerStream / 1024, (v) => v.toFixed(2)],
  ['bytes serialized per edit per stream', (r, n) => r.bytesPerEdit / n, (v) => v.toFixed(0)],
];
const nb = Number(args.baseline);
const nn = Number(args.streams);
console.log(`\nADS push path in-process: ${nn} SotW streams (${serviceCount} node views, ${depCount} Services called each) vs ${nb}, ${edits} edits, Node ${process.version}${(globalThis as { gc?: unknown }).gc ? '' : ' (run with --expose-gc for heap figures)'}`);
console.log(`| measure | ${nb} streams | ${nn} streams | ratio |`);
console.log('| --- | --- | --- | --- |');
for (const [label, f, fmt] of rows) {
  const a = f(base, nb);
  const b = f(big, nn);
  console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${a === 0 ? '-' : `${(b / a).toFixed(2)}x`} |`);
}

if (!args['no-delta']) {
  run(nb, 'delta'); // warm-up of the delta path
  const delta = run(nn, 'delta');
  console.log(`\nThe same ${nn} streams on delta xDS, same run`);
  console.log('| measure | SotW | delta | delta / SotW |');
  console.log('| --- | --- | --- | --- |');
  for (const [label, f, fmt] of rows) {
    const a = f(big, nn);
    const b = f(delta, nn);
    console.log(`| ${label} | ${fmt(a)} | ${fmt(b)} | ${a === 0 ? '-' : `${(b / a).toFixed(2)}x`} |`);
  }
}
