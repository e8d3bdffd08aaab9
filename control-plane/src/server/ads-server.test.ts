// Drives the ADS server over real gRPC on loopback with hand-written DiscoveryRequests and checks SotW semantics.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { TYPE_URL, protos, type ProtoObject, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import { AdsServer } from './ads-server.js';
import { AdsTestClient, world, type ReceivedResponse } from './ads-test-client.js';
import { SnapshotCache } from './snapshot-cache.js';

const LDS = TYPE_URL.listener;
const RDS = TYPE_URL.routeConfiguration;
const CDS = TYPE_URL.cluster;
const EDS = TYPE_URL.clusterLoadAssignment;

async function eventually(pred: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
  assert.ok(pred(), `not within 10 s: ${what}`);
}

const NODE = (id: string, cluster = 'checkout'): ProtoObject => ({ id, cluster, user_agent_name: 'test', user_agent_version: '1' });
const names = (r: ReceivedResponse) => r.resources.map((x) => String(x['name'] ?? x['cluster_name'])).sort();

describe('ADS server', { timeout: 20_000 }, () => {
  const cache = new SnapshotCache();
  let nowMs = 1_000;
  const ads = new AdsServer({ cache, nowMs: () => nowMs });
  const server = new grpc.Server();
  let address = '';
  const clients: AdsTestClient[] = [];
  const connect = () => {
    const c = new AdsTestClient(address);
    clients.push(c);
    return c;
  };
  /** Sends a request that is always answered and returns that answer; every earlier response must come first. */
  let probeCount = 0;
  const probe = async (c: AdsTestClient, typeUrl: ResourceTypeUrl = EDS) => {
    c.send({ typeUrl, names: [`probe-${++probeCount}`] });
    const r = await c.next();
    assert.equal(r.type_url, typeUrl, 'a response arrived before the probe answer');
    assert.equal(r.resources.length, 0);
  };

  before(async () => {
    cache.set(world({ listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 1, 'b:80': 1 }, endpoints: { 'a:80': 80, 'b:80': 80 } }));
    ads.addTo(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  after(() => {
    ads.close();
    server.forceShutdown();
  });

  it('answers a first subscription with the subscribed resources, and an ACK with nothing', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['a'], node: NODE('n-first') });
    const r = await c.next();
    assert.equal(r.type_url, LDS);
    assert.deepEqual(names(r), ['a']);
    assert.equal(r.version_info, cache.get(LDS).version);
    c.ack(r, ['a']);
    await probe(c);
    const status = ads.clients().find((s) => s.nodeId === 'n-first');
    assert.equal(status?.service, 'checkout');
    assert.equal(status?.userAgent, 'test 1');
    const lds = status?.types.find((t) => t.typeUrl === LDS);
    assert.equal(lds?.ackedVersion, r.version_info);
    assert.deepEqual(lds?.subscribed, ['a']);
    assert.equal(lds?.nack, undefined);
  });

  it('records a NACK, does not resend, and still pushes the next change', async () => {
    const c = connect();
    c.send({ typeUrl: CDS, names: ['a:80'], node: NODE('n-nack') });
    const r1 = await c.next();
    c.send({ typeUrl: CDS, names: ['a:80'], version: '', nonce: r1.nonce, errorMessage: 'resource a:80: bad' });
    await probe(c);
    const t = ads.clients().find((s) => s.nodeId === 'n-nack')?.types.find((x) => x.typeUrl === CDS);
    assert.deepEqual(t?.nack, { message: 'resource a:80: bad', version: r1.version_info, nonce: r1.nonce, atMs: 1_000 });
    assert.equal(t?.ackedVersion, '');

    cache.set(world({ listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 2, 'b:80': 1 }, endpoints: { 'a:80': 80, 'b:80': 80 } }));
    const r2 = await c.next();
    assert.equal(r2.type_url, CDS);
    assert.notEqual(r2.version_info, r1.version_info);
    assert.deepEqual((r2.resources[0]?.['connect_timeout'] as ProtoObject)['seconds'], '2');
    c.ack(r2, ['a:80']);
    await probe(c);
    const t2 = ads.clients().find((s) => s.nodeId === 'n-nack')?.types.find((x) => x.typeUrl === CDS);
    assert.equal(t2?.ackedVersion, r2.version_info);
    assert.equal(t2?.nack, undefined, 'a later ACK clears the NACK');
  });

  it('answers a subscription change that carries a stale nonce, and ignores a stale ACK', async () => {
    const c = connect();
    c.send({ typeUrl: RDS, names: ['a'], node: NODE('n-stale') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['a']);
    // The client widens its subscription before ACKing r1 (grpc-js does this): nonce is empty/stale.
    c.send({ typeUrl: RDS, names: ['a', 'b'], version: '', nonce: '' });
    const r2 = await c.next();
    assert.deepEqual(names(r2), ['a', 'b']);
    // Now the late ACK of r1 arrives: stale and same names, so it is ignored.
    c.ack(r1, ['a', 'b']);
    await probe(c);
    c.ack(r2, ['a', 'b']);
    await probe(c);
    const t = ads.clients().find((s) => s.nodeId === 'n-stale')?.types.find((x) => x.typeUrl === RDS);
    assert.equal(t?.ackedVersion, r2.version_info);
  });

  it('unsubscribes on an empty list after names (not wildcard) and stops pushing', async () => {
    const c = connect();
    c.send({ typeUrl: EDS, names: ['a:80', 'b:80'], node: NODE('n-unsub') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['a:80', 'b:80']);
    c.send({ typeUrl: EDS, names: [], version: r1.version_info, nonce: r1.nonce });
    cache.set(world({ listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 2, 'b:80': 1 }, endpoints: { 'a:80': 81, 'b:80': 81 } }));
    await probe(c, CDS);
    const t = ads.clients().find((s) => s.nodeId === 'n-unsub')?.types.find((x) => x.typeUrl === EDS);
    assert.deepEqual(t?.subscribed, []);
    // Re-subscribing is answered in full.
    c.send({ typeUrl: EDS, names: ['a:80'] });
    const r2 = await c.next();
    assert.deepEqual(names(r2), ['a:80']);
  });

  it('resends everything subscribed on a new stream; several streams per node id are allowed', async () => {
    const c1 = connect();
    c1.send({ typeUrl: LDS, names: ['a', 'b'], node: NODE('n-re') });
    const r1 = await c1.next();
    c1.ack(r1, ['a', 'b']);
    const c2 = connect();
    c2.send({ typeUrl: LDS, names: ['a', 'b'], node: NODE('n-re') }); // no version held: everything
    const r2 = await c2.next();
    assert.deepEqual(names(r2), ['a', 'b']);
    assert.equal(r2.version_info, r1.version_info);
    await probe(c1);
    assert.equal(ads.clients().filter((s) => s.nodeId === 'n-re').length, 2);
    const dump = ads.configDump('n-re');
    assert.ok(dump.ok);
    assert.equal(dump.dump.clients.length, 2);
  });

  it('sends nothing to a reconnecting node that holds the current version for the same names, and pushes later changes', async () => {
    const c1 = connect();
    c1.send({ typeUrl: CDS, names: ['a:80', 'b:80'], node: NODE('n-resume') });
    const r1 = await c1.next();
    c1.ack(r1, ['a:80', 'b:80']);
    await probe(c1);
    c1.close();
    await eventually(() => !ads.clients().some((s) => s.nodeId === 'n-resume'), 'the first stream to end');

    const c2 = connect();
    c2.send({ typeUrl: CDS, names: ['a:80', 'b:80'], version: r1.version_info, node: NODE('n-resume') });
    await probe(c2); // the probe's answer comes first: no CDS re-push
    const t = ads.clients().find((s) => s.nodeId === 'n-resume')?.types.find((x) => x.typeUrl === CDS);
    assert.deepEqual([t?.sentVersion, t?.ackedVersion], [r1.version_info, r1.version_info], 'as if sent and ACKed here');
    const c2b = connect(); // a reconnect that arrives before the stream it replaces has ended: resumes from that one
    c2b.send({ typeUrl: CDS, names: ['a:80', 'b:80'], version: r1.version_info, node: NODE('n-resume') });
    await probe(c2b);
    c2b.close();
    const c3 = connect(); // same node, other names: not what it holds
    c3.send({ typeUrl: CDS, names: ['a:80'], version: r1.version_info, node: NODE('n-resume') });
    assert.deepEqual(names(await c3.next()), ['a:80']);
    const c4 = connect(); // same names, another version: not what it holds
    c4.send({ typeUrl: CDS, names: ['a:80', 'b:80'], version: `${r1.version_info}0`, node: NODE('n-resume') });
    assert.deepEqual(names(await c4.next()), ['a:80', 'b:80']);

    // A change after the resume reaches the resumed stream, with only what changed making it differ.
    const before = cache.get(CDS).version;
    const was = { listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 2, 'b:80': 1 }, endpoints: { 'a:80': 81, 'b:80': 81 } }; // set by the test before
    cache.set(world({ ...was, clusters: { 'a:80': 2, 'b:80': 7 } }));
    const pushed = await c2.next();
    assert.notEqual(pushed.version_info, before);
    assert.match(JSON.stringify(pushed.resources), /"seconds":"?7"?/);
    cache.set(world(was));
  });

  it('sends LDS/CDS as full state: unknown names are absent, a removed resource leaves in a push', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['a', 'nope'], node: NODE('n-full') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['a']);
    c.ack(r1, ['a', 'nope']);
    c.send({ typeUrl: EDS, names: ['a:80', 'b:80'] });
    const e1 = await c.next();
    c.ack(e1, ['a:80', 'b:80']);
    // Listener a and endpoints b:80 go away.
    cache.set(world({ listeners: { b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 2, 'b:80': 1 }, endpoints: { 'a:80': 81 } }));
    const r2 = await c.next();
    assert.equal(r2.type_url, LDS);
    assert.deepEqual(r2.resources, []);
    c.ack(r2, ['a', 'nope']);
    await probe(c, CDS); // EDS is partial: the removal alone is not pushed
    // b:80 comes back changed (unchanged, it would not be pushed: the client never learned it was gone).
    cache.set(world({ listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 2, 'b:80': 1 }, endpoints: { 'a:80': 81, 'b:80': 82 } }));
    const r3 = await c.next();
    const e2 = await c.next();
    const byType = new Map([r3, e2].map((r) => [r.type_url, r]));
    assert.deepEqual(names(byType.get(LDS)!), ['a']);
    assert.deepEqual(names(byType.get(EDS)!), ['a:80', 'b:80']);
  });

  it('pushes a change only to streams subscribed to the changed resource', async () => {
    const ca = connect();
    const cb = connect();
    ca.send({ typeUrl: CDS, names: ['a:80'], node: NODE('n-a') });
    cb.send({ typeUrl: CDS, names: ['b:80'], node: NODE('n-b') });
    ca.ack(await ca.next(), ['a:80']);
    cb.ack(await cb.next(), ['b:80']);
    cache.set(world({ listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 9, 'b:80': 1 }, endpoints: { 'a:80': 81, 'b:80': 81 } }));
    const pushed = await ca.next();
    assert.equal((pushed.resources[0]?.['connect_timeout'] as ProtoObject)['seconds'], '9');
    await probe(cb);
  });

  it('waits for the answer to a response before pushing the next change (flow control)', async () => {
    const c = connect();
    c.send({ typeUrl: CDS, names: ['b:80'], node: NODE('n-flow') });
    const r1 = await c.next();
    const base = { listeners: { a: 'a1', b: 'b1' }, routes: { a: 'a1', b: 'b1' }, endpoints: { 'a:80': 81, 'b:80': 81 } };
    cache.set(world({ ...base, clusters: { 'a:80': 9, 'b:80': 2 } }));
    cache.set(world({ ...base, clusters: { 'a:80': 9, 'b:80': 3 } }));
    await probe(c);
    c.ack(r1, ['b:80']);
    const r2 = await c.next();
    assert.equal((r2.resources[0]?.['connect_timeout'] as ProtoObject)['seconds'], '3', 'only the latest state is sent');
  });

  it('treats a first empty LDS request as a legacy wildcard until names are given', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: [], node: NODE('n-wild') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['a', 'b']);
    c.ack(r1, []);
    const t = ads.clients().find((s) => s.nodeId === 'n-wild')?.types.find((x) => x.typeUrl === LDS);
    assert.deepEqual(t?.subscribed, ['*']);
    cache.set(world({ listeners: { a: 'a1', b: 'b1', c: 'c1' }, routes: { a: 'a1', b: 'b1' }, clusters: { 'a:80': 9, 'b:80': 3 }, endpoints: { 'a:80': 81, 'b:80': 81 } }));
    const r2 = await c.next();
    assert.deepEqual(names(r2), ['a', 'b', 'c']);
    c.send({ typeUrl: LDS, names: ['c'], version: r2.version_info, nonce: r2.nonce });
    const r3 = await c.next();
    assert.deepEqual(names(r3), ['c']);
    // An empty first RDS request is not a wildcard: nothing is subscribed, nothing is sent.
    c.send({ typeUrl: RDS, names: [] });
    await probe(c);
    const rds = ads.clients().find((s) => s.nodeId === 'n-wild')?.types.find((x) => x.typeUrl === RDS);
    assert.deepEqual(rds?.subscribed, []);
  });

  it('finds a config dump by unique prefix and refuses ambiguous or unknown ones', async () => {
    const c1 = connect();
    const c2 = connect();
    c1.send({ typeUrl: LDS, names: ['a'], node: NODE('dump-alpha-1') });
    c2.send({ typeUrl: LDS, names: ['b'], node: NODE('dump-beta-1') });
    await c1.next();
    await c2.next();
    const d = ads.configDump('dump-al');
    assert.ok(d.ok);
    assert.equal(d.dump.nodeId, 'dump-alpha-1');
    const lds = d.dump.clients[0]?.types.find((t) => t.typeUrl === LDS);
    assert.deepEqual(lds?.resources.map((r) => r.name), ['a']);
    assert.equal(lds?.resources[0]?.resource['@type'], LDS);
    const amb = ads.configDump('dump-');
    assert.ok(!amb.ok && amb.reason === 'ambiguous');
    assert.deepEqual(amb.candidates, ['dump-alpha-1', 'dump-beta-1']);
    const none = ads.configDump('zzz');
    assert.ok(!none.ok && none.reason === 'not-found');
  });

  it('drops a stream from status when the client goes away', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['a'], node: NODE('n-gone') });
    await c.next();
    assert.equal(ads.clients().filter((s) => s.nodeId === 'n-gone').length, 1);
    c.close();
    for (let i = 0; i < 100 && ads.clients().some((s) => s.nodeId === 'n-gone'); i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(ads.clients().filter((s) => s.nodeId === 'n-gone').length, 0);
  });
});

describe('ADS server lifecycle', { timeout: 10_000 }, () => {
  it('holds answers until the first snapshot, and ends streams with UNAVAILABLE on close', async (t) => {
    const cache = new SnapshotCache();
    const ads = new AdsServer({ cache });
    const server = new grpc.Server();
    ads.addTo(server);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    const c = new AdsTestClient(`127.0.0.1:${port}`);
    t.after(() => {
      c.close();
      server.forceShutdown();
    });
    c.send({ typeUrl: LDS, names: ['missing'], node: NODE('n-early') });
    c.send({ typeUrl: CDS, names: ['a:80'] });
    for (let i = 0; i < 200 && (ads.clients()[0]?.types.length ?? 0) < 2; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(c.pending, 0);
    cache.set(world({ clusters: { 'a:80': 1 } }));
    const first = [await c.next(), await c.next()];
    const lds = first.find((r) => r.type_url === LDS);
    assert.deepEqual(lds?.resources, [], 'the owed LDS answer says the listener does not exist');
    assert.deepEqual(names(first.find((r) => r.type_url === CDS)!), ['a:80']);
    ads.close();
    const status = await c.ended();
    assert.equal(status.code, grpc.status.UNAVAILABLE);
  });
});
