// Tests the delta push path of AdsStream in-process: streams holding the same versions share one encoded response (only
// the nonce differs), a stream holding other versions gets its own diff, and ACKs with no subscription change neither
// resend nor lose a change that arrived while a response awaited its answer.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TYPE_URL, protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { AdsStream, type DeltaDiscoveryResponse } from './ads-stream.js';
import { world, type World } from './ads-test-client.js';
import { serializePreEncoded } from './response-encoding.js';
import { SnapshotCache } from './snapshot-cache.js';

const CDS = TYPE_URL.cluster;
const BASE: World = { clusters: { 'a:80': 1, 'b:80': 1, 'c:80': 1 } };

/** A delta stream over `cache` whose responses are collected, and the wire bytes of each (as the server writes them). */
function deltaStream(cache: SnapshotCache, id: number, nonces: { n: number }) {
  const sent: DeltaDiscoveryResponse[] = [];
  const stream = new AdsStream({ id, peer: 'test', cache, protocol: 'delta', nextNonce: () => String(++nonces.n), send: (r) => void sent.push(r as DeltaDiscoveryResponse) });
  cache.onChange((types) => stream.onCacheChange(types)); // what AdsServer does for every stream
  return {
    stream,
    sent,
    subscribe: (names: string[], initial?: Record<string, string>) =>
      stream.handleDeltaRequest({ type_url: CDS, resource_names_subscribe: names, node: { id: `n-${id}`, cluster: 'checkout' }, ...(initial ? { initial_resource_versions: initial } : {}) }),
    ack: (r: DeltaDiscoveryResponse) => stream.handleDeltaRequest({ type_url: CDS, response_nonce: r.nonce }),
  };
}

const wire = (r: DeltaDiscoveryResponse): Buffer => {
  const bytes = serializePreEncoded(r);
  assert.ok(bytes, 'a delta response carries its pre-encoded body');
  return bytes;
};
const decoded = (r: DeltaDiscoveryResponse): ProtoObject => protos().decode('envoy.service.discovery.v3.DeltaDiscoveryResponse', wire(r));
const names = (r: DeltaDiscoveryResponse) => r.resources.map((x) => x.name).sort();

describe('AdsStream delta pushes', () => {
  it('shares one encoded response between streams holding the same versions; another held state gets its own diff', () => {
    const cache = new SnapshotCache();
    cache.set(world(BASE));
    const nonces = { n: 0 };
    const s1 = deltaStream(cache, 1, nonces);
    const s2 = deltaStream(cache, 2, nonces);
    const s3 = deltaStream(cache, 3, nonces);
    const oldB = cache.get(CDS).resources.get('b:80')!.hash;
    s1.subscribe(['a:80', 'b:80']);
    s2.subscribe(['a:80', 'b:80']);
    for (const s of [s1, s2]) s.ack(s.sent.at(-1)!);
    // s3 reconnects holding a:80 at a version it made up (stale) and b:80 current.
    s3.subscribe(['a:80', 'b:80'], { 'a:80': 'stale', 'b:80': oldB });
    assert.deepEqual(names(s3.sent.at(-1)!), ['a:80'], 'only the resource whose held version differs');
    s3.ack(s3.sent.at(-1)!);

    cache.set(world({ clusters: { 'a:80': 1, 'b:80': 2, 'c:80': 2 } }));
    const [p1, p2, p3] = [s1.sent.at(-1)!, s2.sent.at(-1)!, s3.sent.at(-1)!];
    assert.deepEqual(names(p1), ['b:80']);
    assert.ok(p1.encodedWithoutNonce !== undefined && p1.encodedWithoutNonce === p2.encodedWithoutNonce, 'the same body object: encoded once');
    assert.notEqual(p1.nonce, p2.nonce);
    // Byte-identical but for the nonce, and each decodes to the full response a plain encode gives.
    assert.deepEqual({ ...decoded(p1), nonce: '' }, { ...decoded(p2), nonce: '' });
    assert.deepEqual(decoded(p1), protos().decode('envoy.service.discovery.v3.DeltaDiscoveryResponse', protos().encode('envoy.service.discovery.v3.DeltaDiscoveryResponse', { ...p1, encodedWithoutNonce: undefined })));
    assert.equal(decoded(p2)['nonce'], p2.nonce);
    assert.deepEqual(names(p3), ['b:80'], 's3 now holds the same versions as the others');
    assert.equal(p3.encodedWithoutNonce, p1.encodedWithoutNonce, 'and so shares their body');

    // A stream that has not ACKed yet holds older versions when the next change comes: its diff is its own.
    s1.ack(p1);
    s3.ack(p3);
    cache.set(world({ clusters: { 'a:80': 3, 'b:80': 3, 'c:80': 2 } }));
    const q1 = s1.sent.at(-1)!;
    assert.deepEqual(names(q1), ['a:80', 'b:80']);
    assert.equal(s2.sent.at(-1), p2, 's2 still awaits its answer: nothing more is pushed to it');
    s2.ack(p2);
    const q2 = s2.sent.at(-1)!;
    assert.notEqual(q2, p2, 'the change held back is sent once the ACK comes');
    assert.deepEqual(names(q2), ['a:80', 'b:80']);
    assert.equal(q2.encodedWithoutNonce, q1.encodedWithoutNonce);
  });

  it('an ACK of the current version sends nothing; a removal and a re-subscribe are still answered', () => {
    const cache = new SnapshotCache();
    cache.set(world(BASE));
    const nonces = { n: 0 };
    const s = deltaStream(cache, 1, nonces);
    s.subscribe(['a:80', 'c:80']);
    const first = s.sent.at(-1)!;
    assert.deepEqual(names(first), ['a:80', 'c:80']);
    s.ack(first);
    s.ack(first); // a repeated (stale) answer
    s.stream.handleDeltaRequest({ type_url: CDS }); // a request with neither a nonce nor a subscription change
    assert.equal(s.sent.length, 1, 'nothing to send');
    cache.set(world({ clusters: { 'a:80': 1, 'b:80': 1 } }));
    const removal = s.sent.at(-1)!;
    assert.deepEqual(removal.resources, []);
    assert.deepEqual(removal.removed_resources, ['c:80']);
    s.ack(removal);
    assert.equal(s.sent.length, 2);
    s.subscribe(['a:80']); // subscribing again to a held name asks for it again
    assert.deepEqual(names(s.sent.at(-1)!), ['a:80']);
    const status = s.stream.status().types.find((x) => x.typeUrl === CDS);
    assert.equal(status?.ackedVersion, removal.system_version_info);
  });
});
