// Tests WorkloadIdentity against a real in-process CA and real tokens (no network): enrolment, renewal at half-life
// with jitter, backoff while the last good certificate serves, expiry, refused tokens, SDS bundles. Fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { ERROR_CODES, isMeshError } from '../core/errors.js';
import { NOOP_LOGGER } from '../core/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { BootstrapTokens } from '../../control-plane/src/auth/bootstrap-tokens.js';
import { CertificateAuthority } from '../../control-plane/src/ca/authority.js';
import { recordingLogger } from '../../control-plane/src/ca/ca-test-kit.js';
import { RateLimiter } from '../../control-plane/src/ca/rate-limiter.js';
import { signWorkloadCsr } from '../../control-plane/src/ca/sign.js';
import { refusalError, type Enroller, type SignResult } from './enrolment-client.js';
import type { TokenSource } from './token-source.js';
import { WorkloadIdentity, type WorkloadCertificate } from './workload-identity.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';
const LIFETIME_MS = 60_000;
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));
/** Turns the event loop (no timers) until `pred` holds: for work on real I/O (a token file). Bounded at 5 s. */
async function until(pred: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`not within 5 s: ${what}`);
    await tick();
  }
}

async function setup(options: { service?: string; token?: (t: BootstrapTokens) => Promise<TokenSource>; random?: () => number; tamper?: (r: SignResult) => SignResult } = {}) {
  const clock = new FakeClock(Date.now());
  const logger = recordingLogger();
  const ca = await CertificateAuthority.open({ stateDir: false, certTtlMs: LIFETIME_MS, clock });
  const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
  const deps = { ca, tokens, limiter: new RateLimiter(0), logger: NOOP_LOGGER };
  const calls: string[] = [];
  // gRPC codes the transport fails with next (the control plane unreachable, overloaded...), with a retry-after if given.
  const outages: (string | { readonly code: string; readonly retryAfterMs: number })[] = [];
  let tamper: ((r: SignResult) => SignResult) | undefined = options.tamper;
  let settle: (() => void) | undefined;
  const enrol: Enroller = async (csr, credential) => {
    calls.push(credential.kind);
    try {
      const outage = outages.shift();
      if (typeof outage === 'string') throw refusalError(outage, 'scripted outage');
      if (outage !== undefined) throw refusalError(outage.code, 'scripted outage', outage.retryAfterMs);
      const out = await signWorkloadCsr(deps, { csr, credential, peer: 'in-process' });
      if (!out.ok) throw refusalError(out.code, out.message, out.retryAfterMs);
      const result = { chainPem: out.value.certificateChain, trustBundlePem: out.value.trustBundle, spiffeId: out.value.spiffeId, expiresAtMs: out.value.expiresAtMs };
      return tamper ? tamper(result) : result;
    } finally {
      const s = settle;
      settle = undefined;
      setImmediate(() => s?.());
    }
  };
  const source = options.token ? await options.token(tokens) : ({ kind: 'value', token: (await tokens.create({ service: 'payments' })).token, from: 'WEFT_TOKEN' } as const);
  const changes: (WorkloadCertificate | undefined)[] = [];
  /** Runs due timers, then waits for the enrolment they started to be handled. */
  const advance = async (ms: number) => {
    const settled = new Promise<void>((resolve) => (settle = resolve));
    const before = calls.length;
    clock.advance(ms);
    await tick(); // an attempt reads its token first, then calls the CA
    if (calls.length > before) await settled;
    await tick();
  };
  const identity = new WorkloadIdentity({ service: options.service ?? 'payments', token: source, enrol, clock, random: options.random ?? (() => 0.5), logger });
  identity.onChange((c) => changes.push(c));
  await advance(0); // the first enrolment starts at once
  return { clock, logger, ca, tokens, identity, calls, outages, changes, advance, setTamper: (t: typeof tamper) => (tamper = t) };
}

