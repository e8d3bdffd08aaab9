// Benchmark: bytes the control plane writes per edit to delta xDS clients and to State-of-the-World clients, same run.
// A mid-size mesh (--services Services of --endpoints static endpoints each, one HTTPRoute per Service); --clients
// xDS clients per protocol, each resolving every Service; then --edits edits of two kinds: one Service rescaled
// (EDS) and one route re-weighted (RDS + CDS). Bytes come from AdsServer.bytesSent() (what grpc-js serialized).
// Usage: node --import tsx benchmarks/delta-bytes.ts [--services 100] [--endpoints 4] [--clients 10] [--edits 5]
import { parseArgs } from 'node:util';
import { createXdsClient, type XdsClient } from '../dist/src/discovery/xds/ads-client.js';
import type { AdsTraffic } from '../dist/control-plane/src/server/ads-server.js';
import { startBenchControlPlane } from './lib.js';

const { values: args } = parseArgs({
  options: {
    services: { type: 'string', default: '100' },
    endpoints: { type: 'string', default: '4' },
    clients: { type: 'string', default: '10' },
    edits: { type: 'string', default: '5' },
  },
});
const services = Number(args.services);
const endpoints = Number(args.endpoints);
const clientsPerProtocol = Number(args.clients);
const edits = Number(args.edits);

const names = Array.from({ length: services }, (_, i) => `svc-${i}`);
const service = (name: string, count: number, base: number) => `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ${name} }
spec:
  ports: [{ name: http, port: 80 }]
  endpoints: [${Array.from({ length: count }, (_, e) => `{ address: 10.${(base >> 8) & 255}.${base & 255}.${e + 1}, port: 8080 }`).join(', ')}]
`;
const route = (name: string, weight: number) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name}-route }
spec:
  parentRefs: [{ kind: Service, name: ${name} }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /api } }]
      timeouts: { request: 2s }
      backendRefs: [{ name: ${name}, port: 80, weight: ${weight} }, { name: ${name}-canary, port: 80, weight: ${100 - weight} }]
    - backendRefs: [{ name: ${name}, port: 80 }]
`;
const files: Record<string, string> = {};
for (const [i, name] of names.entries()) {
  files[`${name}.yaml`] = [service(name, endpoints, i), service(`${name}-canary`, 1, 10_000 + i), route(name, 90)].join('---\n');
}
const { controlPlane, close } = await startBenchControlPlane(files);
const apply = async (yaml: string) => {
  const res = await fetch(`${controlPlane.adminUrl}/v1/apply`, { method: 'POST', body: yaml, headers: { authorization: `Bearer ${controlPlane.adminToken}` } });
  if (res.status !== 200) throw new Error(`apply failed: ${res.status} ${await res.text()}`);
};

const clients: XdsClient[] = [];
for (const protocol of ['delta', 'sotw'] as const) {
  for (let c = 0; c < clientsPerProtocol; c++) {
    const client = createXdsClient({ server: controlPlane.xdsAddress, node: { id: `${protocol}-${c}`, cluster: 'bench' }, protocol });
    clients.push(client);
    await Promise.all(names.map((n) => client.resolve(n, 30_000)));
    // Not the answers of resolve(): a SotW client answers many concurrent first lookups 'absent' for a moment (its
    // LDS response to an earlier, shorter name list reads as "those do not exist"); wait for the state to settle.
    for (let i = 0; i < 600 && !names.every((n) => client.state.get().targets.get(n)?.status === 'resolved'); i++) await new Promise((r) => setTimeout(r, 50));
    if (!names.every((n) => client.state.get().targets.get(n)?.status === 'resolved')) throw new Error(`${protocol} client ${c} did not resolve every Service`);
  }
}

/** Resolves once every stream has answered everything it was sent and nothing more went out for a while. */
async function quiet(): Promise<void> {
  let last = -1;
  for (let i = 0; i < 600; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const settled = controlPlane.ads.clients().every((c) => c.types.every((t) => t.sentVersion === t.ackedVersion && t.nack === undefined));
    const total = controlPlane.ads.bytesSent().delta.bytes + controlPlane.ads.bytesSent().sotw.bytes;
    if (settled && total === last) return;
    last = total;
  }
  throw new Error('the control plane did not settle within 30 s');
}

const initial = controlPlane.ads.bytesSent();
await quiet();
const rows: { edit: string; delta: number; sotw: number }[] = [];
const perClient = (after: AdsTraffic, before: AdsTraffic) => (after.bytes - before.bytes) / clientsPerProtocol;
for (let e = 0; e < edits; e++) {
  const target = names[(e * 7) % services]!;
  const i = names.indexOf(target);
  for (const [edit, yaml] of [
    ['rescale one Service (EDS)', service(target, endpoints + 1 + (e % 2), i)],
    ['re-weight one route (RDS)', route(target, 80 - e)],
  ] as const) {
    const before = controlPlane.ads.bytesSent();
    await apply(yaml);
    await quiet();
    const after = controlPlane.ads.bytesSent();
    rows.push({ edit, delta: perClient(after.delta, before.delta), sotw: perClient(after.sotw, before.sotw) });
  }
}
const final = controlPlane.ads.bytesSent();

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`\nbytes written per edit per client: ${services} Services × ${endpoints} endpoints (+ canaries), ${clientsPerProtocol} clients per protocol, each subscribed to every Service`);
console.log('| edit | delta xDS | SotW (baseline) | SotW / delta |');
console.log('|---|---:|---:|---:|');
for (const edit of [...new Set(rows.map((r) => r.edit))]) {
  const of = rows.filter((r) => r.edit === edit);
  const delta = of.reduce((s, r) => s + r.delta, 0) / of.length;
  const sotw = of.reduce((s, r) => s + r.sotw, 0) / of.length;
  console.log(`| ${edit} | ${kb(delta)} | ${kb(sotw)} | ${(sotw / delta).toFixed(0)}× |`);
}
const start = (t: AdsTraffic) => t.bytes / clientsPerProtocol;
console.log(`| initial sync (for scale) | ${kb(start(initial.delta))} | ${kb(start(initial.sotw))} | ${(initial.sotw.bytes / initial.delta.bytes).toFixed(1)}× |`);
console.log(`\ntotal responses: delta ${final.delta.responses}, SotW ${final.sotw.responses}`);

await Promise.all(clients.map((c) => c.close()));
await close();
