// Benchmark: meshed gRPC over mTLS against raw grpc-js over the same mTLS. One meshed gRPC server (Service `secure`,
// STRICT, mesh.grpc.server() in its own process) answers both: a raw grpc-js client (`createSsl` with a certificate
// from the mesh CA, checking only the chain) and a meshed client (mesh.grpc.client, its own workload certificate,
// SPIFFE check of the server); unary calls, paired rounds, alternating order. The server side (TLS termination in the
// inbound front, inbound interceptor) is the same for both, so the ratio is the meshed client's cost.
// Usage: node --import tsx benchmarks/grpc-mtls.ts [--concurrency 32] [--seconds 2] [--rounds 10]
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { createMesh, EchoClient, forkWithMessage, say, startBenchControlPlane, type EchoClientInstance } from './lib.js';
import { median, runLoad, type Call, type LoadResult } from './load.js';
import { generateWorkloadKey } from '../dist/src/identity/csr.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values: args } = parseArgs({
  options: {
    concurrency: { type: 'string', default: '32' },
    seconds: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '10' },
  },
});
const concurrency = Number(args.concurrency);
const seconds = Number(args.seconds);
const rounds = Number(args.rounds);

const yaml = (s: string, protocol: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${s} }\nspec:\n  ports: [{ name: ${protocol.toLowerCase()}, port: 8080, protocol: ${protocol} }]\n---\n`;
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'mesh.yaml': `${yaml('secure', 'GRPC')}${yaml('bench', 'HTTP')}apiVersion: weft.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: { name: secure }\nspec: { targetRef: { kind: Service, name: secure }, mtls: { mode: STRICT } }\n`,
});
const tokenFor = async (service: string): Promise<string> => {
  const res = await fetch(`${controlPlane.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${controlPlane.adminToken}` }, body: JSON.stringify({ service }) });
  return String(((await res.json()) as { token: string }).token);
};
const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'grpc-mtls-backend.ts'), [controlPlane.xdsUrl, await tokenFor('secure')]);

const mesh = await createMesh({ service: 'bench', controlPlane: controlPlane.xdsUrl, identity: { token: await tokenFor('bench') }, dependsOn: ['secure'] });
await mesh.ready();
// The raw client presents a certificate of the same CA (as `weft cert issue` gives one) and checks nothing but the chain.
const key = generateWorkloadKey();
const issued = controlPlane.ca.issue(key.publicKey, 'spiffe://weft.local/ns/default/sa/bench');
const rawCredentials = grpc.credentials.createSsl(
  Buffer.from(controlPlane.ca.trustBundlePem().join('')),
  Buffer.from(key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
  Buffer.from(issued.chainPem.join('')),
  { checkServerIdentity: () => undefined },
);
const raw: EchoClientInstance = new EchoClient(`127.0.0.1:${port}`, rawCredentials, { 'grpc.ssl_target_name_override': 'secure' });
const meshed: EchoClientInstance = mesh.grpc.client(EchoClient, 'secure');

const REQUEST = { text: 'hello' };
const call = (client: EchoClientInstance): Call => () => say(client, REQUEST).then(() => undefined);
const cases: { name: string; call: Call }[] = [
  { name: 'raw grpc-js (`createSsl`), mTLS with a mesh certificate', call: call(raw) },
  { name: 'meshed grpc-js (`mesh.grpc.client`), mTLS', call: call(meshed) },
];
for (const c of cases) await runLoad(c.call, concurrency, 1_000); // warm up: connections, JIT
const results: LoadResult[][] = cases.map(() => []);
for (let i = 0; i < rounds; i++) {
  for (let k = 0; k < cases.length; k++) {
    const idx = (k + i) % cases.length;
    results[idx]!.push(await runLoad(cases[idx]!.call, concurrency, seconds * 1000));
  }
}

const base = results[0]!;
const ratios = results[1]!.map((r, i) => r.rps / base[i]!.rps).sort((a, b) => a - b);
const rows = cases.map((c, idx) => {
  const rs = results[idx]!;
  return `| ${c.name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50Ms)).toFixed(2)} | ${median(rs.map((r) => r.p99Ms)).toFixed(2)} | ${median(rs.map((r) => r.cpuUsPerReq)).toFixed(1)} | ${rs.reduce((n, r) => n + r.errors, 0)} | ${idx === 0 ? '' : `**${median(ratios).toFixed(2)}** (${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`} |`;
});
console.log(`\nMeshed gRPC over mTLS vs raw grpc-js over the same mTLS: ${concurrency} concurrent unary calls, ${rounds} paired rounds of ${seconds} s (medians), Node ${process.version}\n`);
console.log('| client | calls/s | p50 ms | p99 ms | client CPU µs/call | errors | meshed/raw calls/s (round range) |');
console.log('|---|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
const ratio = median(ratios);
console.log(`\nmeshed/raw ${ratio.toFixed(2)} (goal ≥ 0.9: ${ratio >= 0.9 ? 'met' : 'not met'})`);

raw.close();
await mesh.close();
backend.disconnect();
await closeControlPlane();