describe('WorkloadIdentity', { timeout: 20_000 }, () => {
  it('enrols with the bootstrap token, then presents workload assertions instead of the token', async () => {
    const { identity, calls, changes, clock } = await setup();
    await identity.whenReady();
    const cert = identity.current()!;
    assert.equal(cert.spiffeId, PAYMENTS);
    assert.deepEqual(calls, ['bootstrap-token']);
    assert.equal(changes.length, 1);
    const leaf = new X509Certificate(cert.certificateChainPem);
    assert.ok(leaf.checkPrivateKey(cert.privateKey));
    assert.equal(cert.notAfterMs, Math.floor((clock.nowMs() + LIFETIME_MS) / 1000) * 1000);
    const status = identity.status();
    assert.deepEqual([status.state, status.spiffeId, status.renewals, status.lastError, status.trustBundle], ['ready', PAYMENTS, 1, undefined, { roots: 1, source: 'enrolment' }]);
    const credential = identity.xdsCredential()!;
    assert.ok(Array.isArray(decodeProtectedHeader(credential).x5c), 'a workload assertion, not the token');
    assert.equal(identity.xdsCredential(), credential, 'cached for a while');
    identity.close();
  });

  it('asks again with the same key when the answer to its enrolment was lost, and gets it signed for the single-use token', async () => {
    let answers = 0;
    const loseFirst = (r: SignResult): SignResult => {
      if (answers++ === 0) throw refusalError('DEADLINE_EXCEEDED', 'the answer was lost after the CA signed');
      return r;
    };
    const { identity, calls, advance } = await setup({ tamper: loseFirst });
    assert.equal(identity.current(), undefined);
    assert.match(identity.status().lastError ?? '', /the answer was lost after the CA signed/);
    await advance(1_000);
    assert.deepEqual(calls, ['bootstrap-token', 'bootstrap-token']);
    const cert = identity.current();
    assert.ok(cert !== undefined, `enrolled on the retry: ${identity.status().lastError}`);
    assert.ok(new X509Certificate(cert.certificateChainPem).checkPrivateKey(cert.privateKey));
    identity.close();
  });

  it('renews at half the lifetime with a new key, again and again, announcing each new serial', async () => {
    const { identity, calls, changes, advance } = await setup();
    const serials = [identity.current()!.serialNumber];
    for (let i = 0; i < 3; i++) {
      await advance(LIFETIME_MS / 2 - 1_000);
      assert.equal(calls.length, i + 1, 'not before half-life');
      await advance(1_000);
      assert.equal(calls.at(-1), 'renewal');
      serials.push(identity.current()!.serialNumber);
    }
    assert.equal(new Set(serials).size, 4);
    assert.deepEqual(changes.map((c) => c?.serialNumber), serials);
    assert.equal(new Set(changes.map((c) => c!.privateKeyPem)).size, 4, 'every renewal has a new key');
    assert.equal(identity.status().renewals, 4);
    identity.close();
  });

  it('spreads renewals with jitter between 40 % and 60 % of the lifetime', async () => {
    for (const [random, fraction] of [[0, 0.4], [0.999999, 0.6]] as const) {
      const { identity, calls, advance } = await setup({ random: () => random });
      const renewAt = identity.status().nextRenewalAtMs! - identity.current()!.notBeforeMs - 60_000; // notBefore is backdated 60 s
      assert.ok(Math.abs(renewAt - LIFETIME_MS * fraction) < 1_000, `${renewAt} vs ${LIFETIME_MS * fraction}`);
      await advance(LIFETIME_MS * fraction + 1_000);
      assert.deepEqual(calls, ['bootstrap-token', 'renewal']);
      identity.close();
    }
  });

  it('keeps serving the current certificate while renewal fails, retrying with backoff, and recovers', async () => {
    const { identity, outages, calls, advance, changes, logger } = await setup();
    const first = identity.current()!;
    outages.push('UNAVAILABLE', 'UNAVAILABLE');
    await advance(LIFETIME_MS / 2);
    assert.equal(identity.current(), first, 'the old certificate keeps serving');
    assert.match(identity.status().lastError ?? '', /enrolment with the control plane failed \(UNAVAILABLE\): scripted outage/);
    assert.equal(logger.find('warn', /renewal failed; the current certificate keeps serving/).length, 1);
    await advance(999);
    assert.equal(calls.length, 2, 'first retry after 1 s');
    await advance(1);
    assert.equal(calls.length, 3);
    await advance(2_000); // second retry after 2 s
    assert.equal(calls.length, 4);
    assert.notEqual(identity.current()!.serialNumber, first.serialNumber);
    assert.equal(identity.status().lastError, undefined);
    assert.equal(changes.length, 2, 'no change was announced while renewal failed');
    identity.close();
  });

  it("waits at least the CA's retry-after on RESOURCE_EXHAUSTED, spread after it by jitter", async () => {
    // random 0 → exactly the retry-after; random 0.5 → 5 % after it (the base backoff, 1 s, is shorter here).
    for (const [random, waitMs] of [[0, 5_000], [0.5, 5_250]] as const) {
      const { identity, outages, calls, advance, clock } = await setup({ random: () => random });
      outages.push({ code: 'RESOURCE_EXHAUSTED', retryAfterMs: 5_000 });
      await advance(identity.status().nextRenewalAtMs! - clock.nowMs());
      assert.equal(calls.length, 2, 'the renewal was refused');
      assert.match(identity.status().lastError ?? '', /RESOURCE_EXHAUSTED/);
      await advance(waitMs - 1);
      assert.equal(calls.length, 2, `not before ${waitMs} ms`);
      await advance(1);
      assert.equal(calls.length, 3, `retried at ${waitMs} ms`);
      assert.equal(identity.status().lastError, undefined);
      identity.close();
    }
  });

  it('drops an expired certificate it could not renew, then falls back to the (used) token and says so', async () => {
    const { identity, outages, advance, changes, calls } = await setup();
    for (let i = 0; i < 20; i++) outages.push('UNAVAILABLE');
    await advance(LIFETIME_MS / 2);
    for (let i = 0; i < 8 && identity.current() !== undefined; i++) await advance(10_000);
    assert.equal(identity.current(), undefined);
    assert.equal(changes.at(-1), undefined, 'onChange(undefined) on expiry');
    assert.equal(identity.status().state, 'expired');
    outages.length = 0;
    await advance(30_000);
    assert.equal(calls.at(-1), 'bootstrap-token', 'an expired certificate cannot renew: the token is tried');
    assert.equal(identity.status().state, 'failed');
    assert.match(identity.status().lastError ?? '', /UNAUTHENTICATED.*already used.*replayed/);
    identity.close();
  });

  it('fails at once, without calling the CA, for a token granting another service or one that is not a JWT', async () => {
    const wrong = await setup({ service: 'checkout' });
    await assert.rejects(wrong.identity.whenReady(), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.IDENTITY));
      assert.equal(e.message, `WEFT_TOKEN grants ${PAYMENTS}, but this process is service 'checkout'; create a token with \`weft token create --service checkout\``);
      return true;
    });
    assert.deepEqual(wrong.calls, []);
    assert.equal(wrong.identity.status().state, 'failed');
    wrong.identity.close();
    const garbage = await setup({ token: async () => ({ kind: 'value', token: 'hello', from: 'WEFT_TOKEN' }) });
    await assert.rejects(garbage.identity.whenReady(), /WEFT_TOKEN is not a bootstrap token: it is not a JWT/);
    garbage.identity.close();
  });

  it('reads a token file at each attempt: a missing file is reported, a file written later is used', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-token-'));
    try {
      const file = path.join(dir, 'token');
      let tokens: BootstrapTokens | undefined;
      const { identity, advance } = await setup({
        token: async (t) => {
          tokens = t;
          return { kind: 'file', file };
        },
      });
      await until(() => identity.status().lastError !== undefined, 'the first attempt to fail'); // the file read is real I/O
      assert.match(identity.status().lastError ?? '', /cannot read the bootstrap token file .*token \(ENOENT\)/);
      await writeFile(file, `${(await tokens!.create({ service: 'payments' })).token}\n`);
      await advance(1_000);
      await until(() => identity.current() !== undefined, 'a certificate from the token in the file');
      assert.equal(identity.current()?.spiffeId, PAYMENTS);
      identity.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('takes the trust bundle from SDS, announcing the same certificate with the new roots', async () => {
    const { identity, ca, changes } = await setup();
    const serial = identity.current()!.serialNumber;
    await ca.rotate({ activateAfterMs: 60_000 });
    identity.setTrustBundle(ca.trustBundlePem());
    assert.equal(changes.length, 2);
    assert.equal(changes[1]!.serialNumber, serial);
    assert.equal((changes[1]!.trustBundlePem.match(/BEGIN CERTIFICATE/g) ?? []).length, 2);
    assert.deepEqual(identity.status().trustBundle, { roots: 2, source: 'sds' });
    identity.setTrustBundle(['garbage']); // ignored, logged
    assert.equal(identity.current()!.trustBundle.length, 2);
    identity.close();
  });

  it('refuses an answer for another key or identity, keeping what it has', async () => {
    const { identity, setTamper, advance, ca } = await setup();
    const first = identity.current()!;
    const stranger = ca.issue((await import('./csr.js')).generateWorkloadKey().publicKey, PAYMENTS);
    setTamper((r) => ({ ...r, chainPem: stranger.chainPem }));
    await advance(LIFETIME_MS / 2);
    assert.equal(identity.current(), first);
    assert.match(identity.status().lastError ?? '', /answered a certificate for another key/);
    identity.close();
  });

  it('holds a 60-day certificate on the real clock: no early expiry, no renewal loop (timers past 2^31-1 ms re-arm)', async () => {
    const ca = await CertificateAuthority.open({ stateDir: false, certTtlMs: 60 * 86_400_000 });
    const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local' });
    const deps = { ca, tokens, limiter: new RateLimiter(0), logger: NOOP_LOGGER };
    let signs = 0;
    const enrol: Enroller = async (csr, credential) => {
      signs++;
      const out = await signWorkloadCsr(deps, { csr, credential, peer: 'in-process' });
      if (!out.ok) throw refusalError(out.code, out.message, out.retryAfterMs);
      return { chainPem: out.value.certificateChain, trustBundlePem: out.value.trustBundle, spiffeId: out.value.spiffeId, expiresAtMs: out.value.expiresAtMs };
    };
    const { token } = await tokens.create({ service: 'payments', uses: 100 });
    const keepAlive = setInterval(() => {}, 1_000); // REAL_CLOCK's timers are unref'd: hold the loop for the test
    const identity = new WorkloadIdentity({ service: 'payments', token: { kind: 'value', token, from: 'WEFT_TOKEN' }, enrol }); // REAL_CLOCK
    try {
      await identity.whenReady();
      // Plain setTimeout runs a delay over ~24.8 days after 1 ms: the expiry timer (60 d) dropped the certificate and the
      // renewal timer (~30 d) renewed again and again. Give such timers time to misfire.
      for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 10));
      const status = identity.status();
      assert.equal(status.state, 'ready');
      assert.ok(identity.current() !== undefined, 'the certificate is still held');
      assert.equal(signs, 1, 'no renewal loop');
      assert.ok(status.nextRenewalAtMs! - Date.now() > 23 * 86_400_000, `renewal at 40-60 % of 60 days (24 to 36 days), got ${status.nextRenewalAtMs! - Date.now()} ms`);
    } finally {
      clearInterval(keepAlive);
      identity.close();
      await ca.close();
    }
  });

  it('stops on close(): no more enrolment, whenReady() rejects when nothing was obtained', async () => {
    const { identity, calls, advance } = await setup();
    identity.close();
    await advance(LIFETIME_MS);
    assert.deepEqual(calls, ['bootstrap-token']);
    // Closed before its first attempt: whenReady() says so instead of waiting forever.
    const idle = new WorkloadIdentity({ service: 'payments', token: { kind: 'value', token: 'x', from: 'test' }, enrol: async () => assert.fail('no call'), clock: new FakeClock() });
    idle.close();
    await assert.rejects(idle.whenReady(), (e: unknown) => isMeshError(e, ERROR_CODES.CLOSED));
    assert.equal(idle.status().state, 'closed');
  });
});
