// Tests how compileBackends wires the balancers: the picker follows ClusterState.lb, loads carry across swaps, only
// load-aware policies track calls, and the most preferred EDS priority with an endpoint is used (failover).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Dispatcher } from 'undici';
import type { ClusterState, LoadBalancerPolicy, MeshState } from '../../discovery/mesh-state.js';
import { ClusterPolicyRegistry } from '../cluster-policies.js';
import { compileBackends } from './compile.js';
import { cluster } from './test-kit.js';

const state = (c: ClusterState): MeshState => ({ generation: 1, targets: new Map(), clusters: new Map([[c.name, c]]) });
const withLb = (c: ClusterState, lb: LoadBalancerPolicy): ClusterState => ({ ...c, lbPolicy: lb.kind, lb });
/** A pool stub that records dispatches and leaves them pending (handlers kept to finish them later). */
function pools() {
  const handlers: Dispatcher.DispatchHandler[] = [];
  const getPool = (_origin: string): Dispatcher =>
    ({ dispatch: (_o: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler) => (handlers.push(h), true), closed: false }) as unknown as Dispatcher;
  return { handlers, getPool };
}
const handler = { onHeaders: () => true, onData: () => true, onComplete: () => {}, onError: () => {} } as Dispatcher.DispatchHandler;

describe('compileBackends balancers', () => {
  it('builds the picker ClusterState.lb names (round robin without one)', () => {
    const base = cluster('svc:80', [1001, 1002, 1003]);
    for (const kind of ['round-robin', 'random', 'least-request', 'peak-ewma', 'ring-hash'] as const) {
      const lb: LoadBalancerPolicy =
        kind === 'least-request' ? { kind, choiceCount: 2 } : kind === 'peak-ewma' ? { kind, decayMs: 10_000 } : kind === 'ring-hash' ? { kind, minRingSize: 64, maxRingSize: 1024 } : { kind };
      assert.equal(compileBackends(state(withLb(base, lb)), new Map(), pools().getPool, new ClusterPolicyRegistry()).get('svc:80')!.picker.kind, kind);
    }
    assert.equal(compileBackends(state(base), new Map(), pools().getPool, new ClusterPolicyRegistry()).get('svc:80')!.picker.kind, 'round-robin');
  });

  it('least request counts calls in flight until they end, and the counts survive a new MeshState', () => {
    const p = pools();
    const c = withLb(cluster('svc:80', [1001, 1002]), { kind: 'least-request', choiceCount: 2 });
    const reg = new ClusterPolicyRegistry();
    const first = compileBackends(state(c), new Map(), p.getPool, reg);
    const dispatch = first.get('svc:80')!.dispatchFor('svc', 'r');
    for (let i = 0; i < 4; i++) dispatch({ path: '/', method: 'GET' }, handler);
    const loads = first.get('svc:80')!.loads;
    assert.deepEqual([...loads.values()].map((l) => l.inflight), [2, 2], 'P2C alternates between two idle endpoints');
    p.handlers[0]!.onComplete!(null);
    assert.equal([...loads.values()].reduce((a, l) => a + l.inflight, 0), 3);
    const second = compileBackends(state({ ...c, connectTimeoutMs: 1000 }), first, p.getPool, reg);
    assert.equal(second.get('svc:80')!.loads.get('http://127.0.0.1:1002'), loads.get('http://127.0.0.1:1002'));
    assert.equal(compileBackends(state(cluster('svc:80', [1001, 1002])), new Map(), p.getPool, new ClusterPolicyRegistry()).get('svc:80')!.loads.size, 0, 'round robin tracks nothing');
  });

  it('uses priority 0 while it has endpoints and fails over to priority 1 when it has none', () => {
    const both = cluster('svc:80', [1001, 1002]);
    const prioritized: ClusterState = { ...both, endpoints: [{ ...both.endpoints[0]!, priority: 1 }, both.endpoints[1]!] };
    const picker = compileBackends(state(prioritized), new Map(), pools().getPool, new ClusterPolicyRegistry()).get('svc:80')!.picker;
    assert.deepEqual(picker.items.map((e) => e.port), [1002]);
    const onlyLower: ClusterState = { ...both, endpoints: [{ ...both.endpoints[0]!, priority: 1 }] };
    assert.deepEqual(compileBackends(state(onlyLower), new Map(), pools().getPool, new ClusterPolicyRegistry()).get('svc:80')!.picker.items.map((e) => e.port), [1001]);
  });
});
