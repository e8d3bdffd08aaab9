// Tests the CA: root on first start (persisted, key 0600), SVID contents, root rotation with overlap (real TLS
// handshakes against the bundle), and operator-provided roots and intermediates. Fake clock, no sleeps.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto, { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ERROR_CODES, isMeshError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { BACKDATE_MS, CertificateAuthority, OVERLAP_MARGIN_MS, SAVE_RETRY_MS, type SharedCaState } from './authority.js';
import { loadCaState, type CaStateData } from './ca-state.js';
import { recordingLogger, testIntermediate, testRoot, tlsHandshake } from './ca-test-kit.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'weft-ca-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const ID = 'spiffe://weft.local/ns/default/sa/payments';
const key = () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const keyPem = (k: crypto.KeyObject) => k.export({ type: 'pkcs8', format: 'pem' }) as string;

describe('CertificateAuthority', { timeout: 30_000 }, () => {
  it('generates a root on first start, keeps its key 0600, and loads the same root on the next start', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock(Date.now());
    const ca = await CertificateAuthority.open({ stateDir, clock });
    const [root] = ca.trustBundle();
    assert.ok(root?.ca);
    assert.equal(ca.trustDomain, 'weft.local');
    assert.match(root.subjectAltName ?? '', /URI:spiffe:\/\/weft\.local$/);
    const files = await readdir(path.join(stateDir, 'ca', 'roots'));
    const keyFile = files.find((f) => f.endsWith('.key.pem'))!;
    assert.equal((await stat(path.join(stateDir, 'ca', 'roots', keyFile))).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(stateDir, 'ca'))).mode & 0o077, 0, 'the CA folder is owner-only');
    await ca.close();
    const again = await CertificateAuthority.open({ stateDir, clock });
    assert.equal(again.trustBundle()[0]!.fingerprint256, root.fingerprint256);
    // A certificate issued before the restart still verifies after it.
    await again.close();
  });

  it('refuses a --trust-domain other than the one its CA was created for, and a corrupted state, naming the file', async () => {
    const stateDir = await tempDir();
    await (await CertificateAuthority.open({ stateDir, trustDomain: 'prod.example' })).close();
    await assert.rejects(CertificateAuthority.open({ stateDir, trustDomain: 'weft.local' }), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.IDENTITY));
      assert.match(e.message, /belongs to trust domain 'prod\.example', not 'weft\.local'/);
      return true;
    });
    const reopened = await CertificateAuthority.open({ stateDir });
    assert.equal(reopened.trustDomain, 'prod.example', 'without the flag the stored trust domain is used');
    await reopened.close();
    await writeFile(path.join(stateDir, 'ca', 'state.json'), '{ not json');
    await assert.rejects(CertificateAuthority.open({ stateDir }), /state\.json is not JSON.*move the folder/);
    await assert.rejects(CertificateAuthority.open({ stateDir: false, certTtlMs: 10 }), /--cert-ttl must be between 1s and 90 days/);
    await assert.rejects(CertificateAuthority.open({ stateDir: false, trustDomain: 'Bad Domain' }), /not a SPIFFE trust domain/);
  });

  it('issues SVIDs: one URI SAN, not a CA, digitalSignature, serverAuth + clientAuth, the configured lifetime', async () => {
    const clock = new FakeClock(Date.now());
    const ca = await CertificateAuthority.open({ stateDir: false, certTtlMs: 3_600_000, clock });
    const { publicKey } = key();
    const issued = ca.issue(publicKey, ID);
    assert.equal(issued.chainPem.length, 1, 'a generated root signs directly: the chain is the leaf alone');
    const leaf = new X509Certificate(issued.chainPem[0]!);
    assert.equal(leaf.subjectAltName, `URI:${ID}`);
    assert.equal(leaf.ca, false);
    assert.deepEqual(leaf.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']); // node reports extKeyUsage here
    assert.ok(leaf.publicKey.equals(publicKey));
    assert.equal(Date.parse(leaf.validTo), Math.floor((clock.nowMs() + 3_600_000) / 1000) * 1000);
    assert.equal(Date.parse(leaf.validFrom), Math.floor((clock.nowMs() - BACKDATE_MS) / 1000) * 1000);
    assert.ok(leaf.checkIssued(ca.trustBundle()[0]!) && leaf.verify(ca.trustBundle()[0]!.publicKey));
    assert.equal(issued.serial, leaf.serialNumber.toLowerCase().replace(/^0+/, ''));
    const verified = ca.verify(issued.chainPem);
    assert.ok(verified.ok && verified.value.spiffeId === ID);
    assert.throws(() => ca.issue(publicKey, 'spiffe://other.domain/ns/default/sa/payments'), /not a SPIFFE ID in trust domain weft\.local/);
    await ca.close();
  });

  it('rotates its root with overlap: old-root and new-root certificates both pass a real TLS handshake against the bundle', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock(Date.now());
    const ttlMs = 3_600_000;
    const ca = await CertificateAuthority.open({ stateDir, certTtlMs: ttlMs, clock });
    let changes = 0;
    ca.onChange(() => changes++);
    const oldRoot = ca.trustBundle()[0]!;
    const k1 = key();
    const oldLeaf = ca.issue(k1.publicKey, ID);

    const started = await ca.rotate({ activateAfterMs: 60_000 });
    assert.equal(changes, 1, 'the bundle change is announced at once (pushed over SDS)');
    assert.deepEqual(started.roots.map((r) => r.phase), ['active', 'next']);
    assert.equal(ca.trustBundle().length, 2);
    const newRoot = ca.trustBundle()[1]!;
    // Before activation the old root still signs: no process sees a new-root certificate before it has the new root.
    const beforeActivation = new X509Certificate(ca.issue(k1.publicKey, ID).chainPem[0]!);
    assert.ok(beforeActivation.checkIssued(oldRoot));
    await assert.rejects(ca.rotate(), /a rotation is already under way/);

    clock.advance(60_000);
    assert.equal(changes, 2);
    const k2 = key();
    const newLeaf = ca.issue(k2.publicKey, ID);
    assert.ok(new X509Certificate(newLeaf.chainPem[0]!).checkIssued(newRoot));
    const status = ca.status();
    assert.deepEqual(status.roots.map((r) => [r.phase, r.fingerprint256]), [['active', newRoot.fingerprint256], ['previous', oldRoot.fingerprint256]]);
    assert.equal(status.roots[1]!.trustedUntilMs, clock.nowMs() + ttlMs + OVERLAP_MARGIN_MS);

    // During the overlap both certificates verify against the one bundle every process holds.
    const bundlePem = ca.trustBundlePem().join('');
    assert.equal((await tlsHandshake(oldLeaf.chainPem.join(''), keyPem(k1.privateKey), bundlePem)).replace(/^0+/, ''), oldLeaf.serial);
    assert.equal((await tlsHandshake(newLeaf.chainPem.join(''), keyPem(k2.privateKey), bundlePem)).replace(/^0+/, ''), newLeaf.serial);
    // An old-root certificate can still renew (the renewal proof verifies) while it is trusted.
    assert.ok(ca.verify(oldLeaf.chainPem).ok);
    // A client holding only the new root refuses the old certificate: the overlap is what keeps it working.
    await assert.rejects(tlsHandshake(oldLeaf.chainPem.join(''), keyPem(k1.privateKey), newRoot.toString()));

    // The rotation survives a restart mid-overlap.
    const reopened = await CertificateAuthority.open({ stateDir, certTtlMs: ttlMs, clock });
    assert.deepEqual(reopened.status().roots.map((r) => r.phase), ['active', 'previous']);
    await reopened.close();

    clock.advance(ttlMs + OVERLAP_MARGIN_MS);
    assert.equal(changes, 3, 'the old root leaving the bundle is announced');
    assert.deepEqual(ca.trustBundle().map((r) => r.fingerprint256), [newRoot.fingerprint256]);
    await ca.close();
    const files = await readdir(path.join(stateDir, 'ca', 'roots'));
    assert.equal(files.filter((f) => f.endsWith('.key.pem')).length, 1, 'the retired root key is deleted');
  });

  it('keeps running when the state dir cannot be written at a phase change: logs it, retries, and saves once it can', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock(Date.now());
    const logger = recordingLogger();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const ca = await CertificateAuthority.open({ stateDir, certTtlMs: 3_600_000, clock, logger });
      await ca.rotate({ activateAfterMs: 300 });
      const next = ca.trustBundle()[1]!;
      // The disk goes bad before the new root activates: <state-dir>/ca is now a file.
      const caDir = path.join(stateDir, 'ca');
      await rm(caDir, { recursive: true, force: true });
      await writeFile(caDir, 'not a directory');
      clock.advance(300);
      const failed = async (n: number) => {
        for (let i = 0; i < 200 && logger.find('error', /ca: cannot save the CA state/).length < n; i++) await new Promise((r) => setTimeout(r, 10));
        return logger.find('error', /ca: cannot save the CA state/).length;
      };
      assert.equal(await failed(1), 1, 'the failed save is logged');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(unhandled, [], 'no unhandled rejection (it ends the process)');
      assert.deepEqual(ca.status().roots.map((r) => r.phase), ['active', 'previous'], 'the CA moved on in memory');
      assert.equal(ca.trustBundle()[0]!.fingerprint256, next.fingerprint256);
      assert.ok(ca.issue(key().publicKey, ID), 'and keeps signing');

      clock.advance(SAVE_RETRY_MS); // still broken: tried again, logged again, still no crash
      assert.equal(await failed(2), 2);
      await rm(caDir, { force: true }); // repaired
      clock.advance(SAVE_RETRY_MS);
      const saved = async () => (await readFile(path.join(caDir, 'state.json'), 'utf8').catch(() => '')).includes('"previous"');
      for (let i = 0; i < 200 && !(await saved()); i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(await saved(), 'the retried save wrote the rotated state');
      const reopened = await CertificateAuthority.open({ stateDir, clock });
      assert.equal(reopened.trustBundle()[0]!.fingerprint256, next.fingerprint256, 'a restart keeps the new root active');
      await reopened.close();
      await ca.close();
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a rotation whose save fails is still in effect and its timer armed; the caller learns why', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock(Date.now());
    const ca = await CertificateAuthority.open({ stateDir, clock, logger: recordingLogger() });
    const caDir = path.join(stateDir, 'ca');
    await rm(caDir, { recursive: true, force: true });
    await writeFile(caDir, 'not a directory');
    await assert.rejects(ca.rotate({ activateAfterMs: 1_000 }), /cannot write the CA state in .*give a writable --state-dir/);
    const next = ca.trustBundle()[1]!;
    clock.advance(1_000);
    assert.equal(ca.trustBundle()[0]!.fingerprint256, next.fingerprint256, 'the new root activated on time');
    await ca.close();
  });

  it('applies a rotation step that came due while it was down', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock(Date.now());
    const ca = await CertificateAuthority.open({ stateDir, clock });
    await ca.rotate({ activateAfterMs: 60_000 });
    const next = ca.trustBundle()[1]!;
    await ca.close();
    clock.advance(120_000); // nothing runs: the CA is closed
    const reopened = await CertificateAuthority.open({ stateDir, clock });
    assert.equal(reopened.trustBundle()[0]!.fingerprint256, next.fingerprint256);
    assert.deepEqual(reopened.status().roots.map((r) => r.phase), ['active', 'previous']);
    await reopened.close();
  });

  it('signs with an operator intermediate: the leaf chain carries it, the bundle holds the root', async () => {
    const dir = await tempDir();
    const root = testRoot('weft.local', 'Operator Root');
    const inter = testIntermediate(root, 'Operator Issuing CA');
    await writeFile(path.join(dir, 'ca.pem'), inter.pem);
    await writeFile(path.join(dir, 'ca-key.pem'), inter.keyPem);
    await writeFile(path.join(dir, 'chain.pem'), root.pem);
    const ca = await CertificateAuthority.open({
      stateDir: path.join(dir, 'state'),
      operator: { certFile: path.join(dir, 'ca.pem'), keyFile: path.join(dir, 'ca-key.pem'), chainFile: path.join(dir, 'chain.pem') },
    });
    assert.deepEqual(ca.trustBundle().map((c) => c.fingerprint256), [root.cert.fingerprint256]);
    assert.equal(ca.status().mode, 'operator');
    const k = key();
    const issued = ca.issue(k.publicKey, ID);
    assert.equal(issued.chainPem.length, 2);
    assert.ok(await tlsHandshake(issued.chainPem.join(''), keyPem(k.privateKey), ca.trustBundlePem().join('')));
    assert.ok(ca.verify([issued.chainPem[0]!]).ok, 'a workload may present the leaf alone: the CA knows its intermediates');
    await assert.rejects(ca.rotate(), /operator-provided.*restarting the control plane with the new --ca-cert/);
    await ca.close();

    // Dropping the operator flags later does not silently start a new CA.
    await assert.rejects(CertificateAuthority.open({ stateDir: path.join(dir, 'state') }), /signs with an operator-provided CA.*--ca-cert and --ca-key again/);

    // A new operator root on restart: the old root stays trusted for the overlap.
    const root2 = testRoot('weft.local', 'Operator Root 2');
    await writeFile(path.join(dir, 'ca2.pem'), root2.pem);
    await writeFile(path.join(dir, 'ca2-key.pem'), root2.keyPem);
    const ca2 = await CertificateAuthority.open({ stateDir: path.join(dir, 'state'), operator: { certFile: path.join(dir, 'ca2.pem'), keyFile: path.join(dir, 'ca2-key.pem') } });
    assert.deepEqual(ca2.status().roots.map((r) => [r.phase, r.subject]), [['active', 'O=weft, CN=Operator Root 2'], ['previous', 'O=weft, CN=Operator Root']]);
    assert.ok(await tlsHandshake(issued.chainPem.join(''), keyPem(k.privateKey), ca2.trustBundlePem().join('')), 'old-root certificates keep verifying');
    await ca2.close();
  });

  it('refuses unusable operator CA files with the flag and the reason', async () => {
    const dir = await tempDir();
    const root = testRoot('weft.local', 'Root');
    const inter = testIntermediate(root, 'Issuing');
    const other = testRoot('weft.local', 'Other');
    const write = async (name: string, text: string) => {
      await writeFile(path.join(dir, name), text);
      return path.join(dir, name);
    };
    const interPem = await write('inter.pem', inter.pem);
    const open = (operator: { certFile: string; keyFile: string; chainFile?: string }) => CertificateAuthority.open({ stateDir: false, operator });
    await assert.rejects(open({ certFile: interPem, keyFile: await write('wrong-key.pem', other.keyPem) }), /--ca-key .* is not the private key of --ca-cert/);
    await assert.rejects(open({ certFile: interPem, keyFile: await write('inter-key.pem', inter.keyPem) }), /--ca-chain: no certificate issued 'O=weft-test, CN=Issuing' \(issuer 'O=weft, CN=Root'\); give --ca-chain with every certificate up to and including the root/);
    await assert.rejects(open({ certFile: path.join(dir, 'missing.pem'), keyFile: interPem }), /--ca-cert .*missing\.pem: cannot be read \(ENOENT\)/);
    await assert.rejects(open({ certFile: await write('garbage.pem', 'hello'), keyFile: interPem }), /--ca-cert .*no PEM "CERTIFICATE" block/);
    const expired = testIntermediate(root, 'Expired', Date.now() - 10 * 86_400_000, Date.now() - 86_400_000);
    await assert.rejects(open({ certFile: await write('expired.pem', expired.pem), keyFile: await write('expired-key.pem', expired.keyPem) }), /--ca-cert .*expired at/);
    const rsa = crypto.generateKeyPairSync('ed25519').privateKey;
    await assert.rejects(open({ certFile: interPem, keyFile: await write('ed.pem', keyPem(rsa)) }), /--ca-key .*ed25519 keys are not supported/);
    // Five certificates below the root: a workload chain (leaf + them) would be refused by every peer.
    const levels = [root];
    for (let i = 1; i <= 5; i++) levels.push(testIntermediate(levels[i - 1]!, `Level ${i}`));
    const deepest = levels[5]!;
    const deepChain = await write('deep-chain.pem', levels.slice(0, 5).reverse().map((c) => c.pem).join(''));
    await assert.rejects(
      open({ certFile: await write('deep.pem', deepest.pem), keyFile: await write('deep-key.pem', deepest.keyPem), chainFile: deepChain }),
      /--ca-chain: 5 certificates stand between the root and a workload certificate; at most 4 are supported/,
    );
    // Four below the root is the longest accepted; a workload presenting its whole chain still verifies (the CA does
    // not add the intermediates it already holds a second time).
    const four = levels[4]!;
    const ca = await open({ certFile: await write('four.pem', four.pem), keyFile: await write('four-key.pem', four.keyPem), chainFile: await write('four-chain.pem', levels.slice(0, 4).map((c) => c.pem).join('')) });
    const issued = ca.issue(key().publicKey, ID);
    assert.equal(issued.chainPem.length, 5);
    assert.ok(ca.verify(issued.chainPem).ok, JSON.stringify(ca.verify(issued.chainPem)));
    assert.ok(ca.verify([issued.chainPem[0]!]).ok);
    await ca.close();
    assert.ok((await readFile(interPem, 'utf8')).includes('BEGIN CERTIFICATE'));
  });

  it('adopts the roots another replica saved: bundle, signer and timer follow, listeners run once; a foreign state is refused', async () => {
    const clock = new FakeClock(Date.now());
    const dirA = await tempDir();
    const a = await CertificateAuthority.open({ stateDir: dirA, clock });
    const dirB = await tempDir();
    // B starts from A's state, as replicas on etcd do.
    const b = await CertificateAuthority.open({ stateDir: dirB, clock });
    assert.equal(b.adopt((await loadCaState(path.join(dirA, 'ca')))!), true);
    assert.deepEqual(b.trustBundlePem(), a.trustBundlePem());
    let changes = 0;
    b.onChange(() => changes++);
    assert.equal(b.adopt((await loadCaState(path.join(dirA, 'ca')))!), false, 'the same state changes nothing');

    await a.rotate({ activateAfterMs: 60_000 });
    const rotated = (await loadCaState(path.join(dirA, 'ca')))!;
    assert.equal(b.adopt(rotated), true);
    assert.equal(changes, 1);
    assert.deepEqual(b.trustBundlePem(), a.trustBundlePem(), 'the next root is trusted on B at once');
    const k = key();
    assert.ok(new X509Certificate(b.issue(k.publicKey, ID).chainPem[0]!).checkIssued(a.trustBundle()[0]!), 'the old root still signs');
    clock.advance(60_000); // B's own timer activates the adopted next root
    assert.equal(changes, 2);
    assert.ok(new X509Certificate(b.issue(k.publicKey, ID).chainPem[0]!).checkIssued(a.trustBundle()[0]!), 'the new root signs on B');
    assert.deepEqual(b.status().roots.map((r) => r.phase), ['active', 'previous']);

    const logger = recordingLogger();
    const other = await CertificateAuthority.open({ stateDir: false, trustDomain: 'other.example', clock, logger });
    assert.equal(other.adopt(rotated), false);
    assert.equal(logger.find('error', /not usable here/).length, 1);
    await Promise.all([a.close(), b.close(), other.close()]);
  });

  it('a shared CA rotates inside update(): from the latest shared state, so a rotation pending elsewhere is refused', async () => {
    const clock = new FakeClock(Date.now());
    const dirA = await tempDir();
    const a = await CertificateAuthority.open({ stateDir: dirA, clock });
    await a.rotate({ activateAfterMs: 60_000 });
    const latest: CaStateData = (await loadCaState(path.join(dirA, 'ca')))!;
    const updates: string[] = [];
    const shared: SharedCaState = {
      async update(change) {
        updates.push('start');
        const result = await change(latest);
        updates.push('published');
        return result;
      },
    };
    const b = await CertificateAuthority.open({ stateDir: await tempDir(), clock, shared });
    await assert.rejects(b.rotate(), /a rotation is already under way/);
    assert.deepEqual(updates, ['start'], 'a refused rotation publishes nothing');
    assert.deepEqual(b.trustBundlePem(), a.trustBundlePem(), 'B took the latest state on the way');
    await Promise.all([a.close(), b.close()]);
  });
});
