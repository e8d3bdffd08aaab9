// Tests the wired control plane: config dir + registry -> translate -> ADS pushes, start-up failures and close().
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ERROR_CODES, isMeshError } from '../../src/core/errors.js';
import { TYPE_URL, protos, type ProtoObject } from '../../src/discovery/xds/protos.js';
import { SHUTDOWN_GRACE_MS, startControlPlane, type ControlPlane } from './control-plane.js';
import { AdsTestClient } from './server/ads-test-client.js';

const SERVICE = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: { name: payments }
spec:
  ports: [{ name: http, port: 8080 }]
`;
const ROUTE = (prefix: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: pay }
spec:
  parentRefs: [{ kind: Service, name: payments }]
  rules:
  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    backendRefs: [{ name: payments, port: 8080 }]
`;

async function tempDir(t: { after(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'weft-cp-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('startControlPlane', { timeout: 20_000 }, () => {
  let dir = '';
  let cp: ControlPlane;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'weft-cp-'));
    await writeFile(path.join(dir, 'payments.yaml'), SERVICE);
    cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0 });
  });
  after(async () => {
    await cp.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('reports its addresses', () => {
    assert.match(cp.xdsAddress, /^127\.0\.0\.1:\d+$/);
    assert.equal(cp.xdsUrl, `http://${cp.xdsAddress}`);
    assert.match(cp.adminUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('serves the translated config, pushes a route applied through the admin API', async (t) => {
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: TYPE_URL.listener, names: ['payments'], node: { id: 'cp-test-1', cluster: 'checkout' } });
    const lds = await c.next();
    assert.deepEqual(lds.resources.map((r) => r['name']), ['payments']);
    c.ack(lds, ['payments']);
    c.send({ typeUrl: TYPE_URL.routeConfiguration, names: ['payments'] });
    const rds1 = await c.next();
    c.ack(rds1, ['payments']);

    const res = await fetch(`${cp.adminUrl}/v1/apply`, { method: 'POST', body: ROUTE('/charge'), headers: { authorization: `Bearer ${cp.adminToken}` } });
    assert.equal(res.status, 200, await res.clone().text());
    // How fast is benchmarks/convergence.ts's to measure; on a loaded machine a bound here would only flake.
    const rds2 = await c.next(10_000);
    assert.equal(rds2.type_url, TYPE_URL.routeConfiguration);
    assert.match(JSON.stringify(rds2.resources), /HTTPRoute\/pay\/rules\/0\/matches\/0/);
    assert.notEqual(rds2.version_info, rds1.version_info);
  });

  it('puts registered endpoints in EDS and removes them on deregister', async (t) => {
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: TYPE_URL.clusterLoadAssignment, names: ['payments:8080'], node: { id: 'cp-test-2' } });
    const e1 = await c.next();
    c.ack(e1, ['payments:8080']);
    const Ctor = grpc.makeGenericClientConstructor(protos().registryService, 'Registry');
    const reg = new Ctor(cp.xdsAddress, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (r: ProtoObject, cb: (e: grpc.ServiceError | null, res?: ProtoObject) => void) => void>;
    t.after(() => reg.close());
    const lease = await new Promise<ProtoObject>((resolve, reject) =>
      reg['Register']!.call(reg, { endpoint: { service: 'payments', address: '127.0.0.9', port: 8080, node_id: 'p-1' } }, (e, r) => (e ? reject(e) : resolve(r!))),
    );
    const e2 = await c.next();
    assert.match(JSON.stringify(e2.resources), /127\.0\.0\.9/);
    c.ack(e2, ['payments:8080']);
    assert.equal(cp.registry.endpoints().length, 1);
    await new Promise<void>((resolve, reject) => reg['Deregister']!.call(reg, { lease_id: lease['lease_id'] }, (e) => (e ? reject(e) : resolve())));
    const e3 = await c.next();
    assert.doesNotMatch(JSON.stringify(e3.resources), /127\.0\.0\.9/);
  });

  it('coalesces a burst of registrations into few pushes', async (t) => {
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: TYPE_URL.clusterLoadAssignment, names: ['payments:8080'], node: { id: 'cp-test-3' } });
    c.ack(await c.next(), ['payments:8080']);
    const leases: string[] = [];
    for (let i = 1; i <= 50; i++) {
      const r = cp.registry.register({ service: 'payments', address: `10.1.0.${i}`, port: 8080 });
      assert.ok(r.ok);
      leases.push(r.value.leaseId);
    }
    const pushed = await c.next();
    assert.equal((JSON.stringify(pushed.resources).match(/10\.1\.0\./g) ?? []).length, 50, 'one push carries the whole burst');
    for (const id of leases) cp.registry.deregister(id);
  });
});

describe('startControlPlane failures and close', { timeout: 20_000 }, () => {
  it('refuses to start on an invalid config dir, listing every error', async (t) => {
    const dir = await tempDir(t);
    await writeFile(path.join(dir, 'bad.yaml'), SERVICE.replace('port: 8080', 'port: 99999'));
    await assert.rejects(startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0 }), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.INVALID_CONFIG));
      assert.match(e.message, /bad\.yaml/);
      return true;
    });
  });

  it('fails fast on a busy port and releases what it had opened', async (t) => {
    const dir = await tempDir(t);
    const busy = net.createServer();
    await new Promise<void>((r) => busy.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => busy.close(() => r())));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const xdsPort = await freePort();
    await assert.rejects(startControlPlane({ configDir: dir, xdsPort, adminPort: busyPort }), (e: unknown) => {
      assert.ok(isMeshError(e, ERROR_CODES.LISTEN));
      assert.match(e.message, /admin API.*in use/);
      return true;
    });
    // The xDS port bound before the failure is free again.
    const again = await startControlPlane({ configDir: dir, xdsPort, adminPort: 0 });
    await again.close();
    await assert.rejects(startControlPlane({ configDir: dir, xdsPort: busyPort, adminPort: 0 }), /xDS gRPC server.*in use/);
  });

  it('close() ends ADS streams with UNAVAILABLE and returns promptly', async (t) => {
    const dir = await tempDir(t);
    const cp = await startControlPlane({ configDir: dir, xdsPort: 0, adminPort: 0 });
    const c = new AdsTestClient(cp.xdsAddress);
    t.after(() => c.close());
    c.send({ typeUrl: TYPE_URL.listener, names: ['x'], node: { id: 'closing' } });
    await c.next();
    const startedMs = Date.now();
    await cp.close();
    assert.ok(Date.now() - startedMs < SHUTDOWN_GRACE_MS, `close waited for the grace period: ${Date.now() - startedMs} ms`);
    assert.equal((await c.ended()).code, grpc.status.UNAVAILABLE);
    await assert.rejects(fetch(`${cp.adminUrl}/v1/status`));
    await cp.close(); // idempotent
  });
});
