// Tests the enrolment decision against the attacks it must refuse (each refused with the right status and logged),
// with a real CA, real tokens and real CSRs; fake clock, no network.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { createCsr, generateWorkloadKey, type KeyPair } from '../../../src/identity/csr.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { BootstrapTokens } from '../auth/bootstrap-tokens.js';
import { CertificateAuthority } from './authority.js';
import { recordingLogger, testRoot } from './ca-test-kit.js';
import { buildLeafCertificate, signerOf } from './issue.js';
import { RateLimiter } from './rate-limiter.js';
import { signWorkloadCsr, type SignCredential, type SignDeps } from './sign.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';
const ADMIN = 'spiffe://weft.local/ns/default/sa/admin';

async function setup(ratePerSecond = 0) {
  const clock = new FakeClock(Date.now());
  const logger = recordingLogger();
  const ca = await CertificateAuthority.open({ stateDir: false, certTtlMs: 3_600_000, clock, logger });
  const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
  const deps: SignDeps = { ca, tokens, limiter: new RateLimiter(ratePerSecond, { nowMs: () => clock.nowMs() }), logger };
  const sign = (csrPem: string, credential: SignCredential) => signWorkloadCsr(deps, { csr: csrPem, credential, peer: '10.0.0.9:4242' });
  const enrol = async (key: KeyPair = generateWorkloadKey(), id = PAYMENTS) => {
    const { token } = await tokens.create({ service: 'payments' });
    const out = await sign(createCsr(key, id).pem, { kind: 'bootstrap-token', token });
    assert.ok(out.ok, JSON.stringify(out));
    return { key, answer: out.value };
  };
  const renewal = (chainPem: readonly string[], signingKey: crypto.KeyObject, csr: { der: Buffer }): SignCredential => ({
    kind: 'renewal',
    chainPem,
    signature: crypto.sign('sha256', csr.der, signingKey),
  });
  return { clock, logger, ca, tokens, deps, sign, enrol, renewal };
}

