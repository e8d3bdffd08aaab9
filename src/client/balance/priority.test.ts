// Tests priority failover and zone preference: the endpoints a picker is built over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClusterState } from '../../discovery/mesh-state.js';
import { ClusterPolicyRegistry } from '../cluster-policies.js';
import { mostPreferred } from './priority.js';

const e = (id: string, zone: string, priority = 0) => ({ id, zone, priority });

describe('mostPreferred', () => {
  it('keeps the best priority, and within it the preferred zone while it has an endpoint', () => {
    const items = [e('a1', 'a'), e('b1', 'b'), e('b2', 'b'), e('c1', 'a', 1)];
    assert.deepEqual(mostPreferred(items).map((x) => x.id), ['a1', 'b1', 'b2']);
    assert.deepEqual(mostPreferred(items, 'a').map((x) => x.id), ['a1']);
    assert.deepEqual(mostPreferred(items, 'b').map((x) => x.id), ['b1', 'b2']);
    assert.deepEqual(mostPreferred(items, 'z').map((x) => x.id), ['a1', 'b1', 'b2'], 'no endpoint in the zone: every zone');
    const localGone = items.filter((x) => x.id !== 'a1');
    assert.deepEqual(mostPreferred(localGone, 'a').map((x) => x.id), ['b1', 'b2'], 'the zone fails over within the priority first');
  });
});

describe('ClusterPolicies.preferZone', () => {
  const cluster = (n: number, minClusterSize?: number): ClusterState => ({
    name: 'c',
    edsServiceName: 'c',
    lbPolicy: 'round-robin',
    connectTimeoutMs: 1000,
    endpointsKnown: true,
    ...(minClusterSize !== undefined ? { zoneAware: { minClusterSize } } : {}),
    endpoints: Array.from({ length: n }, (_, i) => ({ address: '10.0.0.1', port: 1000 + i, weight: 1, locality: { region: '', zone: 'a', subZone: '' }, health: 'HEALTHY' as const })),
  });
  const prefer = (c: ClusterState, localZone?: string) =>
    new ClusterPolicyRegistry(localZone === undefined ? {} : { localZone }).forState({ generation: 1, targets: new Map(), clusters: new Map([['c', c]]) }).get('c')!.preferZone;

  it('is the caller zone for a zone-aware cluster with at least min_cluster_size endpoints, else none', () => {
    assert.equal(prefer(cluster(3, 1), 'a'), 'a');
    assert.equal(prefer(cluster(3, 6), 'a'), undefined, 'below Envoy min_cluster_size');
    assert.equal(prefer(cluster(3), 'a'), undefined, 'not zone-aware');
    assert.equal(prefer(cluster(3, 1)), undefined, 'the caller has no zone');
  });
});
