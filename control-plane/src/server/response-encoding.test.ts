// Tests responses encoded once and shared: body + appended nonce decodes to the response a full encode gives (SotW and
// delta, short and long nonces), and the cache's memo shares bytes per content, drops them on a new version, is bounded.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import type { XdsResources } from '../model.js';
import { encodeWithoutNonce, serializePreEncoded } from './response-encoding.js';
import { MAX_SHARED_ENCODINGS, SnapshotCache } from './snapshot-cache.js';

const any = (name: string) => protos().toAny({ '@type': TYPE_URL.cluster, name, type: 'EDS' });
const decode = (message: string, bytes: Uint8Array) => protos().decode(`envoy.service.discovery.v3.${message}`, bytes);

describe('pre-encoded ADS responses', () => {
  for (const nonce of ['7', 'x'.repeat(200), 'ünï']) {
    it(`SotW: body + nonce (${nonce.length} chars) is the full response`, () => {
      const response: ProtoObject = { version_info: '12', resources: [any('a:80'), any('b:80')], type_url: TYPE_URL.cluster };
      const bytes = serializePreEncoded({ nonce, encodedWithoutNonce: encodeWithoutNonce('sotw', response) });
      assert.ok(bytes);
      assert.deepEqual(decode('DiscoveryResponse', bytes), decode('DiscoveryResponse', protos().encode('envoy.service.discovery.v3.DiscoveryResponse', { ...response, nonce })));
      assert.equal(decode('DiscoveryResponse', bytes)['nonce'], nonce);
    });
  }

  it('delta: body + nonce is the full response, removals included', () => {
    const response: ProtoObject = {
      system_version_info: '3', resources: [{ name: 'a:80', version: 'h1', resource: any('a:80') }], type_url: TYPE_URL.cluster, removed_resources: ['gone'],
    };
    const bytes = serializePreEncoded({ nonce: '42', encodedWithoutNonce: encodeWithoutNonce('delta', response) });
    assert.ok(bytes);
    const decoded = decode('DeltaDiscoveryResponse', bytes);
    assert.equal(decoded['nonce'], '42');
    assert.deepEqual(decoded['removed_resources'], ['gone']);
    assert.deepEqual(decoded, decode('DeltaDiscoveryResponse', protos().encode('envoy.service.discovery.v3.DeltaDiscoveryResponse', { ...response, nonce: '42' })));
  });

  it('leaves a response without a body to the ordinary serializer', () => {
    assert.equal(serializePreEncoded({ nonce: '1', version_info: '1', resources: [] }), undefined);
  });
});

describe('SnapshotCache.sharedEncoding', () => {
  const KIND = {};
  const snapshot = (n: number): XdsResources => ({
    [TYPE_URL.listener]: new Map(),
    [TYPE_URL.routeConfiguration]: new Map(),
    [TYPE_URL.cluster]: new Map([[`c${n}`, { '@type': TYPE_URL.cluster, name: `c${n}`, type: 'EDS' }]]),
    [TYPE_URL.clusterLoadAssignment]: new Map(),
    [TYPE_URL.secret]: new Map(),
  }) as XdsResources;

  it('encodes once per key and version, and again after the version changes', () => {
    const cache = new SnapshotCache();
    cache.set(snapshot(1));
    let encodes = 0;
    const encode = () => new Uint8Array([++encodes]);
    const first = cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k'], encode);
    assert.equal(cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k'], encode), first);
    assert.equal(encodes, 1);
    cache.sharedEncoding(TYPE_URL.cluster, KIND, ['other'], encode);
    assert.equal(encodes, 2);
    cache.set(snapshot(1)); // same content: same version, memo kept
    assert.equal(cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k'], encode), first);
    cache.set(snapshot(2));
    assert.notEqual(cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k'], encode), first);
    assert.equal(encodes, 3);
  });

  it('keeps at most MAX_SHARED_ENCODINGS per type, starting over past it', () => {
    const cache = new SnapshotCache();
    cache.set(snapshot(1));
    let encodes = 0;
    const encode = () => new Uint8Array([++encodes & 255]);
    for (let i = 0; i <= MAX_SHARED_ENCODINGS; i++) cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k', i], encode);
    assert.equal(encodes, MAX_SHARED_ENCODINGS + 1);
    cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k', 0], encode); // the memo started over when full: an old key is encoded again
    assert.equal(encodes, MAX_SHARED_ENCODINGS + 2);
    cache.sharedEncoding(TYPE_URL.cluster, KIND, ['k', 0], encode); // and kept again
    assert.equal(encodes, MAX_SHARED_ENCODINGS + 2);
  });
});
