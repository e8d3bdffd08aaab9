// Tests the typed accessors of a configuration: answers in the set's order, computed once per frozen MeshConfig and
// scanned afresh for a list that may still change.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ConfigResource } from '../model.js';
import { createMeshConfig, httpRoutes, routes, serviceNamed, services } from './mesh-config.js';

const resource = (kind: string, name: string): ConfigResource => ({ apiVersion: 'v1', kind, metadata: { name }, spec: {}, source: 'test' });

describe('config accessors', () => {
  it('answer a MeshConfig once (the same frozen array every call), each config its own', () => {
    const a = createMeshConfig([resource('Service', 'b'), resource('HTTPRoute', 'r'), resource('Service', 'a'), resource('GRPCRoute', 'g')], 1);
    const first = services(a);
    assert.deepEqual(first.map((r) => r.metadata.name), ['a', 'b']);
    assert.equal(services(a), first, 'not scanned again');
    assert.ok(Object.isFrozen(first));
    assert.deepEqual(routes(a).map((r) => `${r.kind}/${r.metadata.name}`), ['GRPCRoute/g', 'HTTPRoute/r']);
    assert.deepEqual(httpRoutes(a).map((r) => r.metadata.name), ['r']);
    assert.equal(serviceNamed(a, 'b'), first[1]);
    assert.equal(serviceNamed(a, 'r'), undefined, 'a route of that name is not a Service');
    const b = createMeshConfig([resource('Service', 'c')], 2);
    assert.deepEqual(services(b).map((r) => r.metadata.name), ['c']);
    assert.equal(services(a), first);
  });

  it('scan a list that is not frozen on every call, so a change to it is seen', () => {
    const list: ConfigResource[] = [resource('Service', 'a')];
    assert.equal(services(list).length, 1);
    list.push(resource('Service', 'b'));
    assert.deepEqual(services(list).map((r) => r.metadata.name), ['a', 'b']);
    assert.equal(serviceNamed(list, 'b'), list[1]);
  });
});
