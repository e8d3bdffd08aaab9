// Benchmark: what one certificate costs the CA and the workload, and how many the control plane signs per second,
// with node:crypto's raw ECDSA sign of the same TBS bytes as the baseline and pkijs's own WebCrypto signing beside it.
// In-process rows loop for --seconds per round; gRPC rows call Identity/Sign on a real control plane on loopback.
// Rounds are paired (every row runs in each round); the table shows medians over rounds.
// Usage: npm run build && node --import tsx benchmarks/ca.ts [--seconds 0.5] [--rounds 5] [--concurrency 16]
import crypto from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as pkijs from 'pkijs';
import { startControlPlane } from '../dist/control-plane/src/index.js';
import { CertificateAuthority } from '../dist/control-plane/src/ca/authority.js';
import { BootstrapTokens } from '../dist/control-plane/src/auth/bootstrap-tokens.js';
import { RateLimiter } from '../dist/control-plane/src/ca/rate-limiter.js';
import { signWorkloadCsr, type SignCredential } from '../dist/control-plane/src/ca/sign.js';
import { NOOP_LOGGER } from '../dist/src/core/logger.js';
import { createCsr, generateWorkloadKey, parseCsr } from '../dist/src/identity/csr.js';
import { IdentityClient } from '../dist/src/identity/enrolment-client.js';
import * as pkix from '../dist/src/identity/pkix.js';
import { loadArgs } from './lib.js';

const { concurrency, seconds, rounds } = loadArgs({ concurrency: 16, seconds: 0.5, rounds: 5 });
const ID = 'spiffe://weft.local/ns/default/sa/payments';

const ca = await CertificateAuthority.open({ stateDir: false, logger: NOOP_LOGGER });
const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local' });
const deps = { ca, tokens, limiter: new RateLimiter(0), logger: NOOP_LOGGER };
const workload = generateWorkloadKey();
const csr = createCsr(workload, ID);
const current = ca.issue(workload.publicKey, ID);
const renewal: SignCredential = { kind: 'renewal', chainPem: current.chainPem, signature: crypto.sign('sha256', csr.der, workload.privateKey) };
const { token } = await tokens.create({ service: 'payments', uses: 10_000, ttlMs: 3_600_000 });

// The baseline: the ECDSA signature alone, over the TBS bytes of a real leaf.
const leafDer = new crypto.X509Certificate(current.chainPem[0]!).raw;
const tbs = Buffer.from(pkijs.Certificate.fromBER(new Uint8Array(leafDer)).tbsView);
const caKey = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

// pkijs's own path: the same leaf, signed by Certificate.sign through WebCrypto (async, on the thread pool).
const webCryptoKey = await crypto.webcrypto.subtle.importKey('pkcs8', caKey.export({ type: 'pkcs8', format: 'der' }), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
const engine = new pkijs.CryptoEngine({ name: 'node-webcrypto', crypto: crypto.webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'] });
async function pkijsLeaf(): Promise<void> {
  const cert = new pkijs.Certificate();
  cert.version = 2;
  cert.serialNumber = pkix.randomSerial();
  cert.issuer = pkix.distinguishedName([[pkix.OID.commonName, 'bench']]);
  cert.subject = pkix.distinguishedName([]);
  cert.notBefore = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date() });
  cert.notAfter = new pkijs.Time({ type: pkijs.TimeType.UTCTime, value: new Date(Date.now() + 86_400_000) });
  cert.subjectPublicKeyInfo = pkix.publicKeyInfo(workload.publicKey);
  cert.extensions = [
    pkix.basicConstraintsExtension(false),
    pkix.keyUsageExtension([pkix.KEY_USAGE.digitalSignature]),
    pkix.extKeyUsageExtension([pkix.OID.serverAuth, pkix.OID.clientAuth]),
    pkix.subjectKeyIdExtension(workload.publicKey),
    pkix.uriSanExtension([ID], true),
  ];
  await cert.sign(webCryptoKey, 'SHA-256', engine);
  cert.toSchema(true).toBER(false);
}

const dir = await mkdtemp(path.join(tmpdir(), 'weft-bench-ca-'));
const plane = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, security: { csrRatePerSecond: 0 } });
const planeCert = plane.ca.issue(workload.publicKey, ID);
const planeRenewal = { kind: 'renewal' as const, chainPem: planeCert.chainPem, signature: crypto.sign('sha256', csr.der, workload.privateKey) };
const client = new IdentityClient({ server: plane.xdsAddress });

