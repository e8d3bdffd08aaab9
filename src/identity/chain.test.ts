// Tests the chain limits that bound what an unauthenticated peer can make the CA parse and verify: too many
// certificates or too much PEM is refused before parsing, and verifyChain never walks an over-long chain.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { buildLeafCertificate, buildRootCertificate, signerOf } from '../../control-plane/src/ca/issue.js';
import { generateWorkloadKey } from './csr.js';
import { MAX_CHAIN_LENGTH, MAX_CHAIN_PEM_BYTES, parsePresentedChain, verifyChain } from './chain.js';

const ID = 'spiffe://weft.local/ns/default/sa/payments';

function fixture() {
  const nowMs = Date.now();
  const rootKey = generateWorkloadKey();
  const root = buildRootCertificate({ ...rootKey, trustDomain: 'weft.local', commonName: 'Root', notBeforeMs: nowMs - 60_000, notAfterMs: nowMs + 3_600_000 });
  const leaf = buildLeafCertificate({ signer: signerOf(root.x509, rootKey.privateKey), publicKey: generateWorkloadKey().publicKey, spiffeId: ID, notBeforeMs: nowMs - 60_000, notAfterMs: nowMs + 3_600_000 });
  // A CA named like the root but with another key: a signature check each time it is tried as an issuer.
  const junkKey = generateWorkloadKey();
  const junk = buildRootCertificate({ ...junkKey, trustDomain: 'weft.local', commonName: 'Root', notBeforeMs: nowMs - 60_000, notAfterMs: nowMs + 3_600_000 });
  return { nowMs, root, leaf, junk };
}

describe('chain limits', () => {
  it(`accepts a chain of ${MAX_CHAIN_LENGTH} certificates and refuses one more, before parsing, saying the limit`, () => {
    const { leaf, junk } = fixture();
    const full = [leaf.pem, ...Array<string>(MAX_CHAIN_LENGTH - 1).fill(junk.pem)];
    const ok = parsePresentedChain(full);
    assert.ok(ok.ok && ok.value.length === MAX_CHAIN_LENGTH);
    const long = parsePresentedChain([...full, junk.pem]);
    assert.deepEqual(long, { ok: false, error: `the chain holds ${MAX_CHAIN_LENGTH + 1} certificates; at most ${MAX_CHAIN_LENGTH} (the leaf and its intermediates) are accepted` });
    // Blocks are counted, not entries: one string holding many certificates is refused the same way.
    const packed = parsePresentedChain([full.join('') + junk.pem]);
    assert.ok(!packed.ok && /holds 6 certificates; at most 5/.test(packed.error), JSON.stringify(packed));
  });

  it(`refuses more than ${MAX_CHAIN_PEM_BYTES} bytes of PEM, however it is split`, () => {
    const { leaf } = fixture();
    const padding = 'x'.repeat(MAX_CHAIN_PEM_BYTES);
    const r = parsePresentedChain([leaf.pem, padding]);
    assert.deepEqual(r, { ok: false, error: `the chain is ${leaf.pem.length + MAX_CHAIN_PEM_BYTES} bytes of PEM; at most ${MAX_CHAIN_PEM_BYTES} are accepted` });
    const many = parsePresentedChain(Array<string>(5_000).fill(leaf.pem));
    assert.ok(!many.ok && /bytes of PEM; at most 32768/.test(many.error));
  });

  it('verifyChain refuses an over-long chain as malformed without walking it, and still verifies a full-length one', () => {
    const { nowMs, root, leaf, junk } = fixture();
    const junkX = new X509Certificate(junk.pem);
    const full = [leaf.x509, ...Array<X509Certificate>(MAX_CHAIN_LENGTH - 1).fill(junkX)];
    const ok = verifyChain(full, [root.x509], nowMs);
    assert.ok(ok.ok && ok.value.spiffeId === ID, JSON.stringify(ok));
    const long = verifyChain([...full, junkX], [root.x509], nowMs);
    assert.ok(!long.ok && long.reason === 'malformed' && /holds 6 certificates; at most 5/.test(long.error), JSON.stringify(long));
  });
});
