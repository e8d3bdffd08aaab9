// Registry leases in a real etcd shared by three replicas: granted through one, kept alive or revoked through another,
// surviving the granting replica, and expiring by etcd's clock when nobody keeps them alive.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../src/discovery/xds/protos.js';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { waitFor } from './helpers.js';

type RegistryClient = grpc.Client & Record<string, (r: ProtoObject, options: grpc.CallOptions, cb: (e: grpc.ServiceError | null, res?: ProtoObject) => void) => void>;

/** A weft.registry.v1.Registry client of `cp` (what the SDK's RegistryClient calls). */
function registryClient(cp: ControlPlane): RegistryClient {
  const Ctor = grpc.makeGenericClientConstructor(protos().registryService, 'Registry');
  return new Ctor(cp.xdsAddress, grpc.credentials.createInsecure()) as RegistryClient;
}

function call(client: RegistryClient, method: 'Register' | 'KeepAlive' | 'Deregister', request: ProtoObject): Promise<ProtoObject> {
  return new Promise((resolve, reject) => client[method]!.call(client, request, { deadline: Date.now() + 15_000 }, (e, r) => (e ? reject(e) : resolve(r!))));
}

const endpointsOf = (cp: ControlPlane) => cp.registry.endpoints().map((e) => `${e.service}@${e.address}:${e.port}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('etcd registry leases across replicas', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let a: ControlPlane;
  let b: ControlPlane;
  let c: ControlPlane;
  const clients: RegistryClient[] = [];
  const clientOf = (cp: ControlPlane) => {
    const client = registryClient(cp);
    clients.push(client);
    return client;
  };
  before(async () => {
    etcd = await startEtcd();
    const start = () => startControlPlane({ store: `${etcd.endpoint}/reg`, xdsPort: 0, adminPort: 0, stateDir: false });
    [a, b, c] = [await start(), await start(), await start()];
  });
  after(async () => {
    for (const client of clients) client.close();
    await Promise.all([a, b, c].map((cp) => cp.close()));
    await etcd.stop();
  });

  it('a lease granted through A is kept alive through B, survives A closing, and expires after its TTL without keep-alives', async () => {
    const lease = await call(clientOf(a), 'Register', { endpoint: { service: 'payments', address: '127.0.0.21', port: 8080 }, ttl_ms: 2_000 });
    const leaseId = String(lease['lease_id']);
    assert.match(leaseId, /^\d+$/);
    const ttlMs = Number(lease['ttl_ms']);
    assert.ok(ttlMs >= 2_000, `granted ${ttlMs} ms`);
    for (const cp of [a, b, c]) await waitFor(() => endpointsOf(cp).includes('payments@127.0.0.21:8080'), 'the endpoint on every replica', 30_000);

    await a.close();
    const viaB = clientOf(b);
    // Keep it alive through B for more than two TTLs after A is gone: it must still be there.
    const keptUntil = Date.now() + 2 * ttlMs + 1_000;
    while (Date.now() < keptUntil) {
      const kept = await call(viaB, 'KeepAlive', { lease_id: leaseId });
      assert.equal(String(kept['lease_id']), leaseId);
      assert.ok(Number(kept['ttl_ms']) > 0);
      await sleep(ttlMs / 4);
    }
    assert.ok(endpointsOf(b).includes('payments@127.0.0.21:8080'), 'kept alive through B');
    assert.ok(endpointsOf(c).includes('payments@127.0.0.21:8080'), 'and C still routes to it');

    // No more keep-alives: etcd expires it, and every live replica drops it.
    for (const cp of [b, c]) await waitFor(() => !endpointsOf(cp).includes('payments@127.0.0.21:8080'), 'expiry on every replica', 30_000, 100);
    await assert.rejects(call(viaB, 'KeepAlive', { lease_id: leaseId }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND && /register again/.test(e.details));
  });

  it('a lease registered through B is deregistered through C', async () => {
    const lease = await call(clientOf(b), 'Register', { endpoint: { service: 'orders', address: '127.0.0.22', port: 9090 }, ttl_ms: 30_000 });
    await waitFor(() => endpointsOf(c).includes('orders@127.0.0.22:9090'), 'the endpoint on C', 30_000);
    await call(clientOf(c), 'Deregister', { lease_id: lease['lease_id'] });
    for (const cp of [b, c]) await waitFor(() => !endpointsOf(cp).includes('orders@127.0.0.22:9090'), 'gone on every replica', 30_000);
    await assert.rejects(call(clientOf(b), 'KeepAlive', { lease_id: lease['lease_id'] }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
  });

  it('refuses a malformed lease id and an invalid registration the same way as the in-process registry', async () => {
    await assert.rejects(call(clientOf(b), 'KeepAlive', { lease_id: 'not-a-lease' }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    await assert.rejects(
      call(clientOf(b), 'Register', { endpoint: { service: 'orders', address: 'localhost', port: 9090 } }),
      (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT && /endpoint\.address/.test(e.details),
    );
  });
});

describe('etcd registry leases: etcd down', { timeout: 120_000 }, () => {
  it('replicas keep their endpoints while etcd is down, answer UNAVAILABLE, and take registrations again when it returns', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const start = () => startControlPlane({ store: `${etcd.endpoint}/down`, xdsPort: 0, adminPort: 0, stateDir: false });
    const a = await start();
    t.after(() => a.close());
    const client = registryClient(a);
    t.after(() => client.close());
    await call(client, 'Register', { endpoint: { service: 'payments', address: '127.0.0.31', port: 8080 }, ttl_ms: 60_000 });
    await waitFor(() => endpointsOf(a).includes('payments@127.0.0.31:8080'), 'registered', 30_000);

    etcd.kill();
    await assert.rejects(
      call(client, 'Register', { endpoint: { service: 'payments', address: '127.0.0.32', port: 8080 } }),
      (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE && /etcd is unavailable/.test(e.details),
    );
    assert.deepEqual(endpointsOf(a), ['payments@127.0.0.31:8080'], 'the last known endpoints stay');

    await etcd.restart();
    await waitFor(
      () => call(client, 'Register', { endpoint: { service: 'payments', address: '127.0.0.32', port: 8080 } }).then(() => true),
      'a registration once etcd is back',
      60_000,
      500,
    );
    await waitFor(() => endpointsOf(a).length === 2, 'both endpoints after the outage', 30_000);
  });
});
