// Tests MeshState compilation: chain resolution, weighted clusters, last-good retention, sharing and domain matching.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EMPTY_MESH_STATE, type MeshState, type VirtualHost } from '../mesh-state.js';
import { xdsResource as x, type FakeResource } from '../../testing/fake-control-plane.js';
import { compileMeshState, requiredResourceNames } from './compile.js';
import { protos, TYPE_URL, type ResourceTypeUrl } from './protos.js';
import { ResourceCache } from './resource-cache.js';
import { findVirtualHost } from './virtual-host.js';

/** Applies `resources` (grouped by type, as one response each) to `cache`, as if all were subscribed. */
function apply(cache: ResourceCache, resources: FakeResource[], version = '1'): string[] {
  const errors: string[] = [];
  const byType = new Map<string, FakeResource[]>();
  for (const r of resources) byType.set(r['@type'], [...(byType.get(r['@type']) ?? []), r]);
  for (const [typeUrl, list] of byType) {
    const names = new Set(list.map((r) => String(r['name'] ?? r['cluster_name'])));
    errors.push(...cache.apply(typeUrl as ResourceTypeUrl, version, list.map((r) => protos().toAny(r)), names, new Set()).errors);
  }
  return errors;
}
const compile = (cache: ResourceCache, previous: MeshState = EMPTY_MESH_STATE, targets = ['payments']) =>
  compileMeshState({ targets, resources: cache }, previous);

const chain = (clusters: Record<string, number>, timeoutMs?: number): FakeResource[] => [
  x.listener('payments'),
  x.routeConfig('payments', [x.route('/', clusters, timeoutMs)]),
  ...Object.keys(clusters).map((c) => x.cluster(c)),
  ...Object.keys(clusters).map((c, i) => x.clusterLoadAssignment(c, [`10.0.0.${i + 1}:8080`])),
];

test('a full chain resolves with weighted clusters, timeout and endpoints', () => {
  const cache = new ResourceCache();
  assert.deepEqual(apply(cache, chain({ 'payments:8080': 90, 'payments-canary:8080': 10 }, 1500)), []);
  const state = compile(cache);
  assert.equal(state.generation, 1);
  const target = state.targets.get('payments');
  assert.ok(target?.status === 'resolved');
  assert.equal(target.routes.listener, 'payments');
  assert.equal(target.routes.routeConfig, 'payments');
  const action = target.routes.virtualHosts[0]!.routes[0]!.action;
  assert.deepEqual(action, {
    kind: 'forward',
    clusters: [{ cluster: 'payments:8080', weight: 90 }, { cluster: 'payments-canary:8080', weight: 10 }],
    totalWeight: 100,
    timeoutMs: 1500,
  });
  assert.deepEqual([...state.clusters.keys()], ['payments:8080', 'payments-canary:8080']);
  const cluster = state.clusters.get('payments-canary:8080')!;
  assert.equal(cluster.endpointsKnown, true);
  assert.deepEqual(cluster.endpoints.map((e) => `${e.address}:${e.port}`), ['10.0.0.2:8080']);
  assert.ok(Object.isFrozen(state) && Object.isFrozen(target) && Object.isFrozen(cluster));
});

test('a target is pending until every cluster and its endpoints are in', () => {
  const cache = new ResourceCache();
  const [listener, rc, cluster, cla] = chain({ c: 1 });
  apply(cache, [listener!, rc!]);
  assert.deepEqual(compile(cache).targets.get('payments'), { status: 'pending' });
  apply(cache, [cluster!]);
  assert.deepEqual(compile(cache).targets.get('payments'), { status: 'pending' });
  apply(cache, [cla!]);
  assert.equal(compile(cache).targets.get('payments')?.status, 'resolved');
});

test('unchanged inputs return the same state; a changed CLA shares every untouched object', () => {
  const cache = new ResourceCache();
  apply(cache, chain({ a: 1, b: 1 }));
  const first = compile(cache);
  assert.equal(compile(cache, first), first, 'nothing changed: no new state');
  apply(cache, chain({ a: 1, b: 1 }), '2'); // the same bytes again, as after a reconnect
  assert.equal(compile(cache, first), first, 'identical resources keep their identity');
  apply(cache, [x.clusterLoadAssignment('b', ['10.0.0.9:8080'])], '3');
  const second = compile(cache, first);
  assert.equal(second.generation, 2);
  assert.equal(second.targets.get('payments'), first.targets.get('payments'));
  assert.equal(second.clusters.get('a'), first.clusters.get('a'));
  assert.notEqual(second.clusters.get('b'), first.clusters.get('b'));
  assert.equal(second.clusters.get('b')!.endpoints[0]!.address, '10.0.0.9');
});

