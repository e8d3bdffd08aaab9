// `weft ca rotate` on etcd-backed replicas: a rotation made through A is saved to etcd and adopted by B and C at once
// (no restart), so a workload enrolled through C gets a certificate from the new root and clients of B are pushed a
// trust bundle holding both roots for the overlap; a second rotation through another replica sees the first.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { AdsTestClient } from '../../control-plane/src/server/ads-test-client.js';
import { TYPE_URL, type ProtoObject } from '../../src/discovery/xds/protos.js';
import { createCsr, generateWorkloadKey } from '../../src/identity/csr.js';
import { IdentityClient } from '../../src/identity/enrolment-client.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { waitFor } from './helpers.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';

async function admin(cp: ControlPlane, method: string, route: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cp.adminUrl}${route}`, {
    method,
    headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The roots in an SDS trust-bundle response, as PEM blocks. */
function bundleOf(response: { resources: readonly ProtoObject[] }): string[] {
  const pem = String(((response.resources[0]!['validation_context'] as ProtoObject)['trusted_ca'] as ProtoObject)['inline_string']);
  return pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----\n?/g) ?? [];
}

describe('CA rotation across etcd-backed replicas', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let replicas: ControlPlane[] = [];
  before(async () => {
    etcd = await startEtcd();
    replicas = await Promise.all([1, 2, 3].map(() => startControlPlane({ store: `${etcd.endpoint}/rot`, xdsPort: 0, adminPort: 0 })));
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await etcd?.stop();
  });

  it('a rotation through A reaches B and C: C signs with the new root, B pushes both roots to its clients', async () => {
    const [a, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    const [oldRoot] = a.ca.trustBundlePem();
    let newRoot = '';
    assert.deepEqual(b.ca.trustBundlePem(), [oldRoot]);

    // A client of B subscribed to the trust bundle before the rotation.
    const token = await a.tokens.create({ service: 'payments' });
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token.token}`);
    const sds = new AdsTestClient(b.xdsAddress, md);
    try {
      sds.send({ typeUrl: TYPE_URL.secret, names: ['weft-trust-bundle'], node: { id: 'rotation-test', cluster: 'payments' } });
      const first = await sds.next(30_000);
      assert.deepEqual(bundleOf(first), [oldRoot]);
      sds.ack(first, ['weft-trust-bundle']);

      const rotated = await admin(a, 'POST', '/v1/ca/rotate', { activateAfter: '0s' });
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
      newRoot = a.ca.trustBundlePem()[0]!;
      assert.notEqual(newRoot, oldRoot);
      assert.deepEqual(a.ca.trustBundlePem(), [newRoot, oldRoot], 'A: the new root signs, the old one stays trusted');

      for (const [name, r] of [['B', b], ['C', c]] as const) {
        await waitFor(() => r.ca.trustBundlePem()[0] === newRoot, `${name} adopts the rotation made through A`, 30_000);
        assert.deepEqual(r.ca.trustBundlePem(), [newRoot, oldRoot], name);
        assert.deepEqual(r.ca.status().roots.map((x) => x.phase), ['active', 'previous'], name);
      }

      // B's client is pushed the bundle with both roots: certificates from either verify during the overlap.
      const pushed = await sds.next(30_000);
      assert.deepEqual(bundleOf(pushed), [newRoot, oldRoot]);
    } finally {
      sds.close();
    }

    // A workload enrolled through C gets a certificate the new root issued.
    const enrolToken = await b.tokens.create({ service: 'payments' });
    const identity = new IdentityClient({ server: c.xdsAddress });
    try {
      const key = generateWorkloadKey();
      const answer = await identity.sign(createCsr(key, PAYMENTS).pem, { kind: 'bootstrap-token', token: enrolToken.token });
      const leaf = new X509Certificate(answer.chainPem[0]!);
      assert.ok(leaf.checkIssued(new X509Certificate(newRoot)), 'issued by the new root');
      assert.ok(leaf.verify(new X509Certificate(newRoot).publicKey));
      assert.equal(leaf.checkIssued(new X509Certificate(oldRoot!)), false);
      assert.deepEqual(answer.trustBundlePem, [newRoot, oldRoot]);
      // And B, which never rotated itself, verifies it.
      assert.equal(b.ca.verify(answer.chainPem).ok, true);
    } finally {
      identity.close();
    }
  });

  it('a rotation through B while one made through C is pending is refused: B starts from the latest state', async () => {
    const [, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    const pending = await admin(c, 'POST', '/v1/ca/rotate', { activateAfter: '1h' });
    assert.equal(pending.status, 200, JSON.stringify(pending.body));
    const second = await admin(b, 'POST', '/v1/ca/rotate', { activateAfter: '1h' });
    assert.equal(second.status >= 400, true, JSON.stringify(second.body));
    assert.match(String(second.body['error']), /a rotation is already under way/);
    for (const r of replicas) await waitFor(() => r.ca.status().roots.some((x) => x.phase === 'next'), 'every replica holds the pending root', 30_000);
    assert.equal(new Set(replicas.map((r) => r.ca.trustBundlePem().join(''))).size, 1, 'one trust bundle on every replica');
  });

  it('with etcd down, a rotation fails with 503 and a clear error, and changes nothing', async () => {
    const [a] = replicas as [ControlPlane];
    const before = a.ca.trustBundlePem();
    etcd.kill();
    try {
      const refused = await admin(a, 'POST', '/v1/ca/rotate', { activateAfter: '1h' });
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.match(String(refused.body['error']), /cannot change the CA: etcd did not answer; nothing changed/);
      assert.deepEqual(a.ca.trustBundlePem(), before);
    } finally {
      await etcd.restart();
    }
  });
});
