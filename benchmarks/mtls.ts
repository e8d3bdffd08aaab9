// Benchmark: meshed mTLS against raw undici over the same mTLS. One meshed server (Service `secure`, STRICT, in its own
// process) answers both: a raw undici Agent presenting a certificate from the mesh CA, and a meshed client
// (mesh.dispatcher, its own workload certificate); paired rounds, alternating order. Also the cost of one mTLS
// handshake (new connections, sequential), against a plaintext TCP connect to the same server.
// Usage: node --import tsx benchmarks/mtls.ts [--concurrency 64] [--seconds 2] [--rounds 10] [--handshakes 300]
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Agent, request, type Dispatcher } from 'undici';
import { createMesh, forkWithMessage, startBenchControlPlane, loadArgs } from './lib.js';
import { median, runLoad, type Call, type LoadResult } from './load.js';
import { generateWorkloadKey } from '../dist/src/identity/csr.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds, extra: args } = loadArgs({ concurrency: 64, seconds: 2, rounds: 10 }, { handshakes: '300' });

const yaml = (s: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${s} }\nspec:\n  ports: [{ name: http, port: 8080, protocol: HTTP }]\n---\n`;
const { controlPlane, close: closeControlPlane } = await startBenchControlPlane({
  'mesh.yaml': `${yaml('secure')}${yaml('bench')}apiVersion: weft.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: { name: secure }\nspec: { targetRef: { kind: Service, name: secure }, mtls: { mode: STRICT } }\n`,
});
const tokenFor = async (service: string): Promise<string> => {
  const res = await fetch(`${controlPlane.adminUrl}/v1/tokens`, { method: 'POST', headers: { authorization: `Bearer ${controlPlane.adminToken}` }, body: JSON.stringify({ service }) });
  return String(((await res.json()) as { token: string }).token);
};
const { child: backend, message: { port } } = await forkWithMessage<{ port: number }>(path.join(here, 'mtls-backend.ts'), [controlPlane.xdsUrl, await tokenFor('secure')]);

const mesh = await createMesh({ service: 'bench', controlPlane: controlPlane.xdsUrl, identity: { token: await tokenFor('bench') }, dependsOn: ['secure'] });
await mesh.ready();
// The raw client presents a certificate of the same CA (as `weft cert issue` gives one) and checks nothing but the chain.
const key = generateWorkloadKey();
const issued = controlPlane.ca.issue(key.publicKey, 'spiffe://weft.local/ns/default/sa/bench');
const clientTls = { cert: issued.chainPem.join(''), key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, ca: controlPlane.ca.trustBundlePem().join(''), checkServerIdentity: () => undefined };
const rawAgent = new Agent({ keepAliveTimeout: 10_000, connect: clientTls });

const call =
  (url: string, dispatcher: Dispatcher): Call =>
  async () => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
  };
const cases: { name: string; call: Call }[] = [
  { name: 'raw undici (Agent), mTLS with a mesh certificate', call: call(`https://127.0.0.1:${port}/`, rawAgent) },
  { name: 'meshed undici.request (mesh.dispatcher), mTLS', call: call('http://secure/', mesh.dispatcher as Dispatcher) },
];
for (const c of cases) await runLoad(c.call, concurrency, 500); // warm up: connections, JIT
const results: LoadResult[][] = cases.map(() => []);
for (let i = 0; i < rounds; i++) {
  for (let k = 0; k < cases.length; k++) {
    const idx = (k + i) % cases.length;
    results[idx]!.push(await runLoad(cases[idx]!.call, concurrency, seconds * 1000));
  }
}

/** Median time of `n` sequential new connections made by `connect` (ms). */
async function timeConnections(n: number, connect: () => Promise<void>): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await connect();
    ms.push(performance.now() - start);
  }
  return median(ms);
}
const handshakes = Number(args.handshakes);
const tcpMs = await timeConnections(handshakes, () => new Promise<void>((resolve, reject) => {
  const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(); });
  s.on('error', reject);
}));
const tlsMs = await timeConnections(handshakes, () => new Promise<void>((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port, ...clientTls, minVersion: 'TLSv1.3' }, () => {
    // TLS 1.3: the server verifies the client certificate after the client's Finished; one round trip of data proves it.
    s.write('GET / HTTP/1.1\r\nhost: secure\r\nconnection: close\r\n\r\n');
  });
  s.once('data', () => { s.destroy(); resolve(); });
  s.on('error', reject);
}));

const base = results[0]!;
const rows = cases.map((c, idx) => {
  const rs = results[idx]!;
  const ratios = rs.map((r, i) => r.rps / base[i]!.rps).sort((a, b) => a - b);
  return `| ${c.name} | ${median(rs.map((r) => r.rps)).toFixed(0)} | ${median(rs.map((r) => r.p50Ms)).toFixed(2)} | ${median(rs.map((r) => r.p99Ms)).toFixed(2)} | ${median(rs.map((r) => r.cpuUsPerReq)).toFixed(1)} | ${idx === 0 ? '' : `**${median(ratios).toFixed(2)}** (${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)})`} |`;
});
console.log(`\nMeshed mTLS vs raw undici over the same mTLS: ${concurrency} concurrent keep-alive requests, ${rounds} paired rounds of ${seconds} s (medians), Node ${process.version}\n`);
console.log('| case | req/s | p50 ms | p99 ms | client CPU µs/req | meshed/raw req/s |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
console.log(`\nNew connection to the same server, sequential, median of ${handshakes}: TCP connect ${tcpMs.toFixed(2)} ms; mTLS handshake and first response ${tlsMs.toFixed(2)} ms (≈ ${(1000 / tlsMs).toFixed(0)} handshakes/s on one connection at a time)`);

await mesh.close();
await rawAgent.close();
backend.disconnect();
await closeControlPlane();