test('a resolved target keeps its last good routes while the new chain is incomplete', () => {
  const cache = new ResourceCache();
  apply(cache, chain({ old: 1 }));
  const first = compile(cache);
  apply(cache, [x.routeConfig('payments', [x.route('/', { new: 1 })])], '2');
  const second = compile(cache, first);
  assert.equal(second.targets.get('payments'), first.targets.get('payments'), 'old routes kept while cluster "new" is pending');
  assert.ok(second.clusters.has('old'));
  const required = requiredResourceNames({ targets: ['payments'], resources: cache }, second);
  assert.deepEqual([...required.get(TYPE_URL.cluster)!].sort(), ['new', 'old'], 'old cluster stays subscribed while still served');
  apply(cache, [x.cluster('new'), x.clusterLoadAssignment('new', ['10.1.1.1:80'])], '3');
  const third = compile(cache, second);
  assert.deepEqual([...third.clusters.keys()], ['new']);
  const after = requiredResourceNames({ targets: ['payments'], resources: cache }, third);
  assert.deepEqual([...after.get(TYPE_URL.cluster)!], ['new'], 'old cluster released once the new routes are served');
  assert.deepEqual([...after.get(TYPE_URL.clusterLoadAssignment)!], ['new']);
});

test('absent listeners, refused listeners with no last good, and absent clusters', () => {
  const cache = new ResourceCache();
  cache.apply(TYPE_URL.listener, '1', [], new Set(['ghost']), new Set(['ghost']));
  assert.deepEqual(compile(cache, EMPTY_MESH_STATE, ['ghost']).targets.get('ghost'), { status: 'absent' });

  const bad = { ...x.listener('broken'), api_listener: undefined } as unknown as FakeResource;
  assert.equal(apply(cache, [bad]).length, 1);
  const broken = compile(cache, EMPTY_MESH_STATE, ['broken']).targets.get('broken');
  assert.equal(broken?.status, 'error');
  assert.match(broken?.status === 'error' ? broken.message : '', /Listener refused: resource 'broken': api_listener: not set/);

  apply(cache, [x.listener('payments'), x.routeConfig('payments', [x.route('/', { gone: 1 })])]);
  cache.apply(TYPE_URL.cluster, '1', [], new Set(['gone']), new Set(['gone']));
  const state = compile(cache);
  assert.equal(state.targets.get('payments')?.status, 'resolved');
  assert.deepEqual(state.clusters.get('gone'), {
    name: 'gone', edsServiceName: 'gone', lbPolicy: 'round-robin', connectTimeoutMs: 5000, endpoints: [], endpointsKnown: true,
  });
});

test('a deleted listener makes a resolved target absent (deletion is not kept as last good)', () => {
  const cache = new ResourceCache();
  apply(cache, chain({ c: 1 }));
  const first = compile(cache);
  cache.apply(TYPE_URL.listener, '2', [], new Set(['payments']), new Set(['payments']));
  const second = compile(cache, first);
  assert.deepEqual(second.targets.get('payments'), { status: 'absent' });
  assert.equal(second.clusters.size, 0);
});

test('virtual host selection: exact, then longest suffix, then longest prefix, then any', () => {
  const vh = (name: string, ...domains: string[]): VirtualHost => ({ name, domains, routes: [] });
  const hosts = [vh('any', '*'), vh('prefix', 'pay*'), vh('suffix', '*.svc'), vh('long-suffix', '*.mesh.svc'), vh('exact', 'payments:8080')];
  assert.equal(findVirtualHost(hosts, 'PAYMENTS:8080')?.name, 'exact');
  assert.equal(findVirtualHost(hosts, 'payments.mesh.svc')?.name, 'long-suffix');
  assert.equal(findVirtualHost(hosts, 'payments.other.svc')?.name, 'suffix');
  assert.equal(findVirtualHost(hosts, 'payments')?.name, 'prefix');
  assert.equal(findVirtualHost(hosts, 'orders')?.name, 'any');
  assert.equal(findVirtualHost([vh('only', 'a.b')], 'c.d'), undefined);
  assert.equal(findVirtualHost([vh('first', '*'), vh('second', '*')], 'x')?.name, 'first', 'ties go to the earlier host');
});
