// Security state shared through a real etcd: replicas started at once agree on one CA root, trust bundle, token key and
// admin token; a certificate issued by one verifies with another's bundle; a bootstrap token is single use across them.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { startEtcd, type EtcdServer } from './etcd.js';

describe('etcd security state across replicas', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let replicas: ControlPlane[] = [];
  before(async () => {
    etcd = await startEtcd();
    // All three at once: only one may create the CA, the others must load it.
    replicas = await Promise.all([1, 2, 3].map(() => startControlPlane({ store: `${etcd.endpoint}/sec`, xdsPort: 0, adminPort: 0 })));
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await etcd.stop();
  });

  it('every replica has the same CA root, trust bundle and admin token', () => {
    const [a, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    assert.equal(a.ca.trustBundlePem().length, 1);
    assert.deepEqual(b.ca.trustBundlePem(), a.ca.trustBundlePem());
    assert.deepEqual(c.ca.trustBundlePem(), a.ca.trustBundlePem());
    assert.ok(a.adminToken.length >= 16);
    assert.equal(b.adminToken, a.adminToken);
    assert.equal(c.adminToken, a.adminToken);
  });

  it('a certificate issued by A verifies with B’s bundle', () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    const { publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const issued = a.ca.issue(publicKey, `spiffe://${a.ca.trustDomain}/ns/default/sa/payments`);
    const check = b.ca.verify(issued.chainPem);
    assert.equal(check.ok, true, JSON.stringify(check));
  });

  it('a bootstrap token created on A and used on B is refused on C, and the admin API of C takes A’s token', async () => {
    const [a, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    const issued = await a.tokens.create({ service: 'payments' });
    const onB = await b.tokens.check(issued.token);
    assert.equal(onB.ok, true, JSON.stringify(onB));
    assert.equal((await b.tokens.consume(onB.ok ? onB.grant : assert.fail())).ok, true);
    // C never saw the use locally; the use counted in etcd refuses it.
    const onC = await c.tokens.check(issued.token);
    assert.equal(onC.ok, true, 'the signature and claims check out on C too');
    const consumed = await c.tokens.consume(onC.ok ? onC.grant : assert.fail());
    assert.equal(consumed.ok, false);
    assert.equal(!consumed.ok && consumed.reason, 'replayed');

    const res = await fetch(`${c.adminUrl}/v1/status`, { headers: { authorization: `Bearer ${a.adminToken}` } });
    assert.equal(res.status, 200);
  });

  it('a replica started later loads the same CA', async (t) => {
    const d = await startControlPlane({ store: `${etcd.endpoint}/sec`, xdsPort: 0, adminPort: 0 });
    t.after(() => d.close());
    assert.deepEqual(d.ca.trustBundlePem(), replicas[0]!.ca.trustBundlePem());
    assert.equal(d.adminToken, replicas[0]!.adminToken);
  });
});
