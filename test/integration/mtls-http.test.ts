// Mutual TLS between meshed HTTP services, with the real control plane, its CA, bootstrap tokens and enrolment: STRICT
// and PERMISSIVE servers, the attacks each must refuse (and log), a caller refusing a server with the wrong identity,
// and certificate rotation under load with no failed request.
import assert from 'node:assert/strict';
import http from 'node:http';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { recordingLogger, type RecordingLogger } from '../../control-plane/src/ca/ca-test-kit.js';
import { createMesh, findCause, peerIdentity, type Mesh } from '../../src/index.js';
import { generateWorkloadKey } from '../../src/identity/csr.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';
import { createTestCa } from './test-ca.js';

const ID = (service: string) => `spiffe://weft.local/ns/default/sa/${service}`;
const CONFIG = {
  'services.yaml': ['payments', 'legacy', 'checkout', 'web'].map((s) => serviceYaml(s)).join('---\n'),
  'security.yaml': `apiVersion: weft.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: mesh }
spec: { mtls: { mode: STRICT } }
---
apiVersion: weft.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: legacy }
spec: { targetRef: { kind: Service, name: legacy }, mtls: { mode: PERMISSIVE } }
---
apiVersion: weft.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: payments-charge }
spec:
  targetRef: { kind: Service, name: payments }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["${ID('checkout')}"] } }]
    to: [{ operation: { methods: [POST], paths: [/charge] } }]
  - to: [{ operation: { methods: [GET] } }]
`,
};

