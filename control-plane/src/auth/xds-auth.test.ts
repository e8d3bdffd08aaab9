// Tests who the xDS port lets in: anonymous loopback only in loopback-plaintext mode, bootstrap tokens with uses left,
// and workload assertions whose x5c chain leads to the CA, whose key signed them and whose iat is fresh.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { createWorkloadAssertion } from '../../../src/identity/assertion.js';
import { generateWorkloadKey } from '../../../src/identity/csr.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { CertificateAuthority } from '../ca/authority.js';
import { recordingLogger, testRoot } from '../ca/ca-test-kit.js';
import { buildLeafCertificate, signerOf } from '../ca/issue.js';
import { BootstrapTokens } from './bootstrap-tokens.js';
import { XdsAuthenticator, isLoopbackPeer, type XdsAuthMode } from './xds-auth.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';

async function setup(mode: XdsAuthMode = 'loopback-plaintext') {
  const clock = new FakeClock(Date.now());
  const logger = recordingLogger();
  const ca = await CertificateAuthority.open({ stateDir: false, clock });
  const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
  const auth = new XdsAuthenticator({ mode, ca, tokens, nowMs: () => clock.nowMs(), logger });
  const md = (bearer?: string) => {
    const m = new grpc.Metadata();
    if (bearer !== undefined) m.set('authorization', bearer);
    return m;
  };
  const workload = (id = PAYMENTS) => {
    const key = generateWorkloadKey();
    const chain = ca.issue(key.publicKey, id).chainPem.map((p) => new X509Certificate(p));
    return { key, chain };
  };
  return { clock, logger, ca, tokens, auth, md, workload };
}

