// Tests the snapshot cache: per-type versions, per-resource hashes, encoding once, and bad resources left out.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, protos, type ResourceTypeUrl } from '../../../src/discovery/xds/protos.js';
import type { XdsResource, XdsResources } from '../model.js';
import { SnapshotCache } from './snapshot-cache.js';

const cluster = (name: string, seconds: number): XdsResource => ({ '@type': TYPE_URL.cluster, name, type: 'EDS', connect_timeout: { seconds } });

function resources(clusters: XdsResource[], listeners: XdsResource[] = []): XdsResources {
  return {
    [TYPE_URL.listener]: new Map(listeners.map((l) => [String(l['name']), l])),
    [TYPE_URL.routeConfiguration]: new Map(),
    [TYPE_URL.cluster]: new Map(clusters.map((c) => [String(c['name']), c])),
    [TYPE_URL.clusterLoadAssignment]: new Map(),
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
    assert.equal(seen[0]?.size, 4);
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
});