interface Row {
  readonly name: string;
  readonly what: string;
  /** One operation; `inFlight` run at once (1 = sequential). */
  readonly op: () => unknown;
  readonly inFlight?: number;
}
const rows: Row[] = [
  { name: 'baseline: node:crypto ECDSA P-256 sign of the TBS bytes', what: 'signature only', op: () => crypto.sign('sha256', tbs, caKey) },
  { name: 'CA: build + sign one SVID (ca.issue)', what: 'pkijs ASN.1 + node:crypto sign', op: () => ca.issue(workload.publicKey, ID) },
  { name: 'pkijs Certificate.sign via WebCrypto (same leaf)', what: 'not used; for comparison', op: pkijsLeaf },
  { name: 'CA: parse + check one CSR (parseCsr)', what: 'pkijs parse, node:crypto verify', op: () => parseCsr(csr.pem) },
  { name: 'CA: one CSR + sign (parseCsr + issue)', what: 'the cost of one CSR+sign', op: () => { const p = parseCsr(csr.pem); if (p.ok) ca.issue(p.value.publicKey, ID); } },
  { name: 'CA: Sign decision, renewal proof', what: 'CSR + chain + proof + issue', op: () => signWorkloadCsr(deps, { csr: csr.pem, credential: renewal, peer: 'bench' }) },
  { name: 'CA: Sign decision, bootstrap token', what: 'CSR + JWT (jose) + use count + issue', op: () => signWorkloadCsr(deps, { csr: csr.pem, credential: { kind: 'bootstrap-token', token }, peer: 'bench' }) },
  { name: 'workload: key + CSR (generateWorkloadKey + createCsr)', what: 'in the SDK', op: () => createCsr(generateWorkloadKey(), ID) },
  { name: 'gRPC Identity/Sign on loopback, renewal, 1 in flight', what: 'control plane in this process', op: () => client.sign(csr.pem, planeRenewal) },
  { name: `gRPC Identity/Sign on loopback, renewal, ${concurrency} in flight`, what: 'control plane in this process', op: () => client.sign(csr.pem, planeRenewal), inFlight: concurrency },
];

/** Runs `row` for `seconds`; returns µs per operation (wall clock, so with N in flight it is 1/throughput). */
async function measure(row: Row): Promise<number> {
  const inFlight = row.inFlight ?? 1;
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
        await row.op();
        done++;
      }
    }),
  );
  return ((performance.now() - start) * 1000) / done;
}

for (const row of rows) for (let i = 0; i < 20; i++) await row.op(); // warm up
const samples = rows.map(() => [] as number[]);
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < rows.length; i++) {
    const k = (i + round) % rows.length; // rotate the order per round
    samples[k]!.push(await measure(rows[k]!));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const baselineUs = median(samples[0]!);
console.log(`\nCA issuance (Node ${process.version}, ${rounds} rounds of ${seconds} s, median; µs/op is wall time per operation)\n`);
console.log('| case | µs/op | per second | × baseline | what it includes |');
console.log('| --- | ---: | ---: | ---: | --- |');
rows.forEach((row, i) => {
  const us = median(samples[i]!);
  console.log(`| ${row.name} | ${us.toFixed(1)} | ${Math.round(1e6 / us).toLocaleString('en-US')} | ${(us / baselineUs).toFixed(1)} | ${row.what} |`);
});

client.close();
await plane.close();
await ca.close();
await rm(dir, { recursive: true, force: true });
