// The control plane's identity parts over real gRPC and HTTP on loopback: enrolment and renewal, the attacks it must
// refuse (each with its status and a log line), xDS caller authentication, SDS trust bundle and root rotation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { isMeshError } from '../../src/core/errors.js';
import { TYPE_URL, protos, type ProtoObject } from '../../src/discovery/xds/protos.js';
import { createWorkloadAssertion } from '../../src/identity/assertion.js';
import { createCsr, generateWorkloadKey } from '../../src/identity/csr.js';
import { IdentityClient, type SignResult } from '../../src/identity/enrolment-client.js';
import { AdsTestClient } from '../../control-plane/src/server/ads-test-client.js';
import { recordingLogger, testRoot } from '../../control-plane/src/ca/ca-test-kit.js';
import { buildLeafCertificate, signerOf } from '../../control-plane/src/ca/issue.js';
import { serviceYaml, startTestControlPlane, type TestControlPlane } from './helpers.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';
const CHECKOUT = 'spiffe://weft.local/ns/default/sa/checkout';

/** The Sign refusal's gRPC code, from the MeshError the SDK client turns it into. */
async function refusal(p: Promise<SignResult>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e: unknown) {
    assert.ok(isMeshError(e, 'WEFT_ERR_IDENTITY'), String(e));
    return { code: String(e.details['grpcCode']), message: e.message };
  }
  throw new Error('expected a refusal');
}

