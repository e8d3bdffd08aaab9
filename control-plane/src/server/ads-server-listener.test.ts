// Drives the ADS server over real gRPC on loopback and checks how gRFC A36 server Listeners ride in State-of-the-World
// LDS: beside the client Listeners a node subscribes to, in every LDS response, for as long as it subscribes.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../../../src/core/logger.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { XdsResources } from '../model.js';
import { SERVER_LISTENER_NAME_PREFIX } from '../translate/server-listener.js';
import { buildListener } from '../translate/translate.js';
import { AdsServer } from './ads-server.js';
import { AdsTestClient, type ReceivedResponse } from './ads-test-client.js';
import { SnapshotCache } from './snapshot-cache.js';

const LDS = TYPE_URL.listener;
const SERVER_A = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:50051`;
const SERVER_B = `${SERVER_LISTENER_NAME_PREFIX}[::1]:50052`;
const MALFORMED = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:50051&x=1`;

/** Client Listeners `echo` and `other` (translate's builder); `faultOnEcho` changes echo's content. */
function snapshot(faultOnEcho = false): XdsResources {
  return {
    [LDS]: new Map([
      ['echo', buildListener('echo', 'echo', faultOnEcho)],
      ['other', buildListener('other', 'other')],
    ]),
    [TYPE_URL.routeConfiguration]: new Map(),
    [TYPE_URL.cluster]: new Map(),
    [TYPE_URL.clusterLoadAssignment]: new Map(),
    [TYPE_URL.secret]: new Map(),
  } as XdsResources;
}

const NODE = (id: string): ProtoObject => ({ id, cluster: 'echo', user_agent_name: 'test', user_agent_version: '1' });
const names = (r: ReceivedResponse) => r.resources.map((x) => String(x['name'])).sort();
const socketOf = (r: ReceivedResponse, name: string) =>
  ((r.resources.find((x) => x['name'] === name)?.['address'] as ProtoObject | undefined)?.['socket_address'] as ProtoObject | undefined) ?? {};

describe('ADS server: gRFC A36 server Listeners in SotW LDS', { timeout: 20_000 }, () => {
  const warnings: Record<string, unknown>[] = [];
  const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => warnings.push({ message, ...fields }), error() {} };
  const cache = new SnapshotCache({ logger });
  const ads = new AdsServer({ cache, logger });
  const server = new grpc.Server();
  let address = '';
  const clients: AdsTestClient[] = [];
  const connect = () => {
    const c = new AdsTestClient(address);
    clients.push(c);
    return c;
  };
  const ldsStatus = (node: string) => ads.clients().find((s) => s.nodeId === node)?.types.find((t) => t.typeUrl === LDS);
  /** An EDS request for a name that does not exist is always answered: once it is, every earlier response has come. */
  let probes = 0;
  const probe = async (c: AdsTestClient) => {
    c.send({ typeUrl: TYPE_URL.clusterLoadAssignment, names: [`probe-${++probes}`] });
    const r = await c.next();
    assert.equal(r.type_url, TYPE_URL.clusterLoadAssignment, `an unexpected ${r.type_url} response came first`);
  };

  before(async () => {
    cache.set(snapshot());
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

  it('sends a node its server Listener and its client Listener in one LDS response, which it can ACK', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['echo', SERVER_A], node: NODE('n-both') });
    const r = await c.next();
    assert.equal(r.type_url, LDS);
    assert.deepEqual(names(r), ['echo', SERVER_A].sort());
    assert.deepEqual([socketOf(r, SERVER_A)['address'], socketOf(r, SERVER_A)['port_value']], ['127.0.0.1', 50051]);
    assert.equal(r.version_info, cache.get(LDS).version);
    c.ack(r, ['echo', SERVER_A]);
    await probe(c);
    assert.equal(ldsStatus('n-both')?.ackedVersion, r.version_info);
    const dump = ads.configDump('n-both');
    assert.ok(dump.ok);
    const sent = dump.dump.clients[0]?.types.find((t) => t.typeUrl === LDS)?.resources ?? [];
    assert.deepEqual(sent.map((x) => x.name).sort(), ['echo', SERVER_A].sort(), 'the config dump shows what was sent');
  });

  it('keeps the server Listener in every push while subscribed, and drops it once unsubscribed', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: [SERVER_B, 'echo'], node: NODE('n-push') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['echo', SERVER_B].sort());
    assert.deepEqual([socketOf(r1, SERVER_B)['address'], socketOf(r1, SERVER_B)['port_value']], ['::1', 50052]);
    c.ack(r1, [SERVER_B, 'echo']);
    await probe(c);

    // A change to the client Listener pushes LDS; SotW: a server Listener left out would read as deleted.
    cache.set(snapshot(true));
    const r2 = await c.next();
    assert.equal(r2.type_url, LDS);
    assert.deepEqual(names(r2), ['echo', SERVER_B].sort());
    assert.notEqual(r2.version_info, r1.version_info);
    c.ack(r2, [SERVER_B, 'echo']);
    await probe(c);

    // A change no subscribed Listener sees (its server Listener depends on its name only) pushes nothing.
    cache.set({ ...snapshot(true), [LDS]: new Map([...snapshot(true)[LDS], ['third', buildListener('third', 'third')]]) } as XdsResources);
    await probe(c);

    c.send({ typeUrl: LDS, names: ['echo'], version: r2.version_info, nonce: r2.nonce });
    const r3 = await c.next();
    assert.deepEqual(names(r3), ['echo']);
    c.ack(r3, ['echo']);
    cache.set(snapshot(false));
    const r4 = await c.next();
    assert.deepEqual(names(r4), ['echo'], 'no longer subscribed: no longer sent');
  });

  it('gives each node only the server Listeners it asked for', async () => {
    const ca = connect();
    const cb = connect();
    ca.send({ typeUrl: LDS, names: [SERVER_A], node: NODE('n-a') });
    cb.send({ typeUrl: LDS, names: [SERVER_B, 'other'], node: NODE('n-b') });
    assert.deepEqual(names(await ca.next()), [SERVER_A]);
    assert.deepEqual(names(await cb.next()), ['other', SERVER_B].sort());
  });

  it('answers a wildcard beside a server listener name with every client Listener and that server Listener', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['*', SERVER_A], node: NODE('n-wild') });
    assert.deepEqual(names(await c.next()), [...cache.get(LDS).resources.keys(), SERVER_A].sort());
  });

  it('sends no resource for a malformed server listener name, warns once, and keeps serving the rest', async () => {
    const c = connect();
    c.send({ typeUrl: LDS, names: ['echo', MALFORMED], node: NODE('n-bad') });
    const r1 = await c.next();
    assert.deepEqual(names(r1), ['echo']);
    c.ack(r1, ['echo', MALFORMED]);
    cache.set(snapshot(true));
    const r2 = await c.next();
    assert.deepEqual(names(r2), ['echo']);
    const about = warnings.filter((w) => w['name'] === MALFORMED);
    assert.equal(about.length, 1, JSON.stringify(warnings));
    assert.match(String(about[0]?.['error']), /port '50051&x=1' is not 1\.\.65535/);
    c.send({ typeUrl: LDS, names: ['echo', MALFORMED, SERVER_A], version: r2.version_info, nonce: r2.nonce });
    assert.deepEqual(names(await c.next()), ['echo', SERVER_A].sort());
  });
});
