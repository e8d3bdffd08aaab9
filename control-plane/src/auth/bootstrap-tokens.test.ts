// Tests bootstrap tokens: claims, use counts persisted across restarts (replay refused), expiry, foreign keys, the key file.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { BootstrapTokens, TOKEN_AUDIENCE, TOKEN_ISSUER } from './bootstrap-tokens.js';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'weft-tokens-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('BootstrapTokens', { timeout: 20_000 }, () => {
  it('issues an ES256 JWT with iss, aud, sub = the SPIFFE ID, exp, jti and uses', async () => {
    const clock = new FakeClock();
    const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
    const issued = await tokens.create({ service: 'payments', namespace: 'shop', ttlMs: 600_000, uses: 3 });
    const claims = decodeJwt(issued.token);
    assert.equal(decodeProtectedHeader(issued.token).alg, 'ES256');
    assert.equal(claims.iss, TOKEN_ISSUER);
    assert.equal(claims.aud, TOKEN_AUDIENCE);
    assert.equal(claims.sub, 'spiffe://weft.local/ns/shop/sa/payments');
    assert.equal(claims.exp, Math.floor(clock.nowMs() / 1000) + 600);
    assert.equal(claims.jti, issued.jti);
    assert.equal(claims['uses'], 3);
    const checked = await tokens.check(issued.token);
    assert.ok(checked.ok && checked.grant.spiffeId === issued.spiffeId && checked.grant.uses === 3);
    await assert.rejects(tokens.create({ service: 'Pay Ments' }), /service: 'Pay Ments' is not a DNS label/);
    await assert.rejects(tokens.create({ service: 'a', ttlMs: 40 * 86_400_000 }), /ttl: must be between 1s and 30 days/);
    await assert.rejects(tokens.create({ service: 'a', uses: 0 }), /uses: must be an integer from 1/);
  });

  it('counts uses: a single-use token is refused the second time, also after a restart (the count is on disk)', async () => {
    const stateDir = await tempDir();
    const clock = new FakeClock();
    const open = () => BootstrapTokens.open({ stateDir, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
    const tokens = await open();
    const issued = await tokens.create({ service: 'payments' });
    const first = await tokens.check(issued.token);
    assert.ok(first.ok);
    assert.ok((await tokens.consume(first.grant)).ok);
    const again = await tokens.check(issued.token);
    assert.ok(!again.ok && again.reason === 'replayed', JSON.stringify(again));
    assert.match(again.ok ? '' : again.error, /already used \(1 of 1 use\): replayed\?/);
    await tokens.close();

    const restarted = await open();
    const afterRestart = await restarted.check(issued.token);
    assert.ok(!afterRestart.ok && afterRestart.reason === 'replayed', 'the use survived the restart');
    // Two racing consumes of one remaining use: exactly one wins.
    const two = await restarted.create({ service: 'payments', uses: 2 });
    const g = await restarted.check(two.token);
    assert.ok(g.ok);
    const results = await Promise.all([restarted.consume(g.grant), restarted.consume(g.grant), restarted.consume(g.grant)]);
    assert.deepEqual(results.map((r) => r.ok), [true, true, false]);
    const keyFile = path.join(stateDir, 'tokens', 'signing-key.pem');
    assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
    assert.equal((await stat(path.join(stateDir, 'tokens', 'used.json'))).mode & 0o777, 0o600);
    // The key a use went to survives too: that key may ask again (its answer was lost), no other may.
    const keyed = await restarted.create({ service: 'payments' });
    const k = await restarted.check(keyed.token, 'key-a');
    assert.ok(k.ok && (await restarted.consume(k.grant, 'key-a')).ok);
    await restarted.close();
    const reopened = await open();
    assert.ok((await reopened.check(keyed.token, 'key-a')).ok, 'the same key after a restart');
    const repeat = await reopened.check(keyed.token, 'key-a');
    assert.ok(repeat.ok && (await reopened.consume(repeat.grant, 'key-a')).ok, 'a repeat for the same key is not counted');
    const otherKey = await reopened.check(keyed.token, 'key-b');
    assert.ok(!otherKey.ok && otherKey.reason === 'replayed', JSON.stringify(otherKey));
    await reopened.close();
  });

  it('refuses an expired token, a token signed by another key, and tampered or malformed ones, saying which', async () => {
    const clock = new FakeClock();
    const tokens = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
    const issued = await tokens.create({ service: 'payments', ttlMs: 60_000 });
    clock.advance(61_000);
    const expired = await tokens.check(issued.token);
    assert.ok(!expired.ok && expired.reason === 'expired');
    assert.match(expired.ok ? '' : expired.error, /expired.*weft token create/);

    const other = await BootstrapTokens.open({ stateDir: false, trustDomain: 'weft.local', nowMs: () => clock.nowMs() });
    const foreign = await other.check((await tokens.create({ service: 'payments' })).token);
    assert.ok(!foreign.ok && foreign.reason === 'signature');
    assert.match(foreign.ok ? '' : foreign.error, /not signed by this control plane's token key \(key id .*; this control plane's is .*\)/);

    // A forged token with the right claims but an attacker's key.
    const attacker = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const nowS = Math.floor(clock.nowMs() / 1000);
    const forged = await new SignJWT({ uses: 100 })
      .setProtectedHeader({ alg: 'ES256' })
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setSubject('spiffe://weft.local/ns/default/sa/admin')
      .setExpirationTime(nowS + 3600)
      .setJti('forged')
      .sign(attacker);
    const f = await tokens.check(forged);
    assert.ok(!f.ok && f.reason === 'signature');
    // alg: none and HS256 are refused (only ES256 is allowed).
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${forged.split('.')[1]}.`;
    assert.ok(!(await tokens.check(none)).ok);
    const tampered = forged.split('.');
    tampered[1] = Buffer.from(JSON.stringify({ ...decodeJwt(issued.token), sub: 'spiffe://weft.local/ns/default/sa/admin' })).toString('base64url');
    assert.ok(!(await tokens.check(tampered.join('.'))).ok);
    const malformed = await tokens.check('not-a-jwt');
    assert.ok(!malformed.ok && malformed.reason === 'malformed');
    // A token for another trust domain (same key) is refused.
    const wrongTd = await BootstrapTokens.open({ stateDir: false, trustDomain: 'other.td', nowMs: () => clock.nowMs() });
    assert.ok(!(await wrongTd.check((await tokens.create({ service: 'x' })).token)).ok);
  });

  it('refuses to start on an unreadable ledger or key, instead of forgetting used tokens', async () => {
    const stateDir = await tempDir();
    await (await BootstrapTokens.open({ stateDir, trustDomain: 'weft.local' })).close();
    await writeFile(path.join(stateDir, 'tokens', 'used.json'), '{"version": 7}');
    await assert.rejects(BootstrapTokens.open({ stateDir, trustDomain: 'weft.local' }), /used-token ledger .*used\.json cannot be read.*delete it to start empty/);
    await rm(path.join(stateDir, 'tokens', 'used.json'));
    await writeFile(path.join(stateDir, 'tokens', 'signing-key.pem'), 'garbage');
    await assert.rejects(BootstrapTokens.open({ stateDir, trustDomain: 'weft.local' }), /token signing key .* is unusable/);
    assert.equal(await readFile(path.join(stateDir, 'tokens', 'signing-key.pem'), 'utf8'), 'garbage', 'never overwritten');
  });
});
