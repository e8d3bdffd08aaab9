// Micro-benchmark: the CPU one inbound JWT check costs for a repeated (cached) token, in-process, with one, two and
// three issuers on the same header: with several issuers the check must stay on the synchronous cached path (the
// providers a token does not belong to remember the issuer mismatch). Ratios against one issuer, same run.
// Usage: node --import tsx benchmarks/jwt-authn.ts [--calls 200000] [--rounds 7]   (run `npm run build` first: it measures dist/)
import { parseArgs } from 'node:util';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { compileJwtAuthn, ProviderPool, type CompiledJwtAuthn } from '../dist/src/policy/authn/index.js';
import type { JwtAuthnFilter, JwtProvider } from '../dist/src/discovery/inbound-policy.js';

const { values: args } = parseArgs({ options: { calls: { type: 'string', default: '200000' }, rounds: { type: 'string', default: '7' } } });
const calls = Number(args.calls);
const rounds = Number(args.rounds);

const keys = await generateKeyPair('ES256', { extractable: true });
const jwk = { ...(await exportJWK(keys.publicKey)), kid: 'bench', alg: 'ES256', use: 'sig' };
const token = await new SignJWT({ sub: 'bench-client' }).setProtectedHeader({ alg: 'ES256', kid: 'bench' }).setIssuer('https://issuer-0.bench').setAudience('guarded').setExpirationTime('2h').sign(keys.privateKey);

const provider = (i: number): JwtProvider => ({
  name: `p${i}`,
  issuer: `https://issuer-${i}.bench`,
  audiences: ['guarded'],
  jwks: { kind: 'local', keys: [jwk] },
  fromHeaders: [{ name: 'authorization', valuePrefix: 'Bearer ' }],
  forward: true,
  payloadInMetadata: 'jwt_payload',
  clockSkewSeconds: 60,
});

/** Istio's shape: any of the providers, or no token at all. */
function filterOf(issuers: number): JwtAuthnFilter {
  const providers = Array.from({ length: issuers }, (_, i) => provider(i));
  return {
    kind: 'jwt-authn',
    name: 'bench',
    providers: new Map(providers.map((p) => [p.name, p])),
    rules: [{ match: { kind: 'prefix', value: '/', ignoreCase: false }, requires: { kind: 'any', requirements: [...providers.map((p) => ({ kind: 'provider' as const, provider: p.name })), { kind: 'allow-missing' as const }] } }],
  };
}

const req = { path: '/items/1', header: (n: string) => (n === 'authorization' ? `Bearer ${token}` : undefined) };
const cases = [1, 2, 3].map((n) => ({ name: `${n} issuer${n > 1 ? 's' : ''}`, authn: compileJwtAuthn(filterOf(n), new ProviderPool({ nowMs: Date.now }, () => {})) }));
const asyncCalls = new Map(cases.map((c) => [c.name, 0]));

async function run(name: string, authn: CompiledJwtAuthn): Promise<number> {
  const start = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const r = authn.check(req);
    if (r instanceof Promise) {
      asyncCalls.set(name, asyncCalls.get(name)! + 1);
      if (!(await r).ok) throw new Error('the token was refused');
    } else if (!r.ok) throw new Error('the token was refused');
  }
  return Number(process.hrtime.bigint() - start) / calls;
}

for (const c of cases) await c.authn.check(req); // verify once: every later check may hit the cache
for (const c of cases) await run(c.name, c.authn); // warm-up: JIT
for (const c of cases) asyncCalls.set(c.name, 0);
const ns = new Map(cases.map((c) => [c.name, [] as number[]]));
for (let r = 0; r < rounds; r++) for (const c of cases) ns.get(c.name)!.push(await run(c.name, c.authn));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const base = median(ns.get(cases[0]!.name)!);
console.log(`\nInbound JWT check of a repeated token, in-process (${calls} calls × ${rounds} rounds, medians), Node ${process.version}\n`);
console.log('| issuers on the header | ns/check | vs 1 issuer | checks that went async |');
console.log('|---|---|---|---|');
for (const c of cases) {
  const m = median(ns.get(c.name)!);
  console.log(`| ${c.name} | ${m.toFixed(0)} | ${(m / base).toFixed(2)}× | ${asyncCalls.get(c.name)} of ${calls * rounds} |`);
}
