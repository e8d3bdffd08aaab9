// Tests JWT authentication: every attack refused with its reason (alg none, expired, audience, issuer, forged signature,
// unknown kid, algorithm confusion), Envoy requirement semantics, the verified-token cache and the JWKS stale window.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { JwtAuthnFilter, JwtProvider, JwtRequirement } from '../../discovery/inbound-policy.js';
import { createTestIssuer, type TestIssuer } from '../../testing/jwt-issuer.js';
import { compileJwtAuthn, ProviderPool, type AuthnResult } from './jwt-authn.js';
import { SignJWT } from 'jose';
import { algorithmsOf, JWKS_MAX_STALE_MS } from './jwks.js';
import { compileProvider } from './jwt-provider.js';

const T0 = Date.UTC(2030, 0, 1);

function provider(issuer: TestIssuer, over: Partial<JwtProvider> = {}): JwtProvider {
  return {
    name: 'p',
    issuer: issuer.issuer,
    audiences: ['payments'],
    jwks: { kind: 'local', keys: issuer.jwks.keys as never },
    fromHeaders: [{ name: 'authorization', valuePrefix: 'Bearer ' }],
    forward: false,
    payloadInMetadata: 'jwt_payload',
    clockSkewSeconds: 60,
    ...over,
  };
}

function filter(providers: JwtProvider[], requires: JwtRequirement): JwtAuthnFilter {
  return { kind: 'jwt-authn', name: 'jwt', providers: new Map(providers.map((p) => [p.name, p])), rules: [{ match: { kind: 'prefix', value: '/', ignoreCase: false }, requires }] };
}

const istio = (names: string[]): JwtRequirement => ({ kind: 'any', requirements: [...names.map((provider) => ({ kind: 'provider' as const, provider })), { kind: 'allow-missing' }] });

function harness(providers: JwtProvider[], requires: JwtRequirement) {
  const clock = { now: T0 };
  const pool = new ProviderPool({ nowMs: () => clock.now }, () => {});
  const authn = compileJwtAuthn(filter(providers, requires), pool);
  const check = async (token?: string, header = 'authorization'): Promise<AuthnResult> =>
    authn.check({ path: '/x', header: (n) => (n === header && token !== undefined ? `Bearer ${token}` : undefined) });
  const reason = async (token?: string) => {
    const r = await check(token);
    return r.ok ? 'ok' : r.reason;
  };
  return { clock, authn, check, reason };
}