describe('mTLS between meshed HTTP services', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  const meshes: Mesh[] = [];
  let paymentsLog: RecordingLogger;
  let paymentsPort = 0;
  let legacyPort = 0;
  let checkout: Mesh;
  let web: Mesh;
  let payments: Mesh;
  const seen: { peer: string | undefined; tls: boolean }[] = [];

  const token = async (service: string): Promise<string> => String((await tcp.admin('POST', '/v1/tokens', { service })).body['token']);
  const mesh = async (service: string, opts: { identity?: boolean; logger?: RecordingLogger; dependsOn?: string[] } = {}): Promise<Mesh> => {
    const m = await createMesh({
      service,
      controlPlane: tcp.cp.xdsUrl,
      ...(opts.identity !== false && { identity: { token: await token(service) } }),
      ...(opts.logger && { logger: opts.logger }),
      ...(opts.dependsOn && { dependsOn: opts.dependsOn }),
    });
    meshes.push(m);
    return m;
  };
  const handler = (name: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    seen.push({ peer: peerIdentity(req), tls: (req.socket as tls.TLSSocket).encrypted === true });
    res.end(JSON.stringify({ server: name, peer: peerIdentity(req) ?? null }));
  };

  before(async () => {
    // 4 s certificates: every process renews every ~2 s, so the load test below crosses several rotations.
    tcp = await startTestControlPlane(CONFIG, { security: { certTtlMs: 4_000 } });
    paymentsLog = recordingLogger();
    payments = await mesh('payments', { logger: paymentsLog });
    paymentsPort = (await payments.serve(handler('payments'), { port: 0 })).port;
    const legacy = await mesh('legacy');
    legacyPort = (await legacy.serve(handler('legacy'), { port: 0 })).port;
    checkout = await mesh('checkout', { dependsOn: ['payments', 'legacy'] });
    web = await mesh('web', { dependsOn: ['payments'] });
    await Promise.all([payments, legacy, checkout, web].map((m) => m.ready()));
    await waitFor(async () => (await request('http://payments/', { dispatcher: checkout.dispatcher }).then((r) => r.statusCode, () => 0)) === 200, 'payments over mTLS');
  });

  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await tcp?.close();
  });

  it('a meshed call is mTLS: the handler sees the caller\'s SPIFFE ID on an encrypted connection', async () => {
    const res = await request('http://payments/charge', { method: 'POST', dispatcher: checkout.dispatcher });
    const body = await res.body.text();
    assert.equal(res.statusCode, 200, body);
    assert.deepEqual(JSON.parse(body), { server: 'payments', peer: ID('checkout') });
    assert.deepEqual(seen.at(-1), { peer: ID('checkout'), tls: true });
  });

  it('refuses a caller with a valid certificate whose identity the policy does not allow (403, rbac_denied)', async () => {
    const res = await request('http://payments/charge', { method: 'POST', dispatcher: web.dispatcher });
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /rbac_denied/);
    const ok = await request('http://payments/balance', { dispatcher: web.dispatcher });
    assert.equal(ok.statusCode, 200, 'the same caller may GET');
    await ok.body.dump();
  });

  it('refuses a plaintext client of a STRICT server (403, no_filter_chain), and logs it', async () => {
    const res = await request(`http://127.0.0.1:${paymentsPort}/balance`);
    assert.equal(res.statusCode, 403);
    assert.match(await res.body.text(), /no_filter_chain/);
    assert.ok((payments.status().inbound?.refused['no_filter_chain'] ?? 0) >= 1);
    assert.ok(paymentsLog.find('warn', /no_filter_chain/).length >= 1, 'the refusal is logged');
  });

  it('refuses a client certificate from a foreign CA, and an expired one from the mesh CA, at the handshake', async () => {
    const before = payments.status().inbound?.refused['tls_peer_rejected'] ?? 0;
    const foreign = await createTestCa();
    const fake = await foreign.issue(ID('checkout'));
    await foreign.close();
    const handshake = (cert: string, key: string) =>
      new Promise<string>((resolve) => {
        const s = tls.connect({ host: '127.0.0.1', port: paymentsPort, cert, key, ca: tcp.cp.ca.trustBundlePem().join(''), checkServerIdentity: () => undefined });
        s.on('secureConnect', () => {
          // TLS 1.3: the server checks the client certificate after the client thinks it is done; send and see.
          s.write('GET /balance HTTP/1.1\r\nhost: payments\r\n\r\n');
        });
        s.on('data', (d) => resolve(`answered: ${String(d).split('\r\n')[0]}`));
        s.on('error', (e) => resolve(`error: ${e.message}`));
        s.on('close', () => resolve('closed'));
      });
    assert.doesNotMatch(await handshake(fake.cert, fake.key), /answered/);
    const key = generateWorkloadKey();
    const issued = tcp.cp.ca.issue(key.publicKey, ID('checkout'));
    await new Promise((resolve) => setTimeout(resolve, 4_200)); // past its 4 s lifetime
    assert.doesNotMatch(await handshake(issued.chainPem.join(''), key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string), /answered/);
    await waitFor(() => (payments.status().inbound?.refused['tls_peer_rejected'] ?? 0) >= before + 2, 'both handshakes counted');
    const logged = paymentsLog.find('warn', /tls_peer_rejected/).map((e) => JSON.stringify(e.fields));
    assert.ok(logged.some((l) => /certificate/i.test(l)), `the log says why: ${logged.join(' | ')}`);
  });

  it('a caller refuses a server whose certificate names another service (WEFT_ERR_IDENTITY)', async () => {
    // A Service whose only endpoint is really payments' server: the caller expects ghost's SPIFFE ID.
    const applied = await tcp.apply(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ghost }
spec:
  ports: [{ name: http, port: 8080, protocol: HTTP }]
  endpoints: [{ address: 127.0.0.1, port: ${paymentsPort} }]
`);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const err = await waitFor(
      () => request('http://ghost/', { dispatcher: checkout.dispatcher }).then(() => undefined, (e: unknown) => findCause(e, 'WEFT_ERR_IDENTITY')),
      'the identity check to refuse ghost',
    );
    assert.match(err!.message, new RegExp(`presented ${ID('payments')}, not ${ID('ghost')}`));
  });

  it('PERMISSIVE: one port serves a plaintext client and a meshed mTLS client', async () => {
    const plain = await request(`http://127.0.0.1:${legacyPort}/`);
    assert.deepEqual(await plain.body.json(), { server: 'legacy', peer: null });
    assert.deepEqual(seen.at(-1), { peer: undefined, tls: false });
    const meshed = await request('http://legacy/', { dispatcher: checkout.dispatcher });
    assert.deepEqual(await meshed.body.json(), { server: 'legacy', peer: ID('checkout') });
    assert.deepEqual(seen.at(-1), { peer: ID('checkout'), tls: true });
  });

  it('a caller without a workload identity fails calls to a STRICT service with WEFT_ERR_IDENTITY', async () => {
    const anonymous = await mesh('web', { identity: false, dependsOn: ['payments'] });
    await anonymous.ready();
    const err = await request('http://payments/', { dispatcher: anonymous.dispatcher }).then(() => undefined, (e: unknown) => e);
    assert.match(String(findCause(err, 'WEFT_ERR_IDENTITY')?.message), /takes mTLS only .* no workload identity/);
  });

  it('rotates certificates on both sides under steady load with zero failed requests', async () => {
    const serialsBefore = [checkout, payments].map((m) => m.identity!.current()!.serialNumber);
    let ok = 0;
    const failures: string[] = [];
    const until = Date.now() + 7_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = 0; n < 5_000 && Date.now() < until; n++) {
          try {
            const res = await request('http://payments/balance', { dispatcher: checkout.dispatcher });
            await res.body.dump();
            if (res.statusCode === 200) ok++;
            else failures.push(`status ${res.statusCode}`);
          } catch (e: unknown) {
            failures.push(String(e));
          }
        }
      }),
    );
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 200, `only ${ok} requests`);
    [checkout, payments].forEach((m, i) => assert.notEqual(m.identity!.current()!.serialNumber, serialsBefore[i], 'the certificate rotated during the load'));
    assert.ok(checkout.status().identity!.renewals >= 3 && payments.status().identity!.renewals >= 3);
  });
});

