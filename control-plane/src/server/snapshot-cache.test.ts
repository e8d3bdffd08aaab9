// Tests the snapshot cache: per-type versions, per-resource hashes, encoding once, bad resources left out, and
// resolving subscribed names, including gRFC A36 server Listeners derived from their names.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Logger } from '../../../src/core/logger.js';
import { RESOURCE_TYPE_URLS, TYPE_URL, protos, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import type { XdsResource, XdsResources } from '../model.js';
import { SERVER_LISTENER_NAME_PREFIX } from '../translate/server-listener.js';
import { buildInboundListener } from '../translate/inbound-listener.js';
import { MAX_DERIVED_RESOURCES, SnapshotCache } from './snapshot-cache.js';

const cluster = (name: string, seconds: number): XdsResource => ({ '@type': TYPE_URL.cluster, name, type: 'EDS', connect_timeout: { seconds } });

function resources(clusters: XdsResource[], listeners: XdsResource[] = []): XdsResources {
  return {
    [TYPE_URL.listener]: new Map(listeners.map((l) => [String(l['name']), l])),
    [TYPE_URL.routeConfiguration]: new Map(),
    [TYPE_URL.cluster]: new Map(clusters.map((c) => [String(c['name']), c])),
    [TYPE_URL.clusterLoadAssignment]: new Map(),
    [TYPE_URL.secret]: new Map(),
  } as XdsResources;
}

describe('SnapshotCache', () => {
  it('is not ready before the first set, and notifies every type on it', () => {
    const cache = new SnapshotCache();
    assert.equal(cache.ready, false);
    assert.equal(cache.get(TYPE_URL.cluster).version, '0');
    const seen: ReadonlySet<ResourceTypeUrl>[] = [];
    cache.onChange((t) => seen.push(t));
    cache.set(resources([cluster('a', 1)]));
    assert.equal(cache.ready, true);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.size, RESOURCE_TYPE_URLS.length);
    assert.notEqual(cache.get(TYPE_URL.cluster).version, '');
  });

  it('keeps the version and the cached entry when content is equal, even as a new object', () => {
    const cache = new SnapshotCache();
    cache.set(resources([cluster('a', 1), cluster('b', 1)]));
    const before = cache.get(TYPE_URL.cluster);
    let notified = 0;
    cache.onChange(() => notified++);
    const result = cache.set(resources([cluster('a', 1), cluster('b', 1)]));
    assert.deepEqual(result.changedTypes, []);
    assert.equal(notified, 0);
    const after = cache.get(TYPE_URL.cluster);
    assert.equal(after, before);
    assert.equal(after.resources.get('a'), before.resources.get('a'));
  });

  it('finds an equal tree rebuilt as new objects without encoding it again, and any change deep inside it', () => {
    const cache = new SnapshotCache();
    const deep = (port: number, key: Uint8Array, order: 'ab' | 'ba'): XdsResource => {
      const meta = order === 'ab' ? { a: 1, b: [port, { key }] } : { b: [port, { key }], a: 1 };
      return { '@type': TYPE_URL.cluster, name: 'd', type: 'EDS', metadata: { filter_metadata: { weft: { fields: { m: { string_value: String(port) } } } } }, connect_timeout: { seconds: port }, lb_policy: 'ROUND_ROBIN', _tree: meta } as XdsResource;
    };
    // _tree rides along in the resource object (protobufjs ignores unknown keys): what the comparison must look into.
    cache.set(resources([deep(1, new Uint8Array([1, 2]), 'ab')]));
    const entry = cache.get(TYPE_URL.cluster).resources.get('d');
    const codec = protos();
    const toAny = codec.toAny.bind(codec);
    let encodes = 0;
    codec.toAny = (o) => (encodes++, toAny(o));
    try {
      assert.deepEqual(cache.set(resources([deep(1, new Uint8Array([1, 2]), 'ba')])).changedTypes, [], 'key order does not matter');
      assert.equal(encodes, 0, 'an equal tree is not encoded again');
      assert.equal(cache.get(TYPE_URL.cluster).resources.get('d'), entry);
      // A byte deep inside differs: encoded (the hash is equal, as the bytes are not on the wire: no new version).
      cache.set(resources([deep(1, new Uint8Array([1, 3]), 'ab')]));
      assert.equal(encodes, 1);
      // A number deep inside differs, on the wire too: a new entry and a new version.
      const v = cache.get(TYPE_URL.cluster).version;
      assert.deepEqual(cache.set(resources([deep(2, new Uint8Array([1, 3]), 'ab')])).changedTypes, [TYPE_URL.cluster]);
      assert.equal(encodes, 2);
      assert.notEqual(cache.get(TYPE_URL.cluster).version, v);
    } finally {
      codec.toAny = toAny;
    }
  });

  it('changes only the version of the changed type, and only the changed resource entry', () => {
    const cache = new SnapshotCache();
    cache.set(resources([cluster('a', 1), cluster('b', 1)], [{ '@type': TYPE_URL.listener, name: 'l' }]));
    const lds = cache.get(TYPE_URL.listener);
    const cds = cache.get(TYPE_URL.cluster);
    const result = cache.set(resources([cluster('a', 2), cluster('b', 1)], [{ '@type': TYPE_URL.listener, name: 'l' }]));
    assert.deepEqual(result.changedTypes, [TYPE_URL.cluster]);
    assert.equal(cache.get(TYPE_URL.listener).version, lds.version);
    const cds2 = cache.get(TYPE_URL.cluster);
    assert.ok(Number(cds2.version) > Number(cds.version));
    assert.notEqual(cds2.resources.get('a')?.hash, cds.resources.get('a')?.hash);
    assert.equal(cds2.resources.get('b'), cds.resources.get('b'));
  });

  it('bumps the version when a resource is removed', () => {
    const cache = new SnapshotCache();
    cache.set(resources([cluster('a', 1), cluster('b', 1)]));
    const v = cache.get(TYPE_URL.cluster).version;
    assert.deepEqual(cache.set(resources([cluster('a', 1)])).changedTypes, [TYPE_URL.cluster]);
    assert.notEqual(cache.get(TYPE_URL.cluster).version, v);
    assert.deepEqual([...cache.get(TYPE_URL.cluster).resources.keys()], ['a']);
  });

  it('encodes to the Any the wire carries, once per resource object', () => {
    const cache = new SnapshotCache();
    const a = cluster('a', 7);
    cache.set(resources([a]));
    const entry = cache.get(TYPE_URL.cluster).resources.get('a');
    assert.ok(entry);
    assert.equal(entry.any.type_url, TYPE_URL.cluster);
    const decoded = protos().fromAny(entry.any);
    assert.equal(decoded['name'], 'a');
    assert.equal((decoded['connect_timeout'] as { seconds: string }).seconds, '7');
    cache.set(resources([a, cluster('b', 1)]));
    assert.equal(cache.get(TYPE_URL.cluster).resources.get('a'), entry, 'same object: not re-encoded');
  });

  it('leaves out a resource it cannot encode or whose @type is wrong, and serves the rest', () => {
    const cache = new SnapshotCache();
    const result = cache.set(
      resources([cluster('good', 1), { '@type': TYPE_URL.listener, name: 'wrong-type' }, { '@type': TYPE_URL.cluster, name: 'bad', type: 'NOT_A_TYPE', connect_timeout: 'x' }]),
    );
    assert.deepEqual([...cache.get(TYPE_URL.cluster).resources.keys()], ['good']);
    assert.equal(result.errors.length, 2);
    assert.match(result.errors.join('\n'), /'wrong-type'/);
    assert.match(result.errors.join('\n'), /'bad': cannot encode/);
  });

  it('resolves a snapshot name to its entry, and an unknown ordinary name to nothing', () => {
    const cache = new SnapshotCache();
    cache.set(resources([cluster('a', 1)], [{ '@type': TYPE_URL.listener, name: 'l' }]));
    assert.equal(cache.resolve(TYPE_URL.listener, 'l'), cache.get(TYPE_URL.listener).resources.get('l'));
    assert.equal(cache.resolve(TYPE_URL.cluster, 'a'), cache.get(TYPE_URL.cluster).resources.get('a'));
    assert.equal(cache.resolve(TYPE_URL.listener, 'nope'), undefined);
  });

  it('resolves a server listener name to its Listener, encoded once, and only for LDS', () => {
    const cache = new SnapshotCache();
    cache.set(resources([]));
    const name = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:50051`;
    const entry = cache.resolve(TYPE_URL.listener, name);
    assert.ok(entry);
    assert.equal(entry.name, name);
    const decoded = protos().fromAny(entry.any);
    assert.equal(decoded['name'], name);
    const socket = (decoded['address'] as { socket_address: Record<string, unknown> }).socket_address;
    assert.deepEqual([socket['address'], socket['port_value']], ['127.0.0.1', 50051]);
    assert.ok(Object.isFrozen(entry.resource));
    assert.equal(cache.resolve(TYPE_URL.listener, name), entry, 'same object: not re-encoded');
    cache.set(resources([cluster('a', 2)]));
    assert.equal(cache.resolve(TYPE_URL.listener, name), entry, 'unchanged by a new snapshot (it depends on the name only)');
    assert.equal(cache.resolve(TYPE_URL.cluster, name), undefined);
    assert.equal(cache.get(TYPE_URL.listener).resources.size, 0, 'not part of the snapshot');
  });

  it('resolves a malformed server listener name to nothing and warns once, naming it', () => {
    const warnings: Record<string, unknown>[] = [];
    const logger: Logger = { debug() {}, info() {}, warn: (message, fields) => warnings.push({ message, ...fields }), error() {} };
    const cache = new SnapshotCache({ logger });
    cache.set(resources([]));
    const name = `${SERVER_LISTENER_NAME_PREFIX}localhost:50051`;
    assert.equal(cache.resolve(TYPE_URL.listener, name), undefined);
    assert.equal(cache.resolve(TYPE_URL.listener, name), undefined);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0]?.['name'], name);
    assert.match(String(warnings[0]?.['error']), /'localhost' is not an IP address/);
  });

  it('keeps at most MAX_DERIVED_RESOURCES derived Listeners, and still resolves past that', () => {
    const cache = new SnapshotCache();
    cache.set(resources([]));
    const first = cache.resolve(TYPE_URL.listener, `${SERVER_LISTENER_NAME_PREFIX}10.0.0.1:1`);
    for (let port = 2; port <= MAX_DERIVED_RESOURCES + 1; port++) cache.resolve(TYPE_URL.listener, `${SERVER_LISTENER_NAME_PREFIX}10.0.0.1:${port}`);
    const again = cache.resolve(TYPE_URL.listener, `${SERVER_LISTENER_NAME_PREFIX}10.0.0.1:1`);
    assert.ok(again);
    assert.notEqual(again, first, 'the memo started over');
    assert.equal(again.hash, first?.hash, 'same content, same hash: no spurious push');
  });

  it('serves an A36 server its node\'s service inbound Listener at its address, and undeclared services the mesh-wide one', () => {
    const cache = new SnapshotCache();
    const hcm = (tag: string) => ({ '@type': TYPE_URL.httpConnectionManager, stat_prefix: tag, route_config: { name: tag, virtual_hosts: [] }, http_filters: [] });
    const mesh = buildInboundListener('weft/inbound', hcm('mesh'));
    const payments = buildInboundListener('weft/inbound/payments', hcm('payments'));
    cache.set(resources([], [mesh, payments]));
    const server = `${SERVER_LISTENER_NAME_PREFIX}127.0.0.1:7000`;
    const statPrefix = (e: ReturnType<SnapshotCache['resolve']>) => {
      const l = protos().fromAny(e!.any) as unknown as { filter_chains: { filters: { typed_config: { stat_prefix: string } }[] }[] };
      return l.filter_chains[0]!.filters[0]!.typed_config.stat_prefix;
    };
    const forPayments = cache.resolve(TYPE_URL.listener, server, { cluster: 'payments' });
    assert.equal(statPrefix(forPayments), 'payments');
    assert.deepEqual((forPayments!.resource['address'] as { socket_address: unknown }).socket_address, { address: '127.0.0.1', port_value: 7000 });
    assert.equal(statPrefix(cache.resolve(TYPE_URL.listener, server, { cluster: 'ghost' })), 'mesh', 'a service without a Listener: mesh-wide policy');
    assert.equal(statPrefix(cache.resolve(TYPE_URL.listener, server, {})), 'mesh', 'no node.cluster: mesh-wide policy');
    const undeclared = cache.resolve(TYPE_URL.listener, 'weft/inbound/ghost');
    assert.equal(undeclared?.name, 'weft/inbound/ghost');
    assert.equal(statPrefix(undeclared), 'mesh');
    assert.equal(cache.resolve(TYPE_URL.listener, 'weft/inbound/payments'), cache.get(TYPE_URL.listener).resources.get('weft/inbound/payments'));
    // A policy change reaches derived Listeners: they are rebuilt from the new source.
    cache.set(resources([], [mesh, buildInboundListener('weft/inbound/payments', hcm('payments-v2'))]));
    assert.equal(statPrefix(cache.resolve(TYPE_URL.listener, server, { cluster: 'payments' })), 'payments-v2');
    assert.equal(cache.resolve(TYPE_URL.listener, 'weft/inbound/ghost'), undeclared, 'its source did not change: same entry');
  });
});
