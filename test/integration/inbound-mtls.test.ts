// TLS the mesh did not terminate names no mesh identity: HTTPS and gRPC servers of `payments` that do TLS themselves,
// with a CA of their own (not the mesh's trust bundle), verify client certificates that claim mesh SPIFFE IDs. Any CA
// can mint those, so handlers see no peerIdentity(), "only checkout may POST to /charge" refuses the certificate that
// claims checkout, and a STRICT PeerAuthentication refuses these connections as plaintext. (Mesh mTLS itself, where
// identities are honoured: mtls-http.test.ts and mtls-grpc.test.ts.) Real control plane, loopback.
import assert from 'node:assert/strict';
import https from 'node:https';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, peerIdentity, type Mesh } from '../../src/index.js';
import { echoService, EchoClient, say } from '../../src/testing/index.js';
import { createTestCa, type TestCa, type TestCertificate } from './test-ca.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const ID = (svc: string) => `spiffe://weft.local/ns/default/sa/${svc}`;

const ONLY_CHECKOUT = `apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: charge-only-from-checkout }
spec:
  targetRef: { kind: Service, name: payments }
  rules:
  - from: [{ source: { principals: ["weft.local/ns/default/sa/checkout"] } }]
    to: [{ operation: { methods: [POST], paths: ["/charge", "/weft.test.Echo/*"] } }]
`;

const STRICT = `apiVersion: weft.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: payments-strict }
spec: { targetRef: { kind: Service, name: payments }, mtls: { mode: STRICT } }
`;

describe('TLS the mesh did not terminate names no mesh identity', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  let mesh: Mesh;
  let ca: TestCa;
  let certs: Record<'payments' | 'checkout' | 'web', TestCertificate>;
  let httpsPort = 0;
  let grpcPort = 0;
  let grpcServer: grpc.Server;
  const handled: string[] = [];

  const post = (who: keyof typeof certs, path: string) =>
    new Promise<{ status: number; body: string; error: string | null }>((resolve, reject) => {
      const req = https.request(
        { host: '127.0.0.1', port: httpsPort, path, method: 'POST', ca: ca.ca, ...certs[who], checkServerIdentity: () => undefined, agent: false },
        (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, error: (res.headers['x-mesh-error'] as string | undefined) ?? null }));
        },
      );
      req.on('error', reject);
      req.end('{}');
    });

  const call = async (who: keyof typeof certs) => {
    const creds = grpc.credentials.createSsl(Buffer.from(ca.ca), Buffer.from(certs[who].key), Buffer.from(certs[who].cert), { checkServerIdentity: () => undefined });
    const client = new EchoClient(`127.0.0.1:${grpcPort}`, creds);
    try {
      return { ok: true as const, reply: await say(client, { text: who }, { deadlineMs: 5_000 }) };
    } catch (e: unknown) {
      const err = e as grpc.ServiceError;
      return { ok: false as const, code: err.code, details: err.details, meshError: err.metadata?.get('x-mesh-error')[0] };
    } finally {
      client.close();
    }
  };

  before(async () => {
    ca = await createTestCa();
    certs = { payments: await ca.issue(ID('payments')), checkout: await ca.issue(ID('checkout')), web: await ca.issue(ID('web')) };
    tcp = await startTestControlPlane({ 'services.yaml': [serviceYaml('payments'), serviceYaml('checkout'), serviceYaml('web')].join('---\n') });
    mesh = await createMesh({ service: 'payments', controlPlane: tcp.cp.xdsUrl, ready: { timeoutMs: 10_000 } });
    const server = https.createServer({ ...certs.payments, ca: ca.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      handled.push(`http ${peerIdentity(req)}`);
      res.end(JSON.stringify({ peer: peerIdentity(req) ?? null }));
    });
    httpsPort = (await mesh.serve(server, { port: 0 })).port;
    grpcServer = mesh.grpc.server({ health: false });
    grpcServer.addService(echoService, {
      Say: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
        handled.push(`grpc ${peerIdentity(c)}`);
        cb(null, { server: 'payments', text: peerIdentity(c) ?? '', attempt: 1, headers: {} });
      },
    });
    const creds = grpc.ServerCredentials.createSsl(Buffer.from(ca.ca), [{ cert_chain: Buffer.from(certs.payments.cert), private_key: Buffer.from(certs.payments.key) }], true);
    grpcPort = await new Promise<number>((resolve, reject) => grpcServer.bindAsync('127.0.0.1:0', creds, (e, p) => (e ? reject(e) : resolve(p))));
    await mesh.ready();
  });

  after(async () => {
    grpcServer?.forceShutdown();
    await mesh?.close();
    await tcp?.close();
    await ca?.close();
  });

  it('handlers see no SPIFFE ID from a certificate of a CA that is not the mesh trust bundle', async () => {
    assert.deepEqual(JSON.parse((await post('checkout', '/charge')).body), { peer: null });
    const r = await call('checkout');
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.reply.text, '', 'a gRPC server bound with its own TLS credentials names no mesh principal');
  });

  it('a certificate claiming checkout from another CA is not checkout: "only checkout may POST to /charge" refuses it', async () => {
    const applied = await tcp.apply(ONLY_CHECKOUT);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    await waitFor(async () => (await post('checkout', '/charge')).status === 403, 'the policy to reach the server', 5_000);
    handled.length = 0;
    const refused = await post('checkout', '/charge');
    assert.deepEqual(refused, { status: 403, body: 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: no ALLOW policy matched\n', error: 'WEFT_ERR_PERMISSION_DENIED' });
    const grpcRefused = await call('checkout');
    assert.deepEqual(grpcRefused.ok ? [] : [grpcRefused.code, grpcRefused.details], [grpc.status.PERMISSION_DENIED, 'WEFT_ERR_PERMISSION_DENIED: rbac_denied: no ALLOW policy matched']);
    assert.deepEqual(handled, [], 'the refused callers never reached a handler');
    const removed = await tcp.admin('DELETE', '/v1/resources/AuthorizationPolicy/charge-only-from-checkout');
    assert.equal(removed.status, 200);
    await tcp.pushed(); // the next test must not read this policy's 403 as its own (edits are debounced)
  });

  it('STRICT refuses the connections of a server that does its own TLS, as plaintext (no_filter_chain)', async () => {
    const applied = await tcp.apply(STRICT);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    await waitFor(async () => (await post('checkout', '/charge')).body.includes('no_filter_chain'), 'STRICT to reach the server', 5_000);
    assert.deepEqual(await post('checkout', '/charge'), {
      status: 403,
      body: 'WEFT_ERR_PERMISSION_DENIED: no_filter_chain: no filter chain takes plaintext connections (mTLS is required)\n',
      error: 'WEFT_ERR_PERMISSION_DENIED',
    });
    const grpcRefused = await call('checkout');
    assert.deepEqual(grpcRefused.ok ? [] : [grpcRefused.code, grpcRefused.details], [
      grpc.status.PERMISSION_DENIED,
      'WEFT_ERR_PERMISSION_DENIED: no_filter_chain: no filter chain takes plaintext connections (mTLS is required)',
    ]);
  });
});
