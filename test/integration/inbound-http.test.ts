// Inbound policy on a real mesh.serve() HTTP server fed by the real control plane: every JWT attack refused with 401
// and its reason, DENY over ALLOW, default deny, 429 + retry-after and refill, live edits within a second, counters, logs.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createMesh, jwtClaims, peerIdentity, type Mesh } from '../../src/index.js';
import type { Logger } from '../../src/core/logger.js';
import { createTestIssuer, type TestIssuer } from '../../src/testing/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const policy = (kind: string, name: string, spec: string) => `apiVersion: weft.dev/v1alpha1\nkind: ${kind}\nmetadata: { name: ${name} }\nspec:\n${spec}`;

describe('inbound policy on an HTTP server (real control plane)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let issuer: TestIssuer;
  let port = 0;
  const logs: Record<string, unknown>[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => logs.push({ message, ...fields }), error: (message, fields) => logs.push({ message, ...fields }) };

  const get = async (path: string, headers: Record<string, string> = {}, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
    return { status: res.status, headers: res.headers, text: await res.text() };
  };
  // Edits in quick succession are debounced (100 ms): wait for the pushed version, so a check made next cannot pass on
  // the state before the edit.
  const apply = async (yaml: string) => {
    const r = await tcp.apply(yaml);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    await tcp.pushed();
  };
  const remove = async (kind: string, name: string) => {
    const res = await tcp.admin('DELETE', `/v1/resources/${kind}/${name}`);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    await tcp.pushed();
  };
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
  /** The status line of a request written by hand, e.g. with an absolute-form target fetch never sends. */
  const rawStatus = (target: string) =>
    new Promise<string>((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(`GET ${target} HTTP/1.1\r\nhost: payments\r\nconnection: close\r\n\r\n`));
      let data = '';
      socket.on('data', (d: Buffer) => (data += d.toString()));
      socket.on('end', () => resolve(data.split('\r\n')[0]!));
      socket.on('error', reject);
    });

  before(async () => {
    issuer = await createTestIssuer({ issuer: 'https://issuer.test' });
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('payments') });
    mesh = await createMesh({ service: 'payments', controlPlane: tcp.cp.xdsUrl, logger, ready: { timeoutMs: 10_000 } });
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) =>
      res.end(JSON.stringify({ url: req.url, sub: jwtClaims(req)?.['sub'] ?? null, authorization: req.headers.authorization ?? null, peer: peerIdentity(req) ?? null }));
    port = (await mesh.serve(handler, { port: 0 })).port;
    await mesh.ready();
  });

  after(async () => {
    await mesh?.close();
    await tcp?.close();
  });

  it('serves everything while no policy applies, and mesh.ready() waited for that answer', async () => {
    assert.equal((await get('/anything')).status, 200);
    assert.equal(mesh.status().inbound?.policy, 'active');
  });

  it('requires a valid JWT on /api/* and refuses each attack with 401, www-authenticate and its reason', async () => {
    await apply(
      policy('RequestAuthentication', 'issuer', `  targetRef: { kind: Service, name: payments }\n  jwtRules: [{ issuer: "${issuer.issuer}", audiences: [payments], jwks: '${JSON.stringify(issuer.jwks)}' }]\n`) +
        '---\n' +
        policy('AuthorizationPolicy', 'api-needs-jwt', `  targetRef: { kind: Service, name: payments }\n  action: DENY\n  rules: [{ from: [{ source: { notRequestPrincipals: ["*"] } }], to: [{ operation: { paths: ["/api/*"] } }] }]\n`),
    );
    await waitFor(async () => (await get('/api/orders')).status === 403, 'the JWT policy to reach the server', 5_000);
    const noToken = await get('/api/orders');
    assert.equal(noToken.headers.get('x-mesh-error'), 'WEFT_ERR_PERMISSION_DENIED');
    assert.equal(noToken.text, 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: policy api-needs-jwt\n');
    assert.equal((await get('/public')).status, 200, 'outside /api/* no token is needed');

    const ok = await get('/api/orders', bearer(await issuer.sign({ audience: 'payments', subject: 'alice' })));
    assert.equal(ok.status, 200);
    assert.deepEqual(JSON.parse(ok.text), { url: '/api/orders', sub: 'alice', authorization: null, peer: null }, 'claims for the handler; the token header removed');

    const now = Math.floor(Date.now() / 1000);
    const attacks: [string, string][] = [
      [issuer.unsigned({ audience: 'payments' }), 'jwt_alg_not_allowed'],
      [await issuer.sign({ audience: 'payments', iat: now - 7200, exp: now - 3600 }), 'jwt_expired'],
      [await issuer.sign({ audience: 'ledger' }), 'jwt_audience_mismatch'],
      [await issuer.sign({ audience: 'payments', issuer: 'https://evil.test' }), 'jwt_issuer_mismatch'],
      [await issuer.forge({ audience: 'payments' }), 'jwt_bad_signature'],
      [await issuer.sign({ audience: 'payments', kid: 'unknown-kid' }), 'jwt_unknown_kid'],
    ];
    for (const [token, reason] of attacks) {
      for (const path of ['/api/orders', '/public']) {
        const res = await get(path, bearer(token));
        assert.equal(res.status, 401, `${reason} on ${path}: ${res.text}`);
        assert.equal(res.headers.get('x-mesh-error'), 'WEFT_ERR_UNAUTHENTICATED');
        assert.equal(res.headers.get('www-authenticate'), `Bearer realm="payments", error="invalid_token", error_description="${reason}"`);
        assert.match(res.text, new RegExp(`^WEFT_ERR_UNAUTHENTICATED: ${reason}: `));
      }
    }
    const refused = mesh.status().inbound!.refused;
    for (const [, reason] of attacks) assert.equal(refused[reason], 2, `counted: ${reason}`);
    assert.ok(logs.some((l) => l['message'] === 'weft: inbound request refused' && l['reason'] === 'jwt_expired' && l['path'] === '/api/orders'), 'refusals are logged');
    await remove('AuthorizationPolicy', 'api-needs-jwt');
    await remove('RequestAuthentication', 'issuer');
  });

  it('fetches a remote JWK Set (jwksUri) once, and verifies tokens against it', async () => {
    let fetches = 0;
    const jwksServer = http.createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(issuer.jwks));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const uri = `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks`;
      await apply(policy('RequestAuthentication', 'remote', `  targetRef: { kind: Service, name: payments }\n  jwtRules: [{ issuer: "${issuer.issuer}", jwksUri: "${uri}" }]\n`));
      const expired = await issuer.sign({ iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 });
      await waitFor(async () => (await get('/x', bearer(expired))).status === 401, 'the remote RequestAuthentication to apply', 5_000);
      for (const sub of ['a', 'b', 'c']) {
        const ok = await get('/x', bearer(await issuer.sign({ subject: sub })));
        assert.equal(JSON.parse(ok.text).sub, sub);
      }
      assert.equal((await get('/x', bearer(await issuer.forge({})))).status, 401);
      assert.equal(fetches, 1, 'the keys were fetched once (when the policy arrived) and cached');
      await remove('RequestAuthentication', 'remote');
    } finally {
      jwksServer.close();
    }
  });

  it('lets DENY win over ALLOW, and denies by default what no ALLOW policy allows', async () => {
    await apply(
      policy('AuthorizationPolicy', 'allow-reads', `  targetRef: { kind: Service, name: payments }\n  rules: [{ to: [{ operation: { methods: [GET, HEAD], paths: ["/shop/*"] } }] }]\n`) +
        '---\n' +
        policy('AuthorizationPolicy', 'deny-admin', `  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/shop/admin*"] } }] }]\n`),
    );
    await waitFor(async () => (await get('/elsewhere')).status === 403, 'the ALLOW policy to reach the server', 5_000);
    assert.equal((await get('/shop/items')).status, 200);
    const denied = await get('/shop/admin/users');
    assert.deepEqual([denied.status, denied.text], [403, 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: policy deny-admin\n'], 'DENY wins though ALLOW matches');
    const fallback = await get('/shop/items', {}, 'POST');
    assert.deepEqual([fallback.status, fallback.text], [403, 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: no ALLOW policy matched\n']);
    const traversal = await get('/shop/x/../admin/users');
    assert.equal(traversal.status, 403, 'dot segments are resolved before matching');
    assert.equal(await rawStatus('http://payments/shop/admin/users'), 'HTTP/1.1 403 Forbidden', 'an absolute-form target is matched by its path');
    assert.equal(await rawStatus('/shop/%61dmin/users'), 'HTTP/1.1 403 Forbidden', 'percent-encoded letters are decoded before matching');
    assert.equal(mesh.status().inbound!.deniedBy['deny-admin'], 4);
    assert.equal(mesh.status().inbound!.deniedBy['default-deny'], 2);
    await remove('AuthorizationPolicy', 'allow-reads');
    await remove('AuthorizationPolicy', 'deny-admin');
  });

  it("puts a server's upgrade, CONNECT and Expect listeners, and listeners added after serve(), behind the policy too", async () => {
    // What `ws` or socket.io attach: Node hands these requests to 'upgrade' / 'connect' / 'checkContinue' listeners,
    // never to 'request' ones, so a policy that wrapped only the request listeners would let them all through.
    const reached: string[] = [];
    const server = http.createServer();
    server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
      reached.push(`upgrade ${req.url}`);
      socket.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\nconnection: upgrade\r\n\r\n');
    });
    server.on('connect', (req: http.IncomingMessage, socket: net.Socket) => {
      reached.push(`connect ${req.url}`);
      socket.end('HTTP/1.1 200 Connection Established\r\n\r\n');
    });
    server.on('checkContinue', (req: http.IncomingMessage, res: http.ServerResponse) => {
      reached.push(`continue ${req.url}`);
      res.end('continued');
    });
    const served = await mesh.serve(server, { port: 0 });
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
      reached.push(`late ${req.url}`);
      res.end('late listener');
    });
    const raw = (head: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = net.connect({ host: '127.0.0.1', port: served.port }, () => socket.write(`${head}\r\nhost: payments\r\n\r\n`));
        let data = '';
        socket.on('data', (d: Buffer) => (data += d.toString()));
        socket.on('close', () => resolve(data.split('\r\n')[0]!));
        socket.on('error', reject);
        setTimeout(() => socket.destroy(), 5_000).unref();
      });
    const upgrade = (path: string) => raw(`GET ${path} HTTP/1.1\r\nupgrade: websocket\r\nconnection: upgrade`);
    try {
      await apply(policy('AuthorizationPolicy', 'only-open', `  targetRef: { kind: Service, name: payments }\n  rules: [{ to: [{ operation: { methods: [GET], paths: ["/open"] } }] }]\n`));
      await waitFor(async () => (await upgrade('/private')).startsWith('HTTP/1.1 403'), 'the policy to reach the server', 5_000);
      reached.length = 0;
      assert.equal(await upgrade('/private'), 'HTTP/1.1 403 Forbidden');
      assert.equal(await raw('CONNECT example.com:443 HTTP/1.1'), 'HTTP/1.1 403 Forbidden');
      assert.equal(await raw('POST /private HTTP/1.1\r\nexpect: 100-continue\r\ncontent-length: 1\r\nconnection: close'), 'HTTP/1.1 403 Forbidden');
      assert.equal(await raw('GET /private HTTP/1.1\r\nconnection: close'), 'HTTP/1.1 403 Forbidden');
      assert.deepEqual(reached, [], 'no refused request reached a listener');
      assert.equal(await upgrade('/open'), 'HTTP/1.1 101 Switching Protocols', 'an allowed upgrade still reaches its listener');
      assert.equal(await raw('GET /open HTTP/1.1\r\nconnection: close'), 'HTTP/1.1 200 OK');
      assert.deepEqual(reached, ['upgrade /open', 'late /open']);
    } finally {
      await remove('AuthorizationPolicy', 'only-open');
      await served.close();
    }
  });

  it('limits /search to its bucket with 429 and retry-after, and admits again after the refill', async () => {
    await apply(policy('LocalRateLimit', 'search', `  targetRef: { kind: Service, name: payments }\n  routes: [{ match: { path: { value: /search } }, tokenBucket: { maxTokens: 2, fillInterval: 1s } }]\n`));
    // The first 429 shows the limit is live; then the bucket refills within its 1 s interval.
    const first = (await waitFor(async () => {
      const r = await get('/search?q=x');
      return r.status === 429 ? r : undefined;
    }, 'the rate limit to apply', 5_000))!;
    assert.equal(first.headers.get('x-mesh-error'), 'WEFT_ERR_RATE_LIMITED');
    assert.equal(first.headers.get('retry-after'), '1');
    assert.match(first.text, /^WEFT_ERR_RATE_LIMITED: rate_limited: limit LocalRateLimit\/search\/routes\/0\n$/);
    assert.equal((await get('/other')).status, 200, 'only /search is limited');
    await waitFor(async () => (await get('/search?q=y')).status === 200, 'a refill to admit /search again', 2_500);
    await remove('LocalRateLimit', 'search');
  });

  // How fast an edit applies is measured in benchmarks/convergence.ts; here: it applies to the running server, with
  // no restart, and so does its removal (the waits are generous so that a loaded machine does not fail them).
  it('applies a live policy edit to the running server, and its removal too', async () => {
    assert.equal((await get('/live')).status, 200, 'allowed before the edit');
    await apply(policy('AuthorizationPolicy', 'live', `  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/live"] } }] }]\n`));
    await waitFor(async () => (await get('/live')).status === 403, 'the DENY to apply', 15_000, 20);
    await remove('AuthorizationPolicy', 'live');
    await waitFor(async () => (await get('/live')).status === 200, 'the removal to apply', 15_000, 20);
  });
});
