// Mutual TLS between meshed gRPC services, with the real control plane, its CA, bootstrap tokens and enrolment: the
// peer's SPIFFE ID in the handler and in AuthorizationPolicy, STRICT and PERMISSIVE servers, the attacks each must
// refuse (and log), a caller refusing a server with the wrong identity or calling STRICT without an identity, and
// certificate rotation under steady gRPC load with no failed call.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { recordingLogger, type RecordingLogger } from '../../control-plane/src/ca/ca-test-kit.js';
import { createMesh, peerIdentity, type Mesh } from '../../src/index.js';
import { generateWorkloadKey } from '../../src/identity/csr.js';
import { serialHex } from '../../src/identity/chain.js';
import { echoHandlers, echoService, EchoClient, say, type EchoClientInstance, type EchoReply, type EchoRequest } from '../../src/testing/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';
import { createTestCa } from './test-ca.js';

const ID = (service: string) => `spiffe://weft.local/ns/default/sa/${service}`;
const CONFIG = {
  'services.yaml': [serviceYaml('payments', 'GRPC', 50051), serviceYaml('legacy', 'GRPC', 50051), serviceYaml('plain', 'GRPC', 50051), serviceYaml('checkout'), serviceYaml('web')].join('---\n'),
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
metadata: { name: payments-say }
spec:
  targetRef: { kind: Service, name: payments }
  action: ALLOW
  rules:
  - from: [{ source: { principals: ["${ID('checkout')}"] } }]
    to: [{ operation: { paths: [/weft.test.Echo/Say] } }]
  - to: [{ operation: { paths: [/weft.test.Echo/Count] } }]
`,
};

type ServiceError = grpc.ServiceError;
const hexSerial = (serial: string | undefined): string => serialHex(serial ?? '');
const failure = (p: Promise<unknown>): Promise<ServiceError | undefined> => p.then(() => undefined, (e: unknown) => e as ServiceError);

describe('mTLS between meshed gRPC services', { timeout: 120_000 }, () => {
  let tcp: TestControlPlane;
  const meshes: Mesh[] = [];
  const closers: (() => void)[] = [];
  let paymentsLog: RecordingLogger;
  let plainLog: RecordingLogger;
  let paymentsPort = 0;
  let legacyPort = 0;
  let plainPort = 0;
  let checkout: Mesh;
  let web: Mesh;
  let payments: Mesh;
  let plainMesh: Mesh;
  let toPayments: EchoClientInstance;
  const seen: { server: string; peer: string | undefined; tls: boolean }[] = [];

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
  /** The echo service whose Say answers with the caller's SPIFFE ID as `text` ('none' without one). */
  const handlers = (name: string) => ({
    ...echoHandlers(name, { calls: {} }),
    Say: (call: grpc.ServerUnaryCall<EchoRequest, EchoReply>, cb: grpc.sendUnaryData<EchoReply>) => {
      const peer = peerIdentity(call);
      seen.push({ server: name, peer, tls: call.getAuthContext().transportSecurityType === 'ssl' });
      const serial = hexSerial(call.getAuthContext().sslPeerCertificate?.serialNumber);
      cb(null, { server: name, text: peer ?? 'none', attempt: 1, headers: { serial } });
    },
  });
  const client = (m: Mesh, service: string): EchoClientInstance => {
    const c = m.grpc.client(EchoClient, service);
    closers.push(() => c.close());
    return c;
  };
  const direct = (port: number, credentials: grpc.ChannelCredentials): EchoClientInstance => {
    // An SNI name, since an IP literal is not one (RFC 6066); the servers ignore it.
    const c = new EchoClient(`127.0.0.1:${port}`, credentials, { 'grpc.ssl_target_name_override': 'payments' });
    closers.push(() => c.close());
    return c;
  };

  before(async () => {
    // 4 s certificates: every process renews every ~2 s, so the load test below crosses several rotations.
    tcp = await startTestControlPlane(CONFIG, { security: { certTtlMs: 4_000 } });
    paymentsLog = recordingLogger();
    payments = await mesh('payments', { logger: paymentsLog });
    const server = payments.grpc.server({ health: false });
    server.addService(echoService, handlers('payments'));
    paymentsPort = (await payments.grpc.serve(server, { port: 0 })).port;
    const legacy = await mesh('legacy');
    const legacyServer = legacy.grpc.server({ health: false });
    legacyServer.addService(echoService, handlers('legacy'));
    legacyPort = (await legacy.grpc.serve(legacyServer, { port: 0 })).port;
    // A grpc-js Server not made by mesh.grpc.server(): no inbound interceptor, yet it must refuse plaintext (STRICT).
    plainLog = recordingLogger();
    plainMesh = await mesh('plain', { logger: plainLog });
    const own = new grpc.Server();
    own.addService(echoService, handlers('plain'));
    plainPort = (await plainMesh.grpc.serve(own, { port: 0 })).port;
    checkout = await mesh('checkout', { dependsOn: ['payments', 'legacy', 'plain'] });
    web = await mesh('web', { dependsOn: ['payments'] });
    await Promise.all([payments, legacy, plainMesh, checkout, web].map((m) => m.ready()));
    toPayments = client(checkout, 'payments');
    await waitFor(() => say(toPayments, {}, { deadlineMs: 2_000 }).then(() => true, () => false), 'payments over mTLS');
  });

  after(async () => {
    for (const close of closers) close();
    await Promise.all(meshes.map((m) => m.close()));
    await tcp?.close();
  });

  it("a meshed call is mTLS: the handler sees the caller's SPIFFE ID on an encrypted connection", async () => {
    const reply = await say(toPayments, {}, { deadlineMs: 5_000 });
    assert.deepEqual({ server: reply.server, text: reply.text }, { server: 'payments', text: ID('checkout') });
    assert.deepEqual(seen.at(-1), { server: 'payments', peer: ID('checkout'), tls: true });
    assert.equal(payments.status().inbound?.refused['no_filter_chain'] ?? 0, 0);
  });

  it('AuthorizationPolicy on the source principal allows checkout and denies web (PERMISSION_DENIED, rbac_denied)', async () => {
    const err = await failure(say(client(web, 'payments'), {}, { deadlineMs: 5_000 }));
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED, String(err));
    assert.match(err!.details, /rbac_denied/);
    assert.equal(err!.metadata.get('x-mesh-error')[0], 'WEFT_ERR_PERMISSION_DENIED');
    assert.ok((payments.status().inbound?.deniedBy['default-deny'] ?? 0) >= 1);
  });

  it('refuses a plaintext client of a STRICT server (PERMISSION_DENIED, no_filter_chain), and logs it', async () => {
    const err = await failure(say(direct(paymentsPort, grpc.credentials.createInsecure()), {}, { deadlineMs: 5_000 }));
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED, String(err));
    assert.match(err!.details, /no_filter_chain/);
    assert.ok((payments.status().inbound?.refused['no_filter_chain'] ?? 0) >= 1);
    assert.ok(paymentsLog.find('warn', /no_filter_chain/).length >= 1, 'the refusal is logged');
  });

  it('a server not made by mesh.grpc.server() still refuses plaintext under STRICT, and serves mTLS', async () => {
    const err = await failure(say(direct(plainPort, grpc.credentials.createInsecure()), {}, { deadlineMs: 5_000 }));
    assert.equal(err?.code, grpc.status.UNAVAILABLE, String(err));
    assert.ok((plainMesh.status().inbound?.refused['plaintext_refused'] ?? 0) >= 1);
    assert.ok(plainLog.find('warn', /plaintext_refused/).length >= 1, 'the refusal is logged');
    assert.equal(seen.filter((s) => s.server === 'plain' && !s.tls).length, 0, 'no plaintext call reached the handler');
    const reply = await say(client(checkout, 'plain'), {}, { deadlineMs: 5_000 });
    assert.deepEqual({ server: reply.server, text: reply.text }, { server: 'plain', text: ID('checkout') });
  });

  it('refuses a client certificate from a foreign CA, and an expired one from the mesh CA, at the handshake', async () => {
    const before = payments.status().inbound?.refused['tls_peer_rejected'] ?? 0;
    const ca = Buffer.from(tcp.cp.ca.trustBundlePem().join(''));
    const anyServer = { checkServerIdentity: () => undefined };
    const foreign = await createTestCa();
    const fake = await foreign.issue(ID('checkout'));
    await foreign.close();
    const forged = await failure(say(direct(paymentsPort, grpc.credentials.createSsl(ca, Buffer.from(fake.key), Buffer.from(fake.cert), anyServer)), {}, { deadlineMs: 5_000 }));
    assert.equal(forged?.code, grpc.status.UNAVAILABLE, String(forged));
    const key = generateWorkloadKey();
    const issued = tcp.cp.ca.issue(key.publicKey, ID('checkout'));
    await new Promise((resolve) => setTimeout(resolve, 4_200)); // past its 4 s lifetime
    const keyPem = key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    const expired = await failure(say(direct(paymentsPort, grpc.credentials.createSsl(ca, Buffer.from(keyPem), Buffer.from(issued.chainPem.join('')), anyServer)), {}, { deadlineMs: 5_000 }));
    assert.equal(expired?.code, grpc.status.UNAVAILABLE, String(expired));
    await waitFor(() => (payments.status().inbound?.refused['tls_peer_rejected'] ?? 0) >= before + 2, 'both handshakes counted');
    const logged = paymentsLog.find('warn', /tls_peer_rejected/).map((e) => JSON.stringify(e.fields));
    assert.ok(logged.some((l) => /certificate/i.test(l)), `the log says why: ${logged.join(' | ')}`);
  });

  it('a caller refuses a server whose certificate names another service (UNAVAILABLE, WEFT_ERR_IDENTITY)', async () => {
    // A Service whose only endpoint is really payments' server: the caller expects ghost's SPIFFE ID.
    const applied = await tcp.apply(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: ghost }
spec:
  ports: [{ name: grpc, port: 50051, protocol: GRPC }]
  endpoints: [{ address: 127.0.0.1, port: ${paymentsPort} }]
`);
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const toGhost = client(checkout, 'ghost');
    const err = await waitFor(
      async () => {
        const e = await failure(say(toGhost, {}, { deadlineMs: 3_000 }));
        return e !== undefined && /WEFT_ERR_IDENTITY/.test(e.details) ? e : undefined;
      },
      'the identity check to refuse ghost',
    );
    assert.equal(err!.code, grpc.status.UNAVAILABLE);
    assert.match(err!.details, new RegExp(`presented ${ID('payments')}, not ${ID('ghost')}`));
  });

  it('PERMISSIVE: one port serves a plaintext client and a meshed mTLS client', async () => {
    const plain = await say(direct(legacyPort, grpc.credentials.createInsecure()), {}, { deadlineMs: 5_000 });
    assert.deepEqual({ server: plain.server, text: plain.text }, { server: 'legacy', text: 'none' });
    assert.deepEqual(seen.at(-1), { server: 'legacy', peer: undefined, tls: false });
    const meshed = await say(client(checkout, 'legacy'), {}, { deadlineMs: 5_000 });
    assert.deepEqual({ server: meshed.server, text: meshed.text }, { server: 'legacy', text: ID('checkout') });
    assert.deepEqual(seen.at(-1), { server: 'legacy', peer: ID('checkout'), tls: true });
  });

  it('a caller without a workload identity fails calls to a STRICT service at once with UNAVAILABLE, WEFT_ERR_IDENTITY', async () => {
    const anonymous = await mesh('web', { identity: false, dependsOn: ['payments'] });
    await anonymous.ready();
    const started = Date.now();
    const err = await failure(say(client(anonymous, 'payments'), {}, { deadlineMs: 10_000 }));
    assert.equal(err?.code, grpc.status.UNAVAILABLE, String(err));
    assert.match(err!.details, /^WEFT_ERR_IDENTITY: .*takes mTLS only .* no workload identity/);
    assert.ok(Date.now() - started < 5_000, 'failed at once, not at the deadline');
  });

  it('rotates certificates on both sides under steady gRPC load with zero failed calls', async () => {
    const serialsBefore = [checkout, payments].map((m) => m.identity!.current()!.serialNumber);
    let ok = 0;
    const failures: string[] = [];
    const until = Date.now() + 7_000;
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let n = 0; n < 5_000 && Date.now() < until; n++) {
          try {
            const reply = await say(toPayments, {}, { deadlineMs: 5_000 });
            if (reply.text === ID('checkout')) ok++;
            else failures.push(`peer ${reply.text}`);
          } catch (e: unknown) {
            failures.push(String(e));
          }
        }
      }),
    );
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} failed of ${ok + failures.length}`);
    assert.ok(ok > 200, `only ${ok} calls`);
    [checkout, payments].forEach((m, i) => assert.notEqual(m.identity!.current()!.serialNumber, serialsBefore[i], 'the certificate rotated during the load'));
    assert.ok(checkout.status().identity!.renewals >= 3 && payments.status().identity!.renewals >= 3);
    // A new connection (a channel with its own subchannel pool) presents the certificate of now, not the first one.
    const fresh = checkout.grpc.client(EchoClient, 'payments', { 'grpc.use_local_subchannel_pool': 1 });
    closers.push(() => fresh.close());
    const current = hexSerial(checkout.identity!.current()!.serialNumber);
    const reply = await say(fresh, {}, { deadlineMs: 5_000 });
    const after = hexSerial(checkout.identity!.current()!.serialNumber);
    assert.ok([current, after].includes(reply.headers['serial'] ?? ''), `presented ${reply.headers['serial']}, current ${current}/${after}`);
    assert.notEqual(reply.headers['serial'], hexSerial(serialsBefore[0]));
  });
});