function registryCall(address: string, method: 'Register' | 'KeepAlive', request: ProtoObject, bearer: string): Promise<ProtoObject> {
  const Ctor = grpc.makeGenericClientConstructor(protos().registryService, 'Registry');
  const client = new Ctor(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${bearer}`);
  return new Promise((resolve, reject) => {
    (client as unknown as Record<string, (r: ProtoObject, m: grpc.Metadata, cb: (e: grpc.ServiceError | null, v: ProtoObject) => void) => void>)[method]!.call(client, request, md, (e, v) => {
      client.close();
      if (e) reject(e);
      else resolve(v);
    });
  });
}

describe('identity on a running control plane', { timeout: 60_000 }, () => {
  let tcp: TestControlPlane;
  let other: TestControlPlane;
  let client: IdentityClient;
  const logger = recordingLogger();
  const token = async (service: string, extra: Record<string, unknown> = {}, on = () => tcp): Promise<string> => {
    const r = await on().admin('POST', '/v1/tokens', { service, ...extra });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return String(r.body['token']);
  };
  const enrol = async (service: string, id: string) => {
    const key = generateWorkloadKey();
    const answer = await client.sign(createCsr(key, id).pem, { kind: 'bootstrap-token', token: await token(service) });
    return { key, answer, chain: answer.chainPem.map((p) => new X509Certificate(p)) };
  };

  before(async () => {
    tcp = await startTestControlPlane({ 'svc.yaml': `${serviceYaml('payments')}---\n${serviceYaml('checkout')}` }, { logger, security: { xdsAuth: 'required' } });
    other = await startTestControlPlane({}, { security: { certTtlMs: 2_000 } });
    client = new IdentityClient({ server: tcp.cp.xdsAddress });
  });
  after(async () => {
    client.close();
    await tcp.close();
    await other.close();
  });

  it('enrols with a token from the admin API, then renews with a proof by the current key', async () => {
    const { key, answer } = await enrol('payments', PAYMENTS);
    assert.equal(answer.spiffeId, PAYMENTS);
    assert.deepEqual(answer.trustBundlePem, tcp.cp.ca.trustBundlePem());
    const leaf = new X509Certificate(answer.chainPem[0]!);
    assert.ok(leaf.checkIssued(new X509Certificate(answer.trustBundlePem[0]!)));
    assert.equal(answer.expiresAtMs, Date.parse(leaf.validTo));
    const next = generateWorkloadKey();
    const csr = createCsr(next, PAYMENTS);
    const renewed = await client.sign(csr.pem, { kind: 'renewal', chainPem: answer.chainPem, signature: crypto.sign('sha256', csr.der, key.privateKey) });
    assert.ok(new X509Certificate(renewed.chainPem[0]!).publicKey.equals(next.publicKey));
  });

  it('refuses each attack over the wire with its status, and logs it', async () => {
    const csr = (id = PAYMENTS) => createCsr(generateWorkloadKey(), id).pem;
    const before = logger.find('warn', /identity: CSR refused/).length;

    const escalate = await refusal(client.sign(csr('spiffe://weft.local/ns/default/sa/admin'), { kind: 'bootstrap-token', token: await token('payments') }));
    assert.equal(escalate.code, 'PERMISSION_DENIED');
    assert.match(escalate.message, /the CSR asks for spiffe:\/\/weft\.local\/ns\/default\/sa\/admin but the bootstrap token grants spiffe:\/\/weft\.local\/ns\/default\/sa\/payments/);

    const once = await token('payments');
    await client.sign(csr(), { kind: 'bootstrap-token', token: once });
    const replay = await refusal(client.sign(csr(), { kind: 'bootstrap-token', token: once }));
    assert.deepEqual([replay.code, /replayed\?/.test(replay.message)], ['UNAUTHENTICATED', true]);

    const foreignToken = await refusal(client.sign(csr(), { kind: 'bootstrap-token', token: await token('payments', {}, () => other) }));
    assert.equal(foreignToken.code, 'UNAUTHENTICATED');
    assert.match(foreignToken.message, /not signed by this control plane's token key/);

    const evil = testRoot('weft.local', 'Evil Root');
    const k = generateWorkloadKey();
    const forged = buildLeafCertificate({ signer: signerOf(evil.cert, evil.key), publicKey: k.publicKey, spiffeId: PAYMENTS, notBeforeMs: Date.now() - 1000, notAfterMs: Date.now() + 60_000 });
    const renewCsr = createCsr(generateWorkloadKey(), PAYMENTS);
    const foreignCa = await refusal(client.sign(renewCsr.pem, { kind: 'renewal', chainPem: [forged.pem], signature: crypto.sign('sha256', renewCsr.der, k.privateKey) }));
    assert.equal(foreignCa.code, 'UNAUTHENTICATED');
    assert.match(foreignCa.message, /not issued by a CA in this mesh's trust bundle/);

    const refusals = logger.find('warn', /identity: CSR refused/).slice(before);
    assert.deepEqual(refusals.map((e) => e.fields['code']), ['PERMISSION_DENIED', 'UNAUTHENTICATED', 'UNAUTHENTICATED', 'UNAUTHENTICATED']);
    assert.ok(refusals.every((e) => /^127\.0\.0\.1:\d+$/.test(String(e.fields['peer']))), 'each log line names the caller');
  });

  it('refuses an expired token and an expired certificate (short lifetimes, bounded wait)', async () => {
    const otherClient = new IdentityClient({ server: other.cp.xdsAddress });
    try {
      const short = await other.admin('POST', '/v1/tokens', { service: 'payments', ttl: '1s' });
      const shortToken = String(short.body['token']);
      const key = generateWorkloadKey();
      const answer = await otherClient.sign(createCsr(key, PAYMENTS).pem, { kind: 'bootstrap-token', token: await token('payments', {}, () => other) });
      // The token lives 1 s, the certificate 2 s: wait (bounded) until both have expired.
      const waitMs = Math.max(Number(short.body['expiresAtMs']), answer.expiresAtMs) + 100 - Date.now();
      // A guard against lifetimes minutes or hours long (the test would hang), far from the ~2 s expected: expiry is
      // absolute, so a slow machine only shortens this wait.
      assert.ok(waitMs < 60_000, `waiting ${waitMs} ms`);
      await new Promise((r) => setTimeout(r, Math.max(0, waitMs)));
      const expiredToken = await refusal(otherClient.sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token: shortToken }));
      assert.equal(expiredToken.code, 'UNAUTHENTICATED');
      assert.match(expiredToken.message, /the bootstrap token expired/);
      const csr = createCsr(generateWorkloadKey(), PAYMENTS);
      const expiredCert = await refusal(otherClient.sign(csr.pem, { kind: 'renewal', chainPem: answer.chainPem, signature: crypto.sign('sha256', csr.der, key.privateKey) }));
      assert.equal(expiredCert.code, 'UNAUTHENTICATED');
      assert.match(expiredCert.message, /the certificate expired at .*enrol again with a bootstrap token/);
    } finally {
      otherClient.close();
    }
  });

  it('authenticates xDS callers under --xds-auth required; a node registers endpoints of its own service only', async () => {
    const anonymous = new AdsTestClient(tcp.cp.xdsAddress);
    anonymous.send({ typeUrl: TYPE_URL.listener, names: ['payments'], node: { id: 'anon' } });
    const ended = await anonymous.ended();
    assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
    assert.match(ended.details, /requires credentials \(--xds-auth required\)/);
    anonymous.close();

    const { key, chain } = await enrol('payments', PAYMENTS);
    const assertion = () => createWorkloadAssertion(PAYMENTS, key.privateKey, chain, Date.now());
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${assertion()}`);
    const ads = new AdsTestClient(tcp.cp.xdsAddress, md);
    ads.send({ typeUrl: TYPE_URL.listener, names: ['payments'], node: { id: 'payments-1', cluster: 'payments' } });
    assert.equal((await ads.next(5_000)).resources[0]?.['name'], 'payments');
    assert.equal(tcp.cp.ads.clients().find((c) => c.nodeId === 'payments-1')?.identity, PAYMENTS);
    ads.close();

    const endpoint = (service: string) => ({ endpoint: { service, address: '10.7.0.1', port: 8080 }, ttl_ms: 60_000 });
    const own = await registryCall(tcp.cp.xdsAddress, 'Register', endpoint('payments'), assertion());
    assert.ok(String(own['lease_id']).length > 0);
    await assert.rejects(registryCall(tcp.cp.xdsAddress, 'Register', endpoint('checkout'), assertion()), (e: grpc.ServiceError) => {
      assert.equal(e.code, grpc.status.PERMISSION_DENIED);
      assert.match(e.details, /spiffe:\/\/weft\.local\/ns\/default\/sa\/payments may register only endpoints of its own service, not of 'checkout'/);
      return true;
    });
    // checkout's lease cannot be kept alive (or deregistered) by payments either.
    const checkoutLease = await registryCall(tcp.cp.xdsAddress, 'Register', { ...endpoint('checkout'), endpoint: { service: 'checkout', address: '10.7.0.2', port: 8080 } }, await token('checkout'));
    await assert.rejects(registryCall(tcp.cp.xdsAddress, 'KeepAlive', { lease_id: checkoutLease['lease_id'] }, assertion()), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
    assert.equal(logger.find('warn', /registry: caller may not touch another service.*"service":"checkout"/).length, 2);
    assert.deepEqual(tcp.cp.registry.endpoints().map((e) => `${e.service} ${e.address}`).sort(), ['checkout 10.7.0.2', 'payments 10.7.0.1']);
    const unauth = registryCall(tcp.cp.xdsAddress, 'Register', endpoint('payments'), 'not-a-credential');
    await assert.rejects(unauth, (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
  });

  it('pushes the trust bundle over SDS, and a rotation adds the new root at once', async () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${await token('payments')}`);
    const ads = new AdsTestClient(tcp.cp.xdsAddress, md);
    try {
      ads.send({ typeUrl: TYPE_URL.secret, names: ['weft-trust-bundle'], node: { id: 'sds-test', cluster: 'payments' } });
      const first = await ads.next(5_000);
      const bundle = (r: typeof first) => String(((r.resources[0]!['validation_context'] as ProtoObject)['trusted_ca'] as ProtoObject)['inline_string']);
      assert.equal(bundle(first), tcp.cp.ca.trustBundlePem().join(''));
      ads.ack(first, ['weft-trust-bundle']);
      const rotated = await tcp.admin('POST', '/v1/ca/rotate', { activateAfter: '1h' });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      const pushed = await ads.next(5_000);
      assert.equal((bundle(pushed).match(/BEGIN CERTIFICATE/g) ?? []).length, 2, 'the next root is in the bundle before it signs anything');
    } finally {
      ads.close();
    }
  });

  it('answers RESOURCE_EXHAUSTED with a retry time past --csr-rate', async () => {
    const limited = await startTestControlPlane({}, { security: { csrRatePerSecond: 2 } });
    const c = new IdentityClient({ server: limited.cp.xdsAddress });
    try {
      const { token: multi } = await limited.cp.tokens.create({ service: 'payments', uses: 10 });
      const outcomes = await Promise.allSettled([1, 2, 3, 4].map(() => c.sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token: multi })));
      const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => o.reason as { message: string; details: Record<string, unknown> });
      assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 2, 'a burst of one second\'s worth');
      assert.equal(refused.length, 2);
      for (const e of refused) {
        assert.equal(e.details['grpcCode'], 'RESOURCE_EXHAUSTED');
        assert.match(e.message, /CSR signing is limited to 2 per second on this control plane; retry in \d+ ms/);
        assert.ok(Number(e.details['retryAfterMs']) > 0 && Number(e.details['retryAfterMs']) <= 500, 'grpc-retry-pushback-ms reached the client');
      }
    } finally {
      c.close();
      await limited.close();
    }
  });

  it('validates the identity endpoints of the admin API', async () => {
    assert.match(String((await tcp.admin('POST', '/v1/tokens', { service: 'Bad Name' })).body['error']), /service: 'Bad Name' is not a service name/);
    assert.match(String((await tcp.admin('POST', '/v1/tokens', { service: 'payments', ttl: 'soon' })).body['error']), /ttl: 'soon' is not a duration/);
    assert.match(String((await tcp.admin('POST', '/v1/tokens', { service: 'payments', uses: 0 })).body['error']), /uses: must be an integer from 1/);
    assert.equal((await tcp.admin('GET', '/v1/tokens')).status, 405);
    const wrongCsr = await tcp.admin('POST', '/v1/certificates', { service: 'payments', csr: createCsr(generateWorkloadKey(), CHECKOUT).pem });
    assert.equal(wrongCsr.status, 400);
    assert.match(String(wrongCsr.body['error']), /csr: asks for spiffe:\/\/weft\.local\/ns\/default\/sa\/checkout, not spiffe:\/\/weft\.local\/ns\/default\/sa\/payments/);
    const status = await tcp.admin('GET', '/v1/ca');
    assert.equal(status.body['trustDomain'], 'weft.local');
    assert.equal(logger.find('info', /admin: bootstrap token created/).length > 0, true);
    assert.equal(JSON.stringify(logger.entries).includes('eyJ'), false, 'no token is ever logged');
  });
});