describe('JWT authentication', () => {
  it('refuses each attack with its reason code', async () => {
    const iss = await createTestIssuer({ nowMs: () => T0 });
    const h = harness([provider(iss)], istio(['p']));
    assert.equal(await h.reason(await iss.sign({ audience: 'payments', subject: 'alice' })), 'ok');
    assert.equal(await h.reason(iss.unsigned({ audience: 'payments' })), 'jwt_alg_not_allowed', 'alg: none');
    assert.equal(await h.reason(await iss.sign({ audience: 'payments', iat: T0 / 1000 - 7200, exp: T0 / 1000 - 3600 })), 'jwt_expired');
    assert.equal(await h.reason(await iss.sign({ audience: 'ledger' })), 'jwt_audience_mismatch');
    assert.equal(await h.reason(await iss.sign({ audience: 'payments', issuer: 'https://evil.test' })), 'jwt_issuer_mismatch');
    assert.equal(await h.reason(await iss.forge({ audience: 'payments' })), 'jwt_bad_signature', 'right kid, wrong key');
    assert.equal(await h.reason(await iss.sign({ audience: 'payments', kid: 'rotated-away' })), 'jwt_unknown_kid');
    assert.equal(await h.reason(await iss.sign({ audience: 'payments', nbf: T0 / 1000 + 3600 })), 'jwt_not_yet_valid');
    assert.equal(await h.reason('not-a-jwt'), 'jwt_malformed');
    // Algorithm confusion: an HMAC token "signed" with the public key's bytes must not verify against an EC key set.
    const hs = `${Buffer.from(JSON.stringify({ alg: 'HS256', kid: iss.kid })).toString('base64url')}.${Buffer.from(JSON.stringify({ iss: iss.issuer, aud: 'payments' })).toString('base64url')}.sig`;
    assert.equal(await h.reason(hs), 'jwt_alg_not_allowed');
  });

  it('follows Envoy/Istio requirement semantics: no token passes, a bad token is refused, a required one must be there', async () => {
    const iss = await createTestIssuer({ nowMs: () => T0 });
    const optional = harness([provider(iss)], istio(['p']));
    assert.deepEqual(await optional.check(), { ok: true, claims: undefined, metadata: undefined, strip: [] }, 'no token: passes with no claims');
    const ok = await optional.check(await iss.sign({ audience: 'payments', subject: 'alice', claims: { realm: { roles: ['admin'] } } }));
    assert.ok(ok.ok);
    assert.equal(ok.claims?.['sub'], 'alice');
    assert.deepEqual(ok.metadata?.get('jwt_payload')?.['realm'], { roles: ['admin'] });
    assert.deepEqual(ok.strip, ['authorization'], 'forward: false removes the token header');
    const required = harness([provider(iss)], { kind: 'provider', provider: 'p' });
    assert.equal(await required.reason(), 'jwt_missing');
    const lenient = harness([provider(iss)], { kind: 'any', requirements: [{ kind: 'provider', provider: 'p' }, { kind: 'allow-missing-or-failed' }] });
    assert.equal(await lenient.reason(await iss.forge({ audience: 'payments' })), 'ok');
  });

  it('picks the provider by issuer among several, reporting the telling failure', async () => {
    const a = await createTestIssuer({ issuer: 'https://a.test', kid: 'a', nowMs: () => T0 });
    const b = await createTestIssuer({ issuer: 'https://b.test', kid: 'b', nowMs: () => T0 });
    const h = harness([provider(a, { name: 'a' }), provider(b, { name: 'b' })], istio(['a', 'b']));
    assert.equal(await h.reason(await b.sign({ audience: 'payments' })), 'ok');
    assert.equal(await h.reason(await b.sign({ audience: 'ledger' })), 'jwt_audience_mismatch', "b's own failure, not a's issuer mismatch");
    assert.equal(await h.reason(await b.sign({ audience: 'payments', issuer: 'https://c.test' })), 'jwt_issuer_mismatch');
  });

  it('answers a repeated token from the cache, synchronously, until it expires', async () => {
    const iss = await createTestIssuer({ nowMs: () => T0 });
    const h = harness([provider(iss)], istio(['p']));
    const token = await iss.sign({ audience: 'payments', exp: T0 / 1000 + 120 });
    const first = h.authn.check({ path: '/', header: (n) => (n === 'authorization' ? `Bearer ${token}` : undefined) });
    assert.ok(first instanceof Promise, 'the first check verifies');
    assert.ok((await first).ok);
    const again = h.authn.check({ path: '/', header: (n) => (n === 'authorization' ? `Bearer ${token}` : undefined) });
    assert.ok(!(again instanceof Promise) && again.ok, 'the second is a cache hit, answered synchronously');
    h.clock.now = T0 + 121_000;
    assert.ok(h.authn.check({ path: '/', header: (n) => (n === 'authorization' ? `Bearer ${token}` : undefined) }) instanceof Promise, 'past exp the cache no longer answers');
    assert.equal(await h.reason(token), 'ok', 'jose still accepts it within the 60 s clock skew');
    h.clock.now = T0 + 181_000;
    assert.equal(await h.reason(token), 'jwt_expired', 'past exp plus the skew');
  });

  it('never accepts an HMAC token, even when a remote JWKS publishes the shared secret, before or after the first fetch', async () => {
    const iss = await createTestIssuer({ nowMs: () => T0 });
    const secret = new TextEncoder().encode('a-shared-secret-published-by-mistake');
    const jwks = { keys: [...iss.jwks.keys, { kty: 'oct', kid: 'hmac', alg: 'HS256', k: Buffer.from(secret).toString('base64url') }] };
    const fetch = async (): Promise<Response> => new Response(JSON.stringify(jwks), { status: 200, headers: { 'content-type': 'application/json' } });
    const remote = { kind: 'remote' as const, uri: 'https://keys.test/jwks', timeoutMs: 1000, cacheDurationMs: 60_000 };
    const hs256 = await new SignJWT({ aud: 'payments' }).setProtectedHeader({ alg: 'HS256', kid: 'hmac' }).setIssuer(iss.issuer).setIssuedAt(T0 / 1000).setExpirationTime(T0 / 1000 + 600).sign(secret);
    const p = compileProvider(provider(iss, { jwks: remote }), { nowMs: () => T0, fetch: fetch as typeof globalThis.fetch });
    const first = await p.verify(hs256); // nothing fetched yet: the key set's algorithms are unknown
    assert.ok(!first.ok && first.reason === 'jwt_alg_not_allowed' && /HS256.*never accepted/.test(first.detail), JSON.stringify(first));
    assert.ok((await p.verify(await iss.sign({ audience: 'payments' }))).ok, 'the asymmetric key of the same set verifies');
    const after = await p.verify(hs256);
    assert.ok(!after.ok && after.reason === 'jwt_alg_not_allowed', JSON.stringify(after));
    assert.deepEqual([...algorithmsOf(jwks as never)], ['ES256'], 'an oct key allows no algorithm');
  });

  it('with several issuers on one header, a repeated token is answered synchronously: other providers remember the mismatch', async () => {
    const a = await createTestIssuer({ issuer: 'https://a.test', kid: 'a', nowMs: () => T0 });
    const b = await createTestIssuer({ issuer: 'https://b.test', kid: 'b', nowMs: () => T0 });
    const h = harness([provider(a, { name: 'a' }), provider(b, { name: 'b' })], istio(['a', 'b']));
    const req = (token: string) => ({ path: '/', header: (n: string) => (n === 'authorization' ? `Bearer ${token}` : undefined) });
    for (const issuer of [a, b]) {
      const token = await issuer.sign({ audience: 'payments', subject: issuer.kid });
      const first = h.authn.check(req(token));
      assert.ok(first instanceof Promise, 'the first check verifies');
      assert.equal(((await first) as { claims?: { sub?: unknown } }).claims?.sub, issuer.kid);
      for (let i = 0; i < 3; i++) {
        const again = h.authn.check(req(token));
        assert.ok(!(again instanceof Promise), `repeat ${i} of ${issuer.issuer}'s token is answered synchronously`);
        assert.ok(again.ok && again.claims?.['sub'] === issuer.kid);
      }
    }
    // A token of neither issuer is refused, synchronously once seen, with the same reason as before.
    const stranger = await b.sign({ audience: 'payments', issuer: 'https://c.test' });
    assert.equal(await h.reason(stranger), 'jwt_issuer_mismatch');
    const again = h.authn.check(req(stranger));
    assert.ok(!(again instanceof Promise) && !again.ok && again.reason === 'jwt_issuer_mismatch');
  });

  it('keeps serving fetched keys through a JWKS outage, within the stale window, then fails with jwks_unavailable', async () => {
    const iss = await createTestIssuer({ nowMs: () => T0 });
    let up = true;
    let fetches = 0;
    const fetch = async (): Promise<Response> => {
      fetches++;
      if (!up) throw new TypeError('fetch failed: connection refused');
      return new Response(JSON.stringify(iss.jwks), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const clock = { now: T0 };
    // cacheDurationMs 0: jose considers the keys stale at once, so every new token tries the endpoint first.
    const p = compileProvider(provider(iss, { jwks: { kind: 'remote', uri: 'https://keys.test/jwks', timeoutMs: 1000, cacheDurationMs: 0 } }), { nowMs: () => clock.now, fetch: fetch as typeof globalThis.fetch });
    const verify = async (sub: string) => {
      const o = await p.verify(await iss.sign({ audience: 'payments', subject: sub, iat: Math.floor(clock.now / 1000) }));
      return o.ok ? 'ok' : o.reason;
    };
    assert.equal(await verify('a'), 'ok');
    assert.ok(fetches >= 1);
    up = false;
    clock.now = T0 + 10 * 60_000;
    assert.equal(await verify('b'), 'ok', 'endpoint down: the last good keys still verify');
    clock.now = T0 + JWKS_MAX_STALE_MS + 60_000;
    assert.equal(await verify('c'), 'jwks_unavailable', 'past the stale window');
    const never = compileProvider(provider(iss, { jwks: { kind: 'remote', uri: 'https://keys.test/jwks', timeoutMs: 1000, cacheDurationMs: 60_000 } }), { nowMs: () => clock.now, fetch: fetch as typeof globalThis.fetch });
    const o = await never.verify(await iss.sign({ audience: 'payments', iat: Math.floor(clock.now / 1000) }));
    assert.equal(o.ok ? 'ok' : o.reason, 'jwks_unavailable', 'no keys ever fetched');
  });
});