describe('XdsAuthenticator', { timeout: 20_000 }, () => {
  it('reads loopback peers as grpc-js reports them', () => {
    for (const peer of ['127.0.0.1:5000', '127.8.9.1:1', '::1:5000', '[::1]:5000', '::ffff:127.0.0.1:6000']) assert.ok(isLoopbackPeer(peer), peer);
    for (const peer of ['10.0.0.1:5000', '::ffff:10.0.0.1:1', '2001:db8::1:443', 'unknown', '128.0.0.1:1']) assert.ok(!isLoopbackPeer(peer), peer);
  });

  it('accepts unauthenticated callers from loopback only, and nobody unauthenticated under --xds-auth required', async () => {
    const { auth, md, logger } = await setup();
    const anon = await auth.authenticate(md(), '127.0.0.1:5000', 'ADS');
    assert.ok(anon.ok && !anon.caller.authenticated);
    const remote = await auth.authenticate(md(), '10.1.2.3:5000', 'ADS');
    assert.ok(!remote.ok && /accepted from loopback only and 10\.1\.2\.3:5000 is not loopback/.test(remote.error));
    const strict = (await setup('required')).auth;
    const refused = await strict.authenticate(md(), '127.0.0.1:5000', 'ADS');
    assert.ok(!refused.ok && /requires credentials \(--xds-auth required\)/.test(refused.error));
    assert.equal(logger.find('warn', /xds-auth: caller refused.*10\.1\.2\.3/).length, 1);
  });

  it('checks a credential that is sent, even from loopback: a bad one is never downgraded to anonymous', async () => {
    const { auth, md, logger } = await setup();
    for (const bearer of ['Bearer garbage', 'Basic abc', 'Bearer a.b.c']) {
      const r = await auth.authenticate(md(bearer), '127.0.0.1:1', 'registry Register');
      assert.ok(!r.ok, bearer);
    }
    assert.equal(logger.find('warn', /caller refused/).length, 3);
  });

  it('accepts a bootstrap token with uses left, and refuses it once its uses are spent', async () => {
    const { auth, md, tokens } = await setup('required');
    const issued = await tokens.create({ service: 'payments' });
    const r = await auth.authenticate(md(`Bearer ${issued.token}`), '10.0.0.5:1', 'ADS');
    assert.ok(r.ok && r.caller.authenticated && r.caller.spiffeId === PAYMENTS && r.caller.via === 'bootstrap-token');
    const grant = await tokens.check(issued.token);
    assert.ok(grant.ok && (await tokens.consume(grant.grant)).ok);
    const spent = await auth.authenticate(md(`Bearer ${issued.token}`), '10.0.0.5:1', 'ADS');
    assert.ok(!spent.ok && /already used/.test(spent.error), 'a used bootstrap token is not a lasting credential');
  });

  it('accepts a fresh workload assertion and refuses stale, foreign, mismatched and wrongly signed ones', async () => {
    const { auth, md, clock, workload, logger } = await setup('required');
    const { key, chain } = workload();
    const ok = await auth.authenticate(md(`Bearer ${createWorkloadAssertion(PAYMENTS, key.privateKey, chain, clock.nowMs())}`), '10.0.0.5:1', 'ADS');
    assert.ok(ok.ok && ok.caller.authenticated && ok.caller.spiffeId === PAYMENTS && ok.caller.via === 'workload-assertion');

    const stale = createWorkloadAssertion(PAYMENTS, key.privateKey, chain, clock.nowMs() - 90_000);
    const r1 = await auth.authenticate(md(`Bearer ${stale}`), '10.0.0.5:1', 'ADS');
    assert.ok(!r1.ok && /issued 9\d s ago \(at most 60 s either way/.test(r1.error), JSON.stringify(r1));

    const other = generateWorkloadKey();
    const r2 = await auth.authenticate(md(`Bearer ${createWorkloadAssertion(PAYMENTS, other.privateKey, chain, clock.nowMs())}`), '10.0.0.5:1', 'ADS');
    assert.ok(!r2.ok && /signature verification failed/.test(r2.error), 'signed by a key that is not the certificate\'s');

    const r3 = await auth.authenticate(md(`Bearer ${createWorkloadAssertion('spiffe://weft.local/ns/default/sa/admin', key.privateKey, chain, clock.nowMs())}`), '10.0.0.5:1', 'ADS');
    assert.ok(!r3.ok && /sub 'spiffe:\/\/weft\.local\/ns\/default\/sa\/admin' is not the certificate's identity/.test(r3.error));

    const evil = testRoot('weft.local', 'Evil');
    const k = generateWorkloadKey();
    const forged = buildLeafCertificate({ signer: signerOf(evil.cert, evil.key), publicKey: k.publicKey, spiffeId: PAYMENTS, notBeforeMs: clock.nowMs() - 1000, notAfterMs: clock.nowMs() + 60_000 });
    const r4 = await auth.authenticate(md(`Bearer ${createWorkloadAssertion(PAYMENTS, k.privateKey, [forged.x509], clock.nowMs())}`), '127.0.0.1:1', 'ADS');
    assert.ok(!r4.ok && /not issued by a CA in this mesh's trust bundle/.test(r4.error));

    clock.advance(25 * 3_600_000); // the certificate (24 h) has expired
    const r5 = await auth.authenticate(md(`Bearer ${createWorkloadAssertion(PAYMENTS, key.privateKey, chain, clock.nowMs())}`), '10.0.0.5:1', 'ADS');
    assert.ok(!r5.ok && /the certificate expired at/.test(r5.error));
    assert.equal(logger.find('warn', /workload assertion refused/).length, 5);
  });

  it('refuses an assertion whose x5c holds more certificates than a chain may, before verifying any', async () => {
    const { auth, md, clock, workload, logger } = await setup('required');
    const { key, chain } = workload();
    const junk = testRoot('weft.local', 'Junk').cert;
    const long = createWorkloadAssertion(PAYMENTS, key.privateKey, [...chain, ...Array<X509Certificate>(5).fill(junk)], clock.nowMs());
    const r = await auth.authenticate(md(`Bearer ${long}`), '10.0.0.5:1', 'ADS');
    assert.ok(!r.ok && r.error === 'the workload assertion x5c header holds 6 certificates; at most 5 (the leaf and its intermediates) are accepted', JSON.stringify(r));
    assert.equal(logger.find('warn', /x5c header holds 6/).length, 1);
  });

  it('remembers a verified assertion only while its iat window, its certificate and the trust bundle hold', async () => {
    const { auth, md, clock, workload, ca } = await setup('required');
    // Count the chain verifications the authenticator asks the CA for: what the cache exists to save.
    let verifications = 0;
    const verify = ca.verify.bind(ca);
    ca.verify = (chainPem) => {
      verifications++;
      return verify(chainPem);
    };
    const { key, chain } = workload();
    const jwt = `Bearer ${createWorkloadAssertion(PAYMENTS, key.privateKey, chain, clock.nowMs())}`;
    for (let i = 0; i < 3; i++) {
      const r = await auth.authenticate(md(jwt), `10.0.0.${i}:1`, 'registry KeepAlive');
      assert.ok(r.ok && r.caller.peer === `10.0.0.${i}:1`, 'a remembered verdict carries the new peer');
    }
    assert.equal(verifications, 1, 'three calls with one assertion: verified once');
    await ca.rotate({ activateAfterMs: 3_600_000 }); // the bundle changes: verified again (and still fine)
    const again = await auth.authenticate(md(jwt), '10.0.0.9:1', 'registry KeepAlive');
    assert.ok(again.ok && again.caller.peer === '10.0.0.9:1');
    assert.equal(verifications, 2, 'a new trust bundle forgets the verdict');
    assert.ok((await auth.authenticate(md(jwt), '10.0.0.9:1', 'registry KeepAlive')).ok);
    assert.equal(verifications, 2, 'and remembers the new one');
    clock.advance(61_000); // past the iat window: the remembered verdict lapses with it
    const late = await auth.authenticate(md(jwt), '10.0.0.9:1', 'registry KeepAlive');
    assert.ok(!late.ok && /issued 6\d s ago/.test(late.error), JSON.stringify(late));
    assert.equal(verifications, 3, 'checked again, not answered from the cache');
  });
});
