// Drives the ADS server's DeltaAggregatedResources over real gRPC on loopback with hand-written DeltaDiscoveryRequests.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import { AdsServer } from './ads-server.js';
import { AdsTestClient, DeltaTestClient, world, type ReceivedDeltaResponse, type World } from './ads-test-client.js';
import { SnapshotCache } from './snapshot-cache.js';

const LDS = TYPE_URL.listener;
const CDS = TYPE_URL.cluster;
const EDS = TYPE_URL.clusterLoadAssignment;

const BASE: World = { listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 1, 'b:80': 1 }, endpoints: { 'a:80': 80, 'b:80': 80 } };
const NODE = (id: string): ProtoObject => ({ id, cluster: 'checkout', user_agent_name: 'test', user_agent_version: '1' });
const names = (r: ReceivedDeltaResponse) => r.resources.map((x) => x.name).sort();
const versions = (r: ReceivedDeltaResponse) => Object.fromEntries(r.resources.map((x) => [x.name, x.version]));

/** A control plane (cache + ADS server on loopback) for one test, closed after it. */
async function start(t: TestContext, w: World = BASE) {
  const cache = new SnapshotCache();
  cache.set(world(w));
  let nowMs = 1_000;
  const ads = new AdsServer({ cache, nowMs: () => nowMs });
  const server = new grpc.Server();
  ads.addTo(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  const clients: (DeltaTestClient | AdsTestClient)[] = [];
  t.after(() => {
    for (const c of clients) c.close();
    ads.close();
    server.forceShutdown();
  });
  let probes = 0;
  return {
    cache,
    ads,
    tick: (ms: number) => (nowMs += ms),
    connect: () => {
      const c = new DeltaTestClient(`127.0.0.1:${port}`);
      clients.push(c);
      return c;
    },
    connectSotw: () => {
      const c = new AdsTestClient(`127.0.0.1:${port}`);
      clients.push(c);
      return c;
    },
    /** Subscribes to an EDS name that does not exist: always answered (as removed), after every earlier response. */
    probe: async (c: DeltaTestClient) => {
      const name = `probe-${++probes}`;
      c.send({ typeUrl: EDS, subscribe: [name] });
      const r = await c.next();
      assert.equal(r.type_url, EDS, `a ${r.type_url} response arrived before the probe's answer`);
      assert.deepEqual(r.resources, []);
      assert.deepEqual(r.removed_resources, [name]);
      c.ack(r);
    },
    status: (nodeId: string, typeUrl: ResourceTypeUrl) => ads.clients().find((s) => s.nodeId === nodeId)?.types.find((x) => x.typeUrl === typeUrl),
  };
}

describe('Delta ADS server', { timeout: 30_000 }, () => {
  it('answers an explicit subscription with its resources, each versioned by content hash, and an ACK with nothing', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: CDS, subscribe: ['a:80'], node: NODE('d-first') });
    const r = await c.next();
    assert.deepEqual(names(r), ['a:80']);
    assert.deepEqual(r.removed_resources, []);
    assert.equal(r.system_version_info, cp.cache.get(CDS).version);
    assert.equal(r.resources[0]?.version, cp.cache.get(CDS).resources.get('a:80')?.hash);
    assert.equal(r.resources[0]?.resource['name'], 'a:80');
    c.ack(r);
    await cp.probe(c);
    const client = cp.ads.clients().find((s) => s.nodeId === 'd-first');
    assert.equal(client?.protocol, 'delta');
    assert.equal(cp.status('d-first', CDS)?.ackedVersion, r.system_version_info);
    assert.deepEqual(cp.status('d-first', CDS)?.subscribed, ['a:80']);
    // Config dumps read delta streams the same way as SotW ones.
    const dump = cp.ads.configDump('d-first');
    assert.ok(dump.ok);
    assert.deepEqual(dump.dump.clients[0]?.types.find((x) => x.typeUrl === CDS)?.resources.map((x) => x.name), ['a:80']);
  });

  it('pushes a change only to the streams subscribed to it, and only the changed resource', async (t) => {
    const cp = await start(t);
    const a = cp.connect();
    const b = cp.connect();
    a.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], node: NODE('d-push-a') });
    a.ack(await a.next());
    b.send({ typeUrl: CDS, subscribe: ['b:80'], node: NODE('d-push-b') });
    b.ack(await b.next());
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 2, 'b:80': 1 } }));
    const pushed = await a.next();
    assert.deepEqual(names(pushed), ['a:80'], 'the unchanged b:80 is not resent');
    assert.deepEqual((pushed.resources[0]?.resource['connect_timeout'] as ProtoObject)['seconds'], '2');
    a.ack(pushed);
    await cp.probe(b); // b's only answer is the probe's: nothing was pushed to it
    await cp.probe(a);
  });

  it('unsubscribes: the client is told nothing, and later changes of that name are not pushed', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], node: NODE('d-unsub') });
    c.ack(await c.next());
    c.send({ typeUrl: CDS, unsubscribe: ['a:80'] });
    await cp.probe(c);
    assert.deepEqual(cp.status('d-unsub', CDS)?.subscribed, ['b:80']);
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 3, 'b:80': 1 } }));
    await cp.probe(c);
    // Subscribing again is answered with the current resource (the client forgot it when it unsubscribed).
    c.send({ typeUrl: CDS, subscribe: ['a:80'] });
    const again = await c.next();
    assert.deepEqual(names(again), ['a:80']);
  });

  it('sends a resource again when the client subscribes again to a name it is subscribed to (it dropped its copy)', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], node: NODE('d-resub') });
    c.ack(await c.next());
    c.send({ typeUrl: CDS, subscribe: ['a:80'] });
    const again = await c.next();
    assert.deepEqual(names(again), ['a:80']);
    c.ack(again);
    await cp.probe(c);
    assert.deepEqual(cp.status('d-resub', CDS)?.subscribed, ['a:80', 'b:80']);
  });

  it('serves wildcard subscriptions (legacy empty first LDS request, and `*`) and sends removals as removed_resources', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: LDS, node: NODE('d-wild') });
    const lds = await c.next();
    assert.deepEqual(names(lds), ['a', 'b']);
    c.ack(lds);
    c.send({ typeUrl: CDS, subscribe: ['*'] });
    const cds = await c.next();
    assert.deepEqual(names(cds), ['a:80', 'b:80']);
    c.ack(cds);
    assert.deepEqual(cp.status('d-wild', LDS)?.subscribed, ['*']);
    cp.cache.set(world({ ...BASE, listeners: { a: 'a1', c: 'c1' }, clusters: { 'a:80': 1 } }));
    const got = [await c.next(), await c.next()];
    const ldsChange = got.find((r) => r.type_url === LDS)!;
    assert.deepEqual(names(ldsChange), ['c']);
    assert.deepEqual(ldsChange.removed_resources, ['b']);
    const cdsChange = got.find((r) => r.type_url === CDS)!;
    assert.deepEqual(cdsChange.resources, []);
    assert.deepEqual(cdsChange.removed_resources, ['b:80']);
    for (const r of got) c.ack(r);
    // Unsubscribing `*` ends the wildcard: a new cluster is not pushed.
    c.send({ typeUrl: CDS, unsubscribe: ['*'] });
    await cp.probe(c);
    cp.cache.set(world({ ...BASE, listeners: { a: 'a1', c: 'c1' }, clusters: { 'a:80': 1, 'z:80': 1 } }));
    await cp.probe(c);
  });

  it('tells a client that a named resource does not exist, once, and sends it when it appears', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: CDS, subscribe: ['a:80', 'later:80'], node: NODE('d-absent') });
    const r = await c.next();
    assert.deepEqual(names(r), ['a:80']);
    assert.deepEqual(r.removed_resources, ['later:80']);
    c.ack(r);
    cp.cache.set(world({ ...BASE, listeners: { a: 'a2', b: 'b1' } })); // a change elsewhere: nothing for CDS
    await cp.probe(c);
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 1, 'b:80': 1, 'later:80': 5 } }));
    const appeared = await c.next();
    assert.deepEqual(names(appeared), ['later:80']);
    assert.deepEqual(appeared.removed_resources, []);
  });

  it('records a NACK where SotW NACKs go, keeps the acked version, does not resend, and pushes the next change', async (t) => {
    const cp = await start(t);
    const c = cp.connect();
    c.send({ typeUrl: CDS, subscribe: ['a:80'], node: NODE('d-nack') });
    const r1 = await c.next();
    c.ack(r1);
    await cp.probe(c);
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 7, 'b:80': 1 } }));
    const r2 = await c.next();
    c.send({ typeUrl: CDS, nonce: r2.nonce, errorMessage: "resource 'a:80': bad" });
    await cp.probe(c);
    const s = cp.status('d-nack', CDS);
    assert.deepEqual(s?.nack, { message: "resource 'a:80': bad", version: r2.system_version_info, nonce: r2.nonce, atMs: 1_000 });
    assert.equal(s?.ackedVersion, r1.system_version_info, 'the client keeps what it had');
    // An unrelated change does not make the server resend the refused resource...
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 7, 'b:80': 2 } }));
    await cp.probe(c);
    // ...a new version of it is pushed, and its ACK clears the NACK.
    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 8, 'b:80': 2 } }));
    const r3 = await c.next();
    assert.deepEqual(names(r3), ['a:80']);
    c.ack(r3);
    await cp.probe(c);
    assert.equal(cp.status('d-nack', CDS)?.nack, undefined);
    assert.equal(cp.status('d-nack', CDS)?.ackedVersion, r3.system_version_info);
  });

  it('on a new stream with initial_resource_versions sends nothing when unchanged, and only what changed otherwise', async (t) => {
    const cp = await start(t);
    const first = cp.connect();
    first.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], node: NODE('d-resync') });
    const r = await first.next();
    first.ack(r);
    const held = versions(r);
    first.close();

    // Same content: the reconnect (or a failover to a replica with the same config) costs no push.
    const same = cp.connect();
    same.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], initialVersions: held, node: NODE('d-resync-2') });
    await cp.probe(same);
    assert.equal(cp.status('d-resync-2', CDS)?.ackedVersion, cp.cache.get(CDS).version, 'a client holding the current state shows as in sync');
    same.close();

    cp.cache.set(world({ ...BASE, clusters: { 'a:80': 1, 'b:80': 9 } }));
    const changed = cp.connect();
    changed.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], initialVersions: held, node: NODE('d-resync-3') });
    const diff = await changed.next();
    assert.deepEqual(names(diff), ['b:80']);
    assert.deepEqual(diff.removed_resources, []);
    changed.ack(diff);

    // A held resource the server no longer has is removed.
    cp.cache.set(world({ ...BASE, clusters: { 'b:80': 9 } }));
    const gone = cp.connect();
    gone.send({ typeUrl: CDS, subscribe: ['a:80', 'b:80'], initialVersions: { ...held, 'b:80': versions(diff)['b:80']! }, node: NODE('d-resync-4') });
    const removal = await gone.next();
    assert.deepEqual(removal.resources, []);
    assert.deepEqual(removal.removed_resources, ['a:80']);
  });

  it('counts the bytes written per protocol, type and stream, and writes fewer on delta for a one-resource edit', async (t) => {
    const clusters = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`s${i}:80`, 1]));
    const cp = await start(t, { clusters });
    const all = Object.keys(clusters);
    const d = cp.connect();
    const s = cp.connectSotw();
    d.send({ typeUrl: CDS, subscribe: all, node: NODE('d-bytes') });
    d.ack(await d.next());
    s.send({ typeUrl: CDS, names: all, node: NODE('s-bytes') });
    const sr = await s.next();
    s.ack(sr, all);
    const before = cp.ads.bytesSent();
    assert.ok(before.delta.byType[CDS].bytes > 0 && before.sotw.byType[CDS].bytes > 0);
    assert.equal(before.delta.byType[CDS].responses, 1);
    cp.cache.set(world({ clusters: { ...clusters, 's7:80': 2 } }));
    const dr = await d.next();
    assert.deepEqual(names(dr), ['s7:80']);
    d.ack(dr);
    const sr2 = await s.next();
    assert.equal(sr2.resources.length, 50);
    s.ack(sr2, all);
    await cp.probe(d);
    const after = cp.ads.bytesSent();
    const deltaEdit = after.delta.byType[CDS].bytes - before.delta.byType[CDS].bytes;
    const sotwEdit = after.sotw.byType[CDS].bytes - before.sotw.byType[CDS].bytes;
    assert.ok(deltaEdit > 0 && deltaEdit * 10 < sotwEdit, `delta wrote ${deltaEdit} bytes for one changed cluster, SotW ${sotwEdit}`);
    const stream = after.streams.find((x) => x.nodeId === 'd-bytes');
    assert.equal(stream?.protocol, 'delta');
    assert.equal(stream?.bytes, after.delta.bytes, 'the only delta stream carries every delta byte');
    assert.equal(cp.ads.clients().find((x) => x.nodeId === 's-bytes')?.bytesSent, after.sotw.bytes);
  });
});
