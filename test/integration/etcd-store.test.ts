// Control-plane replicas sharing configuration through a real etcd: edits reach every replica, concurrent edits are
// never lost, bad data in etcd keeps the last good config, and an etcd outage keeps each replica serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3 } from 'etcd3';
import { ERROR_CODES, isMeshError } from '../../src/core/errors.js';
import { startControlPlane, type ControlPlane } from '../../control-plane/src/index.js';
import type { MeshConfig } from '../../control-plane/src/model.js';
import { AdsTestClient } from '../../control-plane/src/server/ads-test-client.js';
import { TYPE_URL } from '../../src/discovery/xds/protos.js';
import { startEtcd, type EtcdServer } from './etcd.js';
import { serviceYaml, servesListener, waitFor } from './helpers.js';

const names = (c: MeshConfig) => c.resources.map((r) => `${r.kind}/${r.metadata.name}`);
const ROUTE = (name: string, svc: string) => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ kind: Service, name: ${svc} }]
  rules:
  - backendRefs: [{ name: ${svc}, port: 8080 }]
`;

function startReplica(etcd: EtcdServer, prefix: string): Promise<ControlPlane> {
  return startControlPlane({ store: `${etcd.endpoint}/${prefix}`, xdsPort: 0, adminPort: 0, stateDir: false });
}

describe('etcd config store: three replicas', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let client: Etcd3;
  let replicas: ControlPlane[] = [];
  before(async () => {
    etcd = await startEtcd();
    client = new Etcd3({ hosts: etcd.clientUrl });
    replicas = [await startReplica(etcd, 'three'), await startReplica(etcd, 'three'), await startReplica(etcd, 'three')];
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    client.close();
    await etcd.stop();
  });

  it('an edit on A reaches the store and xDS snapshot of B and C', async () => {
    const [a, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    const result = await a.store.apply(serviceYaml('payments'));
    assert.equal(result.ok, true, JSON.stringify(result));
    for (const r of [b, c]) {
      await waitFor(() => names(r.store.current()).includes('Service/payments'), 'the Service on another replica', 30_000);
      // What B and C serve over xDS: the Listener for the Service.
      await waitFor(() => servesListener(r, 'payments'), 'payments in the xDS snapshot', 30_000, 200);
    }
    // The key holds the YAML document as applied.
    const stored = await client.get('/three/config/Service/payments').string();
    assert.match(stored ?? '', /name: payments/);
  });

  it('concurrent applies on two replicas are both kept, never lost', async () => {
    const [a, b, c] = replicas as [ControlPlane, ControlPlane, ControlPlane];
    const results = await Promise.all([
      a.store.apply(serviceYaml('alpha')),
      b.store.apply(serviceYaml('beta')),
      a.store.apply(serviceYaml('gamma')),
      b.store.apply(serviceYaml('delta')),
    ]);
    for (const r of results) assert.equal(r.ok, true, JSON.stringify(r));
    for (const r of [a, b, c]) {
      await waitFor(
        () => ['alpha', 'beta', 'gamma', 'delta'].every((n) => names(r.store.current()).includes(`Service/${n}`)),
        'every concurrently applied Service on every replica',
        30_000,
      );
    }
  });

  it('validates against the whole config in etcd: a route to a Service deleted on another replica is refused', async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    assert.equal((await b.store.delete('Service', 'delta')).ok, true);
    // A may not have seen the delete yet; its apply still validates against what etcd holds.
    const result = await a.store.apply(ROUTE('to-delta', 'delta'));
    assert.equal(result.ok, false);
    assert.match(JSON.stringify(!result.ok && result.errors), /delta/);
    assert.equal(await client.get('/three/config/HTTPRoute/to-delta').string(), null);
  });

  it('bad data written to etcd by hand is reported and the last good config keeps serving', async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    // The previous test's delete on B reaches A through the watch; take A's config once it has.
    await waitFor(() => !names(a.store.current()).includes('Service/delta'), 'A sees the delete made on B', 30_000);
    const before = names(a.store.current());
    await client.put('/three/config/Service/broken').value('kind: Service\nmetadata: { name: broken }\nspec: 42\n');
    await waitFor(() => a.store.lastErrors().length > 0 && b.store.lastErrors().length > 0, 'lastErrors on both replicas', 30_000);
    assert.match(JSON.stringify(a.store.lastErrors()), /Service\/broken/);
    assert.deepEqual(names(a.store.current()), before);
    // An edit that leaves the bad key in place is refused, naming it; nothing is stored.
    const refused = await a.store.apply(serviceYaml('epsilon'));
    assert.equal(refused.ok, false);
    assert.match(JSON.stringify(!refused.ok && refused.errors), /broken/);
    // Fixing it (an apply of the same resource) is accepted and clears the errors everywhere.
    assert.equal((await b.store.apply(serviceYaml('broken'))).ok, true);
    await waitFor(() => a.store.lastErrors().length === 0 && names(a.store.current()).includes('Service/broken'), 'the fix on A', 30_000);
  });
});

describe('etcd replicas: status', { timeout: 120_000 }, () => {
  it('GET /v1/status on any replica lists the live replicas; one that closes leaves the list', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const [a, b, c] = [await startReplica(etcd, 'status'), await startReplica(etcd, 'status'), await startReplica(etcd, 'status')] as [ControlPlane, ControlPlane, ControlPlane];
    t.after(() => Promise.all([a, b, c].map((r) => r.close())));
    const live = async (cp: ControlPlane) => {
      const res = await fetch(`${cp.adminUrl}/v1/status`, { headers: { authorization: `Bearer ${cp.adminToken}` } });
      const body = (await res.json()) as { replicas?: { live: { xdsAddress: string; adminUrl: string }[] } };
      return (body.replicas?.live ?? []).map((r) => r.xdsAddress).sort();
    };
    const all = [a, b, c].map((r) => r.xdsAddress).sort();
    await waitFor(async () => JSON.stringify(await live(b)) === JSON.stringify(all), 'three replicas listed on B', 30_000, 100);
    await c.close();
    const left = [a, b].map((r) => r.xdsAddress).sort();
    await waitFor(async () => JSON.stringify(await live(a)) === JSON.stringify(left), 'C gone from the list on A', 30_000, 100);
  });
});

describe('etcd config store: concurrency', { timeout: 120_000 }, () => {
  let etcd: EtcdServer;
  let replicas: ControlPlane[] = [];
  before(async () => {
    etcd = await startEtcd();
    replicas = [await startReplica(etcd, 'race'), await startReplica(etcd, 'race')];
  });
  after(async () => {
    await Promise.all(replicas.map((r) => r.close()));
    await etcd.stop();
  });

  it('many applies racing on two replicas: each is kept or refused with a clear error, none is lost', async () => {
    const [a, b] = replicas as [ControlPlane, ControlPlane];
    const N = 12;
    const results = await Promise.all(Array.from({ length: N }, (_, i) => (i % 2 === 0 ? a : b).store.apply(serviceYaml(`svc-${i}`))));
    const kept = results.flatMap((r, i) => (r.ok ? [`Service/svc-${i}`] : []));
    for (const r of results) if (!r.ok) assert.match(JSON.stringify(r.errors), /changed by other replicas .* try again/);
    assert.ok(kept.length > 0);
    for (const r of [a, b]) {
      await waitFor(() => names(r.store.current()).filter((n) => n.startsWith('Service/svc-')).length === kept.length, 'every kept apply on both replicas', 30_000);
      assert.deepEqual(names(r.store.current()).filter((n) => n.startsWith('Service/svc-')).sort(), kept.sort());
    }
  });
});

describe('etcd config store: etcd outages', { timeout: 120_000 }, () => {
  it('start-up fails within a bounded time when etcd does not answer', async () => {
    const etcd = await startEtcd();
    const endpoint = etcd.endpoint;
    await etcd.stop();
    await assert.rejects(
      startControlPlane({ store: endpoint, xdsPort: 0, adminPort: 0, stateDir: false, etcdConnectTimeoutMs: 1_000 }),
      (e: unknown) => isMeshError(e, ERROR_CODES.STORE_UNAVAILABLE) && e.message.includes(endpoint.replace('etcd://', 'http://')),
    );
  });

  it('a malformed store URL is a WEFT_ERR_INVALID_ARG', async () => {
    await assert.rejects(startControlPlane({ store: 'etcd://host:99999', xdsPort: 0, adminPort: 0 }), (e: unknown) => isMeshError(e, ERROR_CODES.INVALID_ARG) && /port/.test(e.message));
  });

  it('etcd down after start: replicas keep their last config, refuse edits clearly, and catch up when it returns', async (t) => {
    const etcd = await startEtcd();
    t.after(() => etcd.stop());
    const a = await startReplica(etcd, 'outage');
    t.after(() => a.close());
    const b = await startReplica(etcd, 'outage');
    t.after(() => b.close());
    assert.equal((await a.store.apply(serviceYaml('kept'))).ok, true);
    await waitFor(() => names(b.store.current()).includes('Service/kept'), 'B sees the first edit', 30_000);
    // B's snapshot follows its store after the push debounce (100 ms).
    await waitFor(() => servesListener(b, 'kept'), 'B serves the first edit', 30_000);

    etcd.kill();
    const refused = await b.store.apply(serviceYaml('during'));
    assert.equal(refused.ok, false);
    assert.match(JSON.stringify(!refused.ok && refused.errors), /etcd is unavailable/);
    assert.equal(!refused.ok && refused.code, ERROR_CODES.STORE_UNAVAILABLE, 'refused as the store being down, not as a bad edit');
    assert.deepEqual(names(b.store.current()), ['Service/kept']);
    assert.equal(await servesListener(b, 'kept'), true, 'B still serves its snapshot');

    await etcd.restart();
    // Edits go through again (the client's breaker reopens within seconds) and reach the other replica's watch.
    await waitFor(async () => (await a.store.apply(serviceYaml('after'))).ok, 'an apply once etcd is back', 60_000, 500);
    await waitFor(() => names(b.store.current()).includes('Service/after'), 'B catches up after the outage', 60_000);
  });
});
