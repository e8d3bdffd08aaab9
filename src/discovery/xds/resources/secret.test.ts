// Tests the SDS Secret decoder: a trust bundle of CA certificates only; file sources, leaf certificates and key
// material refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { testRoot } from '../../../../control-plane/src/ca/ca-test-kit.js';
import { buildLeafCertificate, signerOf } from '../../../../control-plane/src/ca/issue.js';
import { decodeSecret } from './secret.js';

describe('decodeSecret', () => {
  const a = testRoot('weft.local', 'A');
  const b = testRoot('weft.local', 'B');

  it('reads every root of an inline PEM bundle (string or bytes)', () => {
    const out = decodeSecret({ name: 'weft-trust-bundle', validation_context: { trusted_ca: { specifier: 'inline_string', inline_string: a.pem + b.pem } } });
    assert.ok(out.ok);
    assert.deepEqual(out.value.fingerprints, [a.cert.fingerprint256, b.cert.fingerprint256]);
    const bytes = decodeSecret({ name: 'x', validation_context: { trusted_ca: { specifier: 'inline_bytes', inline_bytes: Buffer.from(a.pem) } } });
    assert.ok(bytes.ok && bytes.value.trustedCaPem.length === 1);
  });

  it('refuses what is not a trust bundle of CA certificates, saying which field', () => {
    const leaf = buildLeafCertificate({ signer: signerOf(a.cert, a.key), publicKey: crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey, spiffeId: 'spiffe://weft.local/ns/default/sa/x', notBeforeMs: Date.now(), notAfterMs: Date.now() + 60_000 });
    const cases: [unknown, RegExp][] = [
      [{ name: 'x', type: 'tls_certificate', tls_certificate: {} }, /validation_context: required \(Weft accepts only trust-bundle Secrets; the Secret carries tls_certificate\)/],
      [{ name: 'x', validation_context: {} }, /validation_context.trusted_ca: required/],
      [{ name: 'x', validation_context: { trusted_ca: { specifier: 'filename', filename: '/etc/passwd' } } }, /must be inline_string or inline_bytes PEM, got filename/],
      [{ name: 'x', validation_context: { trusted_ca: { specifier: 'inline_string', inline_string: 'nope' } } }, /no PEM "CERTIFICATE" block/],
      [{ name: 'x', validation_context: { trusted_ca: { specifier: 'inline_string', inline_string: a.pem + leaf.pem } } }, /certificate 2 \(.*\) is not a CA certificate/],
    ];
    for (const [secret, pattern] of cases) {
      const out = decodeSecret(secret as Record<string, unknown>);
      assert.ok(!out.ok);
      assert.match(out.errors.join('\n'), pattern);
    }
  });
});
