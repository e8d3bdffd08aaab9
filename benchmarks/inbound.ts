// Benchmark: what inbound policy costs a server. The same trivial handler behind a raw node:http server, mesh.serve()
// with no policy, and mesh.serve() with an ALLOW policy (JWT principal + path + method), a rate limit (never reached)
// and a JWT rule (one token, verified once then cached); req/s and server CPU per request, as ratios against the
// no-policy run measured in the same process run, rounds alternating. Usage: node --import tsx benchmarks/inbound.ts
// [--concurrency 32] [--seconds 2] [--rounds 6]   (run `npm run build` first: it measures dist/)
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { Agent, request } from 'undici';
import { forkWithMessage, startBenchControlPlane, loadArgs } from './lib.js';
import { median, runLoad, type LoadResult } from './load.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const { concurrency, seconds, rounds } = loadArgs({ concurrency: 32, seconds: 2, rounds: 6 });

const keys = await generateKeyPair('ES256', { extractable: true });
const jwks = { keys: [{ ...(await exportJWK(keys.publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' }] };
const token = await new SignJWT({ sub: 'bench-client' }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer('https://issuer.bench').setAudience('guarded').setExpirationTime('2h').sign(keys.privateKey);

const svc = (name: string) => `apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: { name: ${name} }\nspec: { ports: [{ name: http, port: 80 }] }\n`;
const { controlPlane, close } = await startBenchControlPlane({
  'services.yaml': `${svc('plain')}---\n${svc('guarded')}`,
  'policy.yaml': `apiVersion: weft.dev/v1alpha1
kind: RequestAuthentication
metadata: { name: bench-jwt }
spec:
  targetRef: { kind: Service, name: guarded }
  jwtRules: [{ issuer: "https://issuer.bench", audiences: [guarded], jwks: '${JSON.stringify(jwks)}' }]
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: bench-allow }
spec:
  targetRef: { kind: Service, name: guarded }
  rules:
  - from: [{ source: { requestPrincipals: ["https://issuer.bench/*"] } }]
    to: [{ operation: { methods: [GET], paths: ["/items/*"] } }]
---
apiVersion: weft.dev/v1alpha1
kind: LocalRateLimit
metadata: { name: bench-limit }
spec:
  targetRef: { kind: Service, name: guarded }
  tokenBucket: { maxTokens: 1000000000, fillInterval: 1s }
`,
});

const { child, message } = await forkWithMessage<{ ports: Record<string, number> }>(path.join(here, 'inbound-server.ts'), [controlPlane.xdsUrl]);
const serverCpuUs = () =>
  new Promise<number>((resolve) => {
    child.once('message', (m) => resolve((m as { cpuUs: number }).cpuUs));
    child.send('cpu');
  });

const agent = new Agent({ keepAliveTimeout: 10_000 });
// Every case sends the same token, so the servers parse the same request; only the guarded one checks it.
const headers = { authorization: `Bearer ${token}` };
const cases = [
  { name: 'raw node:http (no mesh)', port: message.ports['raw']!, headers },
  { name: 'mesh.serve, no policy', port: message.ports['plain']!, headers },
  { name: 'mesh.serve, JWT + ALLOW + rate limit', port: message.ports['guarded']!, headers },
];
// One check first: the policy must really be enforced, or the benchmark measures nothing.
const probe = await request(`http://127.0.0.1:${cases[2]!.port}/items/1`, { dispatcher: agent });
const refused = await request(`http://127.0.0.1:${cases[2]!.port}/other`, { dispatcher: agent, headers });
await Promise.all([probe.body.dump(), refused.body.dump()]);
if (probe.statusCode !== 403 || refused.statusCode !== 403) throw new Error(`policy not enforced (${probe.statusCode}, ${refused.statusCode})`);

type Measured = LoadResult & { serverCpuUsPerReq: number };
async function run(c: (typeof cases)[number], durationMs: number): Promise<Measured> {
  const url = `http://127.0.0.1:${c.port}/items/42`;
  const before = await serverCpuUs();
  const r = await runLoad(async () => {
    const res = await request(url, { dispatcher: agent, headers: c.headers });
    await res.body.dump();
    if (res.statusCode !== 200) throw new Error(String(res.statusCode));
  }, concurrency, durationMs);
  const served = (r.rps * durationMs) / 1000;
  return { ...r, serverCpuUsPerReq: ((await serverCpuUs()) - before) / Math.max(1, served) };
}

const results = cases.map(() => [] as Measured[]);
for (const c of cases) await run(c, 500); // warm up connections and JIT
for (let i = 0; i < rounds; i++) {
  const order = i % 2 === 0 ? [0, 1, 2] : [2, 1, 0];
  for (const k of order) results[k]!.push(await run(cases[k]!, seconds * 1000));
}
const base = results[1]!;
const rows = cases.map((c, k) => {
  const rs = results[k]!;
  const ratios = rs.map((r, i) => r.rps / base[i]!.rps);
  return [
    c.name,
    median(rs.map((r) => r.rps)).toFixed(0),
    median(rs.map((r) => r.p50Ms)).toFixed(2),
    median(rs.map((r) => r.serverCpuUsPerReq)).toFixed(1),
    String(rs.reduce((n, r) => n + r.errors, 0)),
    `${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`,
  ];
});
const header = ['server', 'req/s', 'p50 ms', 'server CPU µs/req', 'errors', 'req/s vs no policy (round range)'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (row: string[]) => `| ${row.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
console.log(`\nInbound policy, ${concurrency} concurrent keep-alive GETs, ${rounds} rounds of ${seconds} s (medians), Node ${process.version}`);
console.log(line(header));
console.log(line(widths.map((w) => '-'.repeat(w))));
for (const r of rows) console.log(line(r));

await agent.close();
child.kill();
await close();
