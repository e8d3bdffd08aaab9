// Inbound policy on a real mesh.grpc.server() served by mesh.grpc.serve(), fed by the real control plane: a denied
// method gets PERMISSION_DENIED, a bad token UNAUTHENTICATED, a good one reaches the handler with its claims, and a
// rate limit answers RESOURCE_EXHAUSTED with retry-after, each with the x-mesh-error trailer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, jwtClaims, type Mesh } from '../../src/index.js';
import { createTestIssuer, echoService, EchoClient, say, type EchoClientInstance, type TestIssuer } from '../../src/testing/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

describe('inbound policy on a gRPC server (real control plane)', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let issuer: TestIssuer;
  let client: EchoClientInstance;
  const warnings: string[] = [];
  const logger = { debug() {}, info() {}, warn: (message: string) => void warnings.push(message), error() {} };

  const call = async (metadata?: Record<string, string>) => {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
    try {
      return { ok: true as const, reply: await say(client, { text: 'hi' }, { metadata: md, deadlineMs: 5_000 }) };
    } catch (e: unknown) {
      const err = e as grpc.ServiceError;
      return { ok: false as const, code: err.code, details: err.details, trailer: (name: string) => err.metadata?.get(name)[0] };
    }
  };
  const apply = async (yaml: string) => {
    const r = await tcp.apply(yaml);
    assert.equal(r.status, 200, JSON.stringify(r.body));
  };
  const remove = async (kind: string, name: string) => assert.equal((await tcp.admin('DELETE', `/v1/resources/${kind}/${name}`)).status, 200);

  before(async () => {
    issuer = await createTestIssuer();
    tcp = await startTestControlPlane({ 'services.yaml': serviceYaml('echo', 'GRPC', 50051) });
    mesh = await createMesh({ service: 'echo', controlPlane: tcp.cp.xdsUrl, ready: { timeoutMs: 10_000 }, logger });
    const server = mesh.grpc.server({ health: false });
    server.addService(echoService, {
      Say: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) =>
        cb(null, { server: 'echo', text: String(jwtClaims(c)?.['sub'] ?? ''), attempt: 1, headers: { authorization: String(c.metadata.get('authorization')[0] ?? '') } }),
    });
    const { port } = await mesh.grpc.serve(server, { port: 0 });
    client = new EchoClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    await mesh.ready();
  });

  after(async () => {
    client?.close();
    await mesh?.close();
    await tcp?.close();
  });

  it('refuses a denied method with PERMISSION_DENIED and the policy that denied it', async () => {
    assert.ok((await call()).ok);
    await apply(`apiVersion: weft.dev/v1alpha1\nkind: AuthorizationPolicy\nmetadata: { name: no-say }\nspec:\n  targetRef: { kind: Service, name: echo }\n  action: DENY\n  rules: [{ to: [{ operation: { paths: ["/weft.test.Echo/Say"] } }], when: [{ key: "request.headers[x-tenant]", values: ["blocked"] }] }]\n`);
    const denied = (await waitFor(async () => {
      const r = await call({ 'x-tenant': 'blocked' });
      return r.ok ? undefined : r;
    }, 'the DENY to reach the server', 5_000))!;
    assert.deepEqual([denied.code, denied.details, denied.trailer('x-mesh-error')], [grpc.status.PERMISSION_DENIED, 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: policy no-say', 'WEFT_ERR_PERMISSION_DENIED']);
    assert.ok((await call({ 'x-tenant': 'acme' })).ok, 'the condition is part of the rule');
    await remove('AuthorizationPolicy', 'no-say');
  });

  it('authenticates tokens in metadata: UNAUTHENTICATED for a bad one, claims for the handler with a good one', async () => {
    await apply(`apiVersion: weft.dev/v1alpha1\nkind: RequestAuthentication\nmetadata: { name: jwt }\nspec:\n  jwtRules: [{ issuer: "${issuer.issuer}", jwks: '${JSON.stringify(issuer.jwks)}', forwardOriginalToken: true }]\n`);
    const now = Math.floor(Date.now() / 1000);
    const expired = await issuer.sign({ subject: 'bob', iat: now - 7200, exp: now - 3600 });
    const refused = (await waitFor(async () => {
      const r = await call({ authorization: `Bearer ${expired}` });
      return r.ok ? undefined : r;
    }, 'the RequestAuthentication to reach the server', 5_000))!;
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
    assert.match(refused.details ?? '', /^WEFT_ERR_UNAUTHENTICATED: jwt_expired: /);
    assert.equal(refused.trailer('x-mesh-error'), 'WEFT_ERR_UNAUTHENTICATED');
    const token = await issuer.sign({ subject: 'alice' });
    const ok = await call({ authorization: `Bearer ${token}` });
    assert.ok(ok.ok);
    assert.equal(ok.reply.text, 'alice');
    assert.equal(ok.reply.headers['authorization'], `Bearer ${token}`, 'forwardOriginalToken keeps the token');
    await remove('RequestAuthentication', 'jwt');
  });

  it('answers RESOURCE_EXHAUSTED with retry-after past the limit, and admits again after the refill', async () => {
    await apply(`apiVersion: weft.dev/v1alpha1\nkind: LocalRateLimit\nmetadata: { name: echo }\nspec:\n  targetRef: { kind: Service, name: echo }\n  tokenBucket: { maxTokens: 2, fillInterval: 1s }\n`);
    const limited = (await waitFor(async () => {
      const r = await call();
      return r.ok ? undefined : r;
    }, 'the limit to apply', 5_000))!;
    assert.deepEqual([limited.code, limited.details, limited.trailer('x-mesh-error'), limited.trailer('retry-after')], [
      grpc.status.RESOURCE_EXHAUSTED,
      'WEFT_ERR_RATE_LIMITED: rate_limited: limit default',
      'WEFT_ERR_RATE_LIMITED',
      '1',
    ]);
    await waitFor(async () => (await call()).ok, 'a refill to admit calls again', 2_500);
    assert.ok((mesh.status().inbound!.refused['rate_limited'] ?? 0) >= 1);
    await remove('LocalRateLimit', 'echo');
  });

  it('warns that a gRPC server it did not make cannot enforce inbound policy', async () => {
    const foreign = new grpc.Server();
    foreign.addService(echoService, { Say: (_c: unknown, cb: grpc.sendUnaryData<unknown>) => cb(null, {}) });
    await mesh.grpc.serve(foreign, { port: 0 });
    assert.ok(warnings.some((w) => /not made by mesh\.grpc\.server\(\), so inbound policy .* is NOT enforced/.test(w)), warnings.join('\n'));
  });
});