describe('signWorkloadCsr', { timeout: 20_000 }, () => {
  it('signs the identity the token grants and answers the chain, the bundle and the expiry', async () => {
    const { enrol, ca, logger } = await setup();
    const { answer } = await enrol();
    assert.equal(answer.spiffeId, PAYMENTS);
    assert.deepEqual(answer.trustBundle, ca.trustBundlePem());
    assert.ok(ca.verify(answer.certificateChain).ok);
    assert.equal(logger.find('info', /identity: certificate issued.*sa\/payments.*bootstrap-token/).length, 1);
  });

  it('refuses a CSR for an identity the token does not grant (PERMISSION_DENIED, logged) without burning the token', async () => {
    const { sign, tokens, logger } = await setup();
    const { token, jti } = await tokens.create({ service: 'payments' });
    const out = await sign(createCsr(generateWorkloadKey(), ADMIN).pem, { kind: 'bootstrap-token', token });
    assert.ok(!out.ok && out.code === 'PERMISSION_DENIED');
    assert.equal(out.ok ? '' : out.message, `the CSR asks for ${ADMIN} but the bootstrap token grants ${PAYMENTS}; the CA signs only the granted identity`);
    const logged = logger.find('warn', /identity: CSR refused/);
    assert.equal(logged.length, 1);
    assert.deepEqual([logged[0]!.fields['peer'], logged[0]!.fields['code'], logged[0]!.fields['jti'], logged[0]!.fields['requested']], ['10.0.0.9:4242', 'PERMISSION_DENIED', jti, [ADMIN]]);
    // The legitimate CSR still works with the same token.
    assert.ok((await sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token })).ok);
  });

  it('signs the same key again for a spent token (its answer was lost), but no other key', async () => {
    const { sign, tokens } = await setup();
    const { token } = await tokens.create({ service: 'payments' });
    const key = generateWorkloadKey();
    const first = await sign(createCsr(key, PAYMENTS).pem, { kind: 'bootstrap-token', token });
    assert.ok(first.ok);
    const again = await sign(createCsr(key, PAYMENTS).pem, { kind: 'bootstrap-token', token });
    assert.ok(again.ok, JSON.stringify(again));
    assert.notEqual(again.value.certificateChain[0], first.value.certificateChain[0]);
    const other = await sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token });
    assert.ok(!other.ok && other.code === 'UNAUTHENTICATED' && /replayed\?/.test(other.message), JSON.stringify(other));
  });

  it('refuses a replayed token, an expired token and a token signed by another key (UNAUTHENTICATED, logged)', async () => {
    const { sign, tokens, logger, clock } = await setup();
    const csr = () => createCsr(generateWorkloadKey(), PAYMENTS).pem;
    const { token } = await tokens.create({ service: 'payments' });
    assert.ok((await sign(csr(), { kind: 'bootstrap-token', token })).ok);
    const replay = await sign(csr(), { kind: 'bootstrap-token', token });
    assert.ok(!replay.ok && replay.code === 'UNAUTHENTICATED' && /already used \(1 of 1 use\): replayed\?/.test(replay.message), JSON.stringify(replay));

    const short = await tokens.create({ service: 'payments', ttlMs: 5_000 });
    clock.advance(6_000);
    const expired = await sign(csr(), { kind: 'bootstrap-token', token: short.token });
    assert.ok(!expired.ok && expired.code === 'UNAUTHENTICATED' && /expired/.test(expired.message));

    const elsewhere = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
    const foreign = await sign(csr(), { kind: 'bootstrap-token', token: (await elsewhere.create({ service: 'payments' })).token });
    assert.ok(!foreign.ok && foreign.code === 'UNAUTHENTICATED' && /not signed by this control plane's token key/.test(foreign.message));

    const none = await sign(csr(), { kind: 'none' });
    assert.ok(!none.ok && none.code === 'UNAUTHENTICATED' && /no credential/.test(none.message));
    assert.deepEqual(
      logger.find('warn', /identity: CSR refused/).map((e) => e.fields['tokenCheck'] ?? e.fields['credential']),
      ['replayed', 'expired', 'signature', 'none'],
    );
  });

  it('renews with a proof by the current key, into the same identity only', async () => {
    const { enrol, sign, renewal, logger } = await setup();
    const { key, answer } = await enrol();
    const next = generateWorkloadKey();
    const csr = createCsr(next, PAYMENTS);
    const renewed = await sign(csr.pem, renewal(answer.certificateChain, key.privateKey, csr));
    assert.ok(renewed.ok && renewed.value.spiffeId === PAYMENTS);
    assert.equal(logger.find('info', /certificate issued.*"via":"renewal"/).length, 1);

    const escalate = createCsr(generateWorkloadKey(), ADMIN);
    const denied = await sign(escalate.pem, renewal(answer.certificateChain, key.privateKey, escalate));
    assert.ok(!denied.ok && denied.code === 'PERMISSION_DENIED' && /the current certificate grants .*sa\/payments/.test(denied.message));

    // Someone holding the (public) certificate but not its key cannot renew it.
    const stolen = createCsr(generateWorkloadKey(), PAYMENTS);
    const thief = await sign(stolen.pem, renewal(answer.certificateChain, generateWorkloadKey().privateKey, stolen));
    assert.ok(!thief.ok && thief.code === 'UNAUTHENTICATED' && /proof signature does not verify/.test(thief.message));
  });

  it('refuses renewal with a certificate from a foreign CA, and with an expired certificate', async () => {
    const { enrol, sign, renewal, clock, logger } = await setup();
    // A certificate for the same SPIFFE ID, but from a CA the mesh does not trust.
    const foreignCa = testRoot('weft.local', 'Evil Root');
    const k = generateWorkloadKey();
    const forged = buildLeafCertificate({ signer: signerOf(foreignCa.cert, foreignCa.key), publicKey: k.publicKey, spiffeId: PAYMENTS, notBeforeMs: clock.nowMs() - 1000, notAfterMs: clock.nowMs() + 3_600_000 });
    const csr = createCsr(generateWorkloadKey(), PAYMENTS);
    const foreign = await sign(csr.pem, renewal([forged.pem], k.privateKey, csr));
    assert.ok(!foreign.ok && foreign.code === 'UNAUTHENTICATED', JSON.stringify(foreign));
    assert.match(foreign.ok ? '' : foreign.message, /renewal refused: the certificate for spiffe:\/\/weft\.local\/ns\/default\/sa\/payments \(issuer O=weft, CN=Evil Root\) is not issued by a CA in this mesh's trust bundle/);

    const { key, answer } = await enrol();
    clock.advance(3_600_000 + 1_000);
    const late = createCsr(generateWorkloadKey(), PAYMENTS);
    const expired = await sign(late.pem, renewal(answer.certificateChain, key.privateKey, late));
    assert.ok(!expired.ok && expired.code === 'UNAUTHENTICATED');
    assert.match(expired.ok ? '' : expired.message, /renewal refused: the certificate expired at .*; an expired certificate cannot be renewed, enrol again with a bootstrap token/);
    assert.deepEqual(logger.find('warn', /CSR refused/).map((e) => e.fields['chainCheck']), ['untrusted', 'expired']);
  });

  it('refuses an over-long or oversized renewal chain with INVALID_ARGUMENT saying the limit, before walking it', async () => {
    const { enrol, sign, renewal, logger } = await setup();
    const { key, answer } = await enrol();
    const junk = testRoot('weft.local', 'Junk').pem;
    const csr = createCsr(generateWorkloadKey(), PAYMENTS);
    // Valid leaf first: without the limit the CA would parse all 5,000 and then accept the renewal.
    const padded = await sign(csr.pem, renewal([...answer.certificateChain, ...Array<string>(5_000).fill(junk)], key.privateKey, csr));
    assert.ok(!padded.ok && padded.code === 'INVALID_ARGUMENT', JSON.stringify(padded));
    assert.match(padded.ok ? '' : padded.message, /renewal refused: certificate chain: the chain is \d+ bytes of PEM; at most 32768 are accepted/);
    const six = await sign(csr.pem, renewal([...answer.certificateChain, ...Array<string>(5).fill(junk)], key.privateKey, csr));
    assert.ok(!six.ok && six.code === 'INVALID_ARGUMENT' && /the chain holds 6 certificates; at most 5 \(the leaf and its intermediates\) are accepted/.test(six.message), JSON.stringify(six));
    assert.deepEqual(logger.find('warn', /CSR refused/).map((e) => e.fields['chainCheck']), ['malformed', 'malformed']);
    assert.ok((await sign(csr.pem, renewal(answer.certificateChain, key.privateKey, csr))).ok, 'the real chain still renews');
  });

  it('refuses malformed CSRs with INVALID_ARGUMENT saying what is wrong', async () => {
    const { sign, tokens } = await setup();
    const { token } = await tokens.create({ service: 'payments', uses: 10 });
    const cred: SignCredential = { kind: 'bootstrap-token', token };
    const expectRefusal = async (csrPem: string, pattern: RegExp) => {
      const out = await sign(csrPem, cred);
      assert.ok(!out.ok && out.code === 'INVALID_ARGUMENT', JSON.stringify(out));
      assert.match(out.ok ? '' : out.message, pattern);
    };
    await expectRefusal('', /csr is empty/);
    await expectRefusal('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', /not a PKCS#10 request/);
    const good = createCsr(generateWorkloadKey(), PAYMENTS);
    await expectRefusal(good.pem + good.pem, /exactly one PEM "CERTIFICATE REQUEST" block, found 2/);
    const tampered = Buffer.from(good.der);
    tampered[tampered.indexOf('sa/payments') + 3] = 'q'.charCodeAt(0); // the requested SAN edited after signing
    await expectRefusal(`-----BEGIN CERTIFICATE REQUEST-----\n${tampered.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`, /csr signature does not verify with its own key/);
    const p384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await expectRefusal(createCsr(p384, PAYMENTS).pem, /csr key is EC secp384r1; workload keys must be ECDSA P-256/);
    assert.equal((await tokens.check(token)).ok, true, 'no use was counted for refused CSRs');
  });

  it('counts only authenticated requests against the signing rate: garbage Sign calls cannot starve an enrolment', async () => {
    const { sign, tokens, enrol, renewal, logger } = await setup(5);
    const { key, answer } = await enrol(); // one of the 5
    const csr = createCsr(generateWorkloadKey(), PAYMENTS);
    const elsewhere = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local' });
    const forged = (await elsewhere.create({ service: 'payments' })).token;
    const garbage: SignCredential[] = [
      { kind: 'none' },
      { kind: 'bootstrap-token', token: 'not.a.jwt' },
      { kind: 'bootstrap-token', token: forged },
      renewal(answer.certificateChain, generateWorkloadKey().privateKey, csr), // a stolen certificate without its key
    ];
    const codes = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const out = await sign(csr.pem, garbage[i % garbage.length]!);
      codes.add(out.ok ? 'ok' : out.code);
    }
    assert.deepEqual([...codes].sort(), ['UNAUTHENTICATED']);
    const { token } = await tokens.create({ service: 'payments' });
    const legit = await sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token });
    assert.ok(legit.ok, `a legitimate enrolment after 40 refused calls: ${JSON.stringify(legit)}`);
    const renewed = await sign(csr.pem, renewal(answer.certificateChain, key.privateKey, csr));
    assert.ok(renewed.ok, JSON.stringify(renewed));
    assert.equal(logger.find('warn', /RESOURCE_EXHAUSTED/).length, 0);
  });

  it('limits signing to the configured rate with RESOURCE_EXHAUSTED and a retry time', async () => {
    const { sign, tokens, clock, logger } = await setup(5);
    const { token } = await tokens.create({ service: 'payments', uses: 100 });
    const csr = createCsr(generateWorkloadKey(), PAYMENTS).pem;
    const outcomes = [];
    for (let i = 0; i < 7; i++) outcomes.push(await sign(csr, { kind: 'bootstrap-token', token }));
    assert.deepEqual(outcomes.map((o) => (o.ok ? 'ok' : o.code)), ['ok', 'ok', 'ok', 'ok', 'ok', 'RESOURCE_EXHAUSTED', 'RESOURCE_EXHAUSTED']);
    const refused = outcomes[5]!;
    assert.ok(!refused.ok && refused.retryAfterMs === 200 && /limited to 5 per second on this control plane; retry in 200 ms/.test(refused.message));
    clock.advance(200);
    assert.ok((await sign(csr, { kind: 'bootstrap-token', token })).ok, 'a token comes back after 1/rate seconds');
    assert.equal(logger.find('warn', /RESOURCE_EXHAUSTED/).length, 2);
  });
});
