// `weft ca rotate` on etcd-backed replicas when the upload fails *after* the secrets lock was taken: the lock is taken
// away (its lease revoked, or its key deleted while another replica rotates) between the rotation and its fenced
// upload. The replica must answer 503, write nothing, and go back to the roots etcd holds rather than keep a rotation
// only it knows; a later rotation must land. The lock is taken away with a real etcd client at the exact point through
// etcdSecretsTestHooks (etcd-stale-lock.test.ts covers the fence itself; this covers the control plane's roll-back).
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Etcd3 } from 'etcd3';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { etcdKeys } from '../../control-plane/src/etcd/etcd-client.js';
import { etcdSecretsTestHooks } from '../../control-plane/src/etcd/etcd-secrets.js';
import { createCsr, generateWorkloadKey } from '../../src/identity/csr.js';
import { IdentityClient } from '../../src/identity/enrolment-client.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { waitFor } from './helpers.js';

const PREFIX = '/rb/';
const SECRETS = etcdKeys(PREFIX).secrets;
const LOCK_KEY = `${SECRETS}lock`;
const CA_PREFIX = `${SECRETS}ca/`;
const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';
const NOT_SAVED = /the CA change was not saved to etcd, so no replica keeps it; try again: lost the etcd lock/;

async function rotate(cp: ControlPlane, activateAfter: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cp.adminUrl}/v1/ca/rotate`, {
    method: 'POST',
    headers: { authorization: `Bearer ${cp.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ activateAfter }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** What a workload enrolled through `cp`'s xDS port gets: its leaf certificate and trust bundle. */
async function enrol(cp: ControlPlane): Promise<{ leaf: X509Certificate; trustBundlePem: readonly string[] }> {
  const token = await cp.tokens.create({ service: 'payments' });
  const identity = new IdentityClient({ server: cp.xdsAddress });
  try {
    const answer = await identity.sign(createCsr(generateWorkloadKey(), PAYMENTS).pem, { kind: 'bootstrap-token', token: token.token });
    return { leaf: new X509Certificate(answer.chainPem[0]!), trustBundlePem: answer.trustBundlePem };
  } finally {
    identity.close();
  }
}

/** Every trust bundle `cp`'s CA moves through while `fn` runs (its onChange listeners see each change). */
async function bundlesDuring<T>(cp: ControlPlane, fn: () => Promise<T>): Promise<{ result: T; seen: string[][] }> {
  const seen: string[][] = [];
  const sub = cp.ca.onChange(() => seen.push([...cp.ca.trustBundlePem()]));
  try {
    return { result: await fn(), seen };
  } finally {
    sub.dispose();
  }
}

