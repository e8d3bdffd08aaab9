// SPIFFE IDs: the one format, parsed back, refused when malformed, and read from Node's SAN strings.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSpiffeId, parseSpiffeId, spiffeIdOfSans, uriSans } from './spiffe.js';

describe('SPIFFE IDs', () => {
  it('formats and parses spiffe://<td>/ns/<ns>/sa/<svc>', () => {
    const id = formatSpiffeId({ trustDomain: 'weft.local', namespace: 'default', service: 'payments' });
    assert.equal(id, 'spiffe://weft.local/ns/default/sa/payments');
    assert.deepEqual(parseSpiffeId(id), { trustDomain: 'weft.local', namespace: 'default', service: 'payments' });
  });

  it('refuses what is not a Weft workload ID', () => {
    for (const bad of [
      'http://weft.local/ns/default/sa/payments',
      'spiffe://weft.local/ns/default/sa',
      'spiffe://weft.local/ns/default/sa/payments/extra',
      'spiffe://Weft.Local/ns/default/sa/payments',
      'spiffe://weft.local/namespace/default/sa/payments',
      'spiffe://weft.local/ns//sa/payments',
    ]) {
      assert.equal(parseSpiffeId(bad), undefined, bad);
    }
    assert.throws(() => formatSpiffeId({ trustDomain: 'Bad Domain', namespace: 'default', service: 'x' }), /trust domain/);
    assert.throws(() => formatSpiffeId({ trustDomain: 'td', namespace: 'a/b', service: 'x' }), /namespace/);
    assert.throws(() => formatSpiffeId({ trustDomain: 'td', namespace: 'ns', service: '..' }), /service/);
  });

  it('reads the one URI SAN of an SVID from Node\'s subjectaltname string', () => {
    assert.deepEqual(uriSans('DNS:a.example, URI:spiffe://td/ns/n/sa/s, IP Address:127.0.0.1'), ['spiffe://td/ns/n/sa/s']);
    assert.equal(spiffeIdOfSans('URI:spiffe://td/ns/n/sa/s'), 'spiffe://td/ns/n/sa/s');
    assert.equal(spiffeIdOfSans('URI:spiffe://td/ns/n/sa/s, URI:spiffe://td/ns/n/sa/t'), undefined, 'two URI SANs: not an SVID');
    assert.equal(spiffeIdOfSans('URI:https://example.com'), undefined);
    assert.equal(spiffeIdOfSans(undefined), undefined);
  });
});
