// The SDK's workload identity against a real control plane on loopback: enrolment through createMesh, repeated
// renewal of short-lived certificates, registration and xDS under --xds-auth required, the trust bundle over SDS,
// refused tokens failing ready(), and a CA outage during which the last good certificate keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { ERROR_CODES, createMesh, isMeshError, type Mesh, type WorkloadCertificate } from '../../src/index.js';
import { serviceYaml, startTestControlPlane, waitFor, type TestControlPlane } from './helpers.js';

const PAYMENTS = 'spiffe://weft.local/ns/default/sa/payments';

describe('workload identity through createMesh', { timeout: 90_000 }, () => {
  let tcp: TestControlPlane;
  const meshes: Mesh[] = [];
  const token = async (service: string, extra: Record<string, unknown> = {}): Promise<string> => String((await tcp.admin('POST', '/v1/tokens', { service, ...extra })).body['token']);
  const mesh = async (service: string, identity?: { token?: string; tokenFile?: string }, ready: { timeoutMs?: number } = {}) => {
    const m = await createMesh({ service, controlPlane: tcp.cp.xdsUrl, ready: { timeoutMs: 10_000, ...ready }, ...(identity ? { identity } : {}) });
    meshes.push(m);
    return m;
  };

  before(async () => {
    tcp = await startTestControlPlane({ 'svc.yaml': `${serviceYaml('payments')}---\n${serviceYaml('checkout')}` }, { security: { xdsAuth: 'required', certTtlMs: 4_000 } });
  });
  after(async () => {
    await Promise.all(meshes.map((m) => m.close()));
    await tcp.close();
  });

  it('ready() waits for the first certificate; status() shows it; xDS and registration authenticate with it', async () => {
    const m = await mesh('payments', { token: await token('payments') });
    await m.ready();
    const cert = m.identity!.current()!;
    assert.equal(cert.spiffeId, PAYMENTS);
    assert.ok(new X509Certificate(cert.certificateChainPem).checkPrivateKey(cert.privateKey));
    const s = m.status().identity!;
    assert.deepEqual([s.state, s.spiffeId, s.serialNumber, s.notAfterMs, s.lastError], ['ready', PAYMENTS, cert.serialNumber, cert.notAfterMs, undefined]);
    // Under --xds-auth required nothing anonymous gets in: this stream and this registration carry the workload's credential.
    await waitFor(() => tcp.cp.ads.clients().some((c) => c.service === 'payments' && c.identity === PAYMENTS), 'the ADS stream, authenticated as payments');
    const server = http.createServer((_req, res) => res.end('ok'));
    const served = await m.serve(server, { port: 0, host: '127.0.0.1' });
    assert.ok(await served.registration?.registered());
    assert.ok(tcp.cp.registry.endpoints().some((e) => e.service === 'payments' && e.port === served.port));
  });

  it('renews its 4 s certificates again and again, each change announced with a new serial and no gap', async () => {
    const m = await mesh('payments', { token: await token('payments') });
    await m.ready();
    const identity = m.identity!;
    const serials: string[] = [identity.current()!.serialNumber];
    let gaps = 0;
    identity.onChange((c: WorkloadCertificate | undefined) => {
      if (c === undefined) gaps++;
      else if (c.serialNumber !== serials.at(-1)) serials.push(c.serialNumber);
    });
    await waitFor(() => serials.length >= 4, 'three renewals', 12_000, 100);
    assert.equal(new Set(serials).size, serials.length);
    assert.equal(gaps, 0, 'the certificate never lapsed');
    assert.ok(m.status().identity!.renewals >= 4);
    assert.ok(identity.current()!.notAfterMs > Date.now());
  });

  it('takes a root rotation from SDS: the new root is trusted before anything it signs appears', async () => {
    const m = await mesh('checkout', { token: await token('checkout') });
    await m.ready();
    assert.equal(m.identity!.current()!.trustBundle.length, 1);
    assert.equal((await tcp.admin('POST', '/v1/ca/rotate', { activateAfter: '2s' })).status, 200);
    await waitFor(() => m.identity!.current()?.trustBundle.length === 2, 'the new root over SDS', 5_000);
    assert.deepEqual(m.status().identity!.trustBundle, { roots: 2, source: 'sds' });
    const newRoot = tcp.cp.ca.trustBundle()[1]!;
    // After activation, renewals move onto the new root while the old certificates stay trusted.
    await waitFor(() => new X509Certificate(m.identity!.current()!.certificateChainPem).checkIssued(newRoot), 'a certificate from the new root', 12_000, 100);
    assert.equal(m.identity!.current()!.trustBundle.length, 2, 'the old root stays in the bundle for the overlap');
  });

  it('fails ready() at once with WEFT_ERR_IDENTITY for a used token or a token for another service', async () => {
    const used = await token('payments');
    await (await mesh('payments', { token: used })).ready();
    const started = Date.now();
    // A 120 s ready timeout: failing well before it (not near the time) is the property.
    const replayed = await mesh('payments', { token: used }, { timeoutMs: 120_000 });
    await assert.rejects(replayed.ready(), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.IDENTITY));
      assert.match(e.message, /refused to sign this process's certificate \(UNAUTHENTICATED\): the bootstrap token .* was already used/);
      return true;
    });
    assert.ok(Date.now() - started < 60_000, `no wait for the 120 s ready timeout (${Date.now() - started} ms)`);
    assert.equal(replayed.status().identity!.state, 'failed');
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-token-'));
    try {
      await writeFile(path.join(dir, 'token'), await token('checkout'));
      const wrong = await mesh('payments', { tokenFile: path.join(dir, 'token') });
      await assert.rejects(wrong.ready(), /the token file .*token grants spiffe:\/\/weft\.local\/ns\/default\/sa\/checkout, but this process is service 'payments'/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('workload identity across a control plane outage', { timeout: 60_000 }, () => {
  it('keeps serving its certificate while the CA is down, then renews against the restarted CA (same root)', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'weft-id-outage-'));
    await writeFile(path.join(dir, 'svc.yaml'), serviceYaml('payments'));
    let cp: ControlPlane | undefined = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0, security: { certTtlMs: 8_000 } });
    const port = Number(new URL(cp.xdsUrl).port);
    const { token } = await cp.tokens.create({ service: 'payments' });
    const m = await createMesh({ service: 'payments', controlPlane: cp.xdsUrl, identity: { token } });
    try {
      await m.ready();
      const first = m.identity!.current()!;
      await cp.close();
      cp = undefined;
      // Renewal comes due (~4 s) while the CA is down: it fails, the certificate keeps serving.
      await waitFor(() => m.status().identity!.lastError !== undefined, 'a failed renewal', 8_000, 100);
      assert.equal(m.identity!.current()?.serialNumber, first.serialNumber);
      assert.match(m.status().identity!.lastError!, /UNAVAILABLE/);
      cp = await startControlPlane({ configDir: dir, xdsPort: port, adminPort: 0, security: { certTtlMs: 8_000 } });
      await waitFor(() => m.identity!.current()?.serialNumber !== first.serialNumber, 'a renewal against the restarted CA', 8_000, 100);
      assert.equal(m.status().identity!.lastError, undefined);
      assert.ok(m.identity!.current()!.notAfterMs > first.notAfterMs);
    } finally {
      await m.close();
      await cp?.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