describe('CA rotation roll-back when the etcd upload fails after the lock was taken', { timeout: 180_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  let replicas: ControlPlane[] = [];
  /** A third replica whose private temp dirs are under `cTmp`, so the test can break its local copy of the CA state. */
  let c: ControlPlane | undefined;
  let cTmp = '';
  /** The CA state in etcd: key → value and the revision that last changed it. */
  const caInEtcd = async (): Promise<Map<string, { value: string; modRevision: string }>> => {
    const kvs = (await client.getAll().prefix(CA_PREFIX).exec()).kvs;
    return new Map(kvs.map((kv) => [kv.key.toString(), { value: kv.value.toString(), modRevision: kv.mod_revision }]));
  };
  before(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.clientUrl });
    replicas = await Promise.all([1, 2].map(() => startControlPlane({ store: `${etcd.endpoint}${PREFIX}`, xdsPort: 0, adminPort: 0 })));
    // os.tmpdir() reads TMPDIR on each call: C makes its temp CA dir (weft-ca-*) under cTmp during start-up.
    cTmp = await mkdtemp(path.join(tmpdir(), 'weft-rollback-test-'));
    const saved = process.env['TMPDIR'];
    process.env['TMPDIR'] = cTmp;
    try {
      c = await startControlPlane({ store: `${etcd.endpoint}${PREFIX}`, xdsPort: 0, adminPort: 0 });
    } finally {
      if (saved === undefined) delete process.env['TMPDIR'];
      else process.env['TMPDIR'] = saved;
    }
  });
  afterEach(() => {
    delete etcdSecretsTestHooks.beforeFencedUpload;
  });
  after(async () => {
    delete etcdSecretsTestHooks.beforeFencedUpload;
    await Promise.all([...replicas, ...(c === undefined ? [] : [c])].map((r) => r.close()));
    if (cTmp !== '') await rm(cTmp, { recursive: true, force: true });
    client?.close();
    await etcd?.stop();
  });

  it('lease revoked before the upload: 503, nothing written, A serves and signs with the old root; a later rotation lands', async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    const [oldRoot] = a.ca.trustBundlePem() as [string];
    assert.deepEqual(b.ca.trustBundlePem(), [oldRoot]);
    const stored = await caInEtcd();
    assert.ok(stored.has(`${CA_PREFIX}state.json`), 'the CA state is in etcd');

    let fired = 0;
    etcdSecretsTestHooks.beforeFencedUpload = async (fence) => {
      if (fence.key !== LOCK_KEY) return;
      fired++;
      // As if A stalled past the lock's TTL: etcd drops its lease, and with it the lock key.
      await client.leaseClient.leaseRevoke({ ID: fence.leaseId });
    };
    const { result: refused, seen } = await bundlesDuring(a, () => rotate(a, '0s'));
    delete etcdSecretsTestHooks.beforeFencedUpload;

    assert.equal(fired, 1, 'the rotation reached its upload once');
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body['error']), NOT_SAVED);
    // A did rotate in memory (the new root was in its bundle, and signed at once: activateAfter 0s) before the upload
    // was refused, so what follows checks the roll-back, not a refusal before anything changed.
    const failedRoot = seen.map((bundle) => bundle.find((pem) => pem !== oldRoot)).find((pem) => pem !== undefined);
    assert.ok(failedRoot !== undefined, `A rotated before uploading: bundles seen ${seen.length}`);
    assert.deepEqual(seen.at(-1), [oldRoot], 'the last bundle A pushed is the old one again');

    // Nothing was written to etcd: every CA key has the value and revision it had.
    assert.deepEqual(await caInEtcd(), stored);
    // A went back to the roots etcd holds: it trusts and signs with the old root only, over its real xDS port.
    assert.deepEqual(a.ca.trustBundlePem(), [oldRoot]);
    assert.deepEqual(a.ca.status().roots.map((r) => r.phase), ['active']);
    const viaA = await enrol(a);
    assert.deepEqual(viaA.trustBundlePem, [oldRoot]);
    assert.ok(viaA.leaf.checkIssued(new X509Certificate(oldRoot)), 'A signs with the old root');
    assert.ok(viaA.leaf.verify(new X509Certificate(oldRoot).publicKey));
    assert.equal(b.ca.verify([viaA.leaf.toString()]).ok, true, 'B, which holds only the old root, verifies it');
    assert.deepEqual(b.ca.trustBundlePem(), [oldRoot], 'B never saw the failed rotation');

    // A later rotation through A lands: saved to etcd (without the failed root) and adopted by B.
    const later = await rotate(a, '0s');
    assert.equal(later.status, 200, JSON.stringify(later.body));
    const [newRoot] = a.ca.trustBundlePem() as [string];
    assert.notEqual(newRoot, oldRoot);
    assert.notEqual(newRoot, failedRoot);
    assert.deepEqual(a.ca.trustBundlePem(), [newRoot, oldRoot]);
    const saved = await caInEtcd();
    assert.notEqual(saved.get(`${CA_PREFIX}state.json`)?.modRevision, stored.get(`${CA_PREFIX}state.json`)?.modRevision);
    assert.ok(![...saved.values()].some((kv) => kv.value === failedRoot), 'the failed root is not in etcd');
    await waitFor(() => b.ca.trustBundlePem()[0] === newRoot, 'B adopts the later rotation', 30_000);
    assert.deepEqual(b.ca.trustBundlePem(), [newRoot, oldRoot]);
    assert.ok((await enrol(a)).leaf.checkIssued(new X509Certificate(newRoot)), 'A now signs with the new root');
  });

  it('lock key deleted and B rotates meanwhile: A answers 503 and takes B\'s roots from etcd, not its own', async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    const start = a.ca.trustBundlePem();
    assert.deepEqual(b.ca.trustBundlePem(), start);

    let bRotation: { status: number; body: Record<string, unknown> } | undefined;
    etcdSecretsTestHooks.beforeFencedUpload = async (fence) => {
      if (fence.key !== LOCK_KEY) return;
      // One shot: B's own upload below must go through untouched.
      delete etcdSecretsTestHooks.beforeFencedUpload;
      // The lock key vanishes while A still holds its lease; B takes the free lock and saves its own rotation.
      await client.delete().key(LOCK_KEY);
      bRotation = await rotate(b, '0s');
    };
    const { result: refused, seen } = await bundlesDuring(a, () => rotate(a, '0s'));

    assert.equal(bRotation?.status, 200, JSON.stringify(bRotation?.body));
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.match(String(refused.body['error']), NOT_SAVED);
    const bRoots = b.ca.trustBundlePem();
    const [bRoot] = bRoots as [string];
    assert.ok(!start.includes(bRoot), 'B rotated');
    const aOwn = seen.map((bundle) => bundle.find((pem) => !start.includes(pem) && pem !== bRoot)).find((pem) => pem !== undefined);
    assert.ok(aOwn !== undefined, 'A rotated before its upload was refused');

    // etcd holds B's rotation, and A follows it: same bundle, same signer, its own root gone everywhere.
    assert.ok(![...(await caInEtcd()).values()].some((kv) => kv.value === aOwn), 'A\'s root is not in etcd');
    assert.deepEqual(a.ca.trustBundlePem(), bRoots);
    assert.ok(!a.ca.trustBundlePem().includes(aOwn));
    const viaA = await enrol(a);
    assert.deepEqual(viaA.trustBundlePem, bRoots);
    assert.ok(viaA.leaf.checkIssued(new X509Certificate(bRoot)), 'A signs with the root B saved');
    assert.equal(b.ca.verify([viaA.leaf.toString()]).ok, true);
  });

  it('the local save fails under the lock (before any upload): the refusal names it, and C goes back to etcd\'s roots', async () => {
    assert.ok(c !== undefined);
    const [a] = replicas as [ControlPlane];
    await waitFor(() => c!.ca.trustBundlePem().join('') === a.ca.trustBundlePem().join(''), 'C holds the roots in etcd', 30_000);
    const start = c.ca.trustBundlePem();
    const stored = await caInEtcd();
    const [caTemp] = (await readdir(cTmp)).filter((n) => n.startsWith('weft-ca-'));
    assert.ok(caTemp !== undefined, `C's temp CA dir under ${cTmp}`);
    // state.json as a non-empty directory: the CA's atomic rename onto it fails, so the rotation cannot be saved.
    const stateFile = path.join(cTmp, caTemp, 'ca', 'state.json');
    await rm(stateFile, { force: true });
    await mkdir(stateFile);
    await writeFile(path.join(stateFile, 'blocker'), '');
    let fired = 0;
    etcdSecretsTestHooks.beforeFencedUpload = async () => void fired++;
    try {
      const { result: refused, seen } = await bundlesDuring(c, () => rotate(c!, '0s'));
      assert.equal(refused.status >= 400, true, JSON.stringify(refused.body));
      assert.match(String(refused.body['error']), /cannot write the CA state in /);
      assert.equal(fired, 0, 'nothing was uploaded');
      assert.ok(seen.some((bundle) => bundle.length > start.length), 'C rotated in memory before its save failed');
      assert.deepEqual(await caInEtcd(), stored);
      assert.deepEqual(c.ca.trustBundlePem(), start, 'C trusts what etcd holds, not the rotation it could not save');
      const viaC = await enrol(c);
      assert.ok(viaC.leaf.checkIssued(new X509Certificate(start[0]!)), 'C signs with the root etcd holds');
    } finally {
      await rm(stateFile, { recursive: true, force: true });
    }
    // Writable again, a rotation through C lands and reaches A.
    const later = await rotate(c, '0s');
    assert.equal(later.status, 200, JSON.stringify(later.body));
    const [newRoot] = c.ca.trustBundlePem() as [string];
    assert.ok(!start.includes(newRoot));
    await waitFor(() => a.ca.trustBundlePem()[0] === newRoot, 'A adopts the rotation made through C', 30_000);
  });
});
