// Circuit breaker and outlier detection on the compiled HTTP backend, against scripted endpoint pools and a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, isMeshError } from '../../core/errors.js';
import type { ClusterState, MeshState } from '../../discovery/mesh-state.js';
import { outlierPolicy } from '../../policy/outlier/index.js';
import { FakeOutlierClock } from '../../policy/outlier/outlier-test-kit.js';
import { ClusterPolicyRegistry } from '../cluster-policies.js';
import { compileBackends, type CompiledBackend } from './compile.js';
import { PoolRegistry } from './pools.js';
import { cluster } from './test-kit.js';

/** A scripted endpoint pool: answers each request with `status(origin)`, at once or when release() is called. */
class ScriptedPools {
  readonly seen: string[] = [];
  readonly held: (() => void)[] = [];
  hold = false;
  constructor(readonly status: (origin: string) => number) {}
  readonly getPool = (origin: string): Dispatcher =>
    ({
      closed: false,
      dispatch: (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean => {
        this.seen.push(origin);
        const controller = { aborted: false, paused: false, reason: null, abort() {}, pause() {}, resume() {} } as unknown as Dispatcher.DispatchController;
        handler.onRequestStart?.(controller, {});
        const answer = (): void => {
          handler.onResponseStart?.(controller, this.status(origin), {}, '');
          handler.onResponseEnd?.(controller, {});
        };
        if (this.hold) this.held.push(answer);
        else answer();
        void opts;
        return true;
      },
    }) as unknown as Dispatcher;
}

interface Result {
  status?: number;
  error?: Error;
}

function call(dispatch: (o: Dispatcher.DispatchOptions, h: Dispatcher.DispatchHandler) => boolean): Result {
  const r: Result = {};
  dispatch(
    { origin: 'http://svc', path: '/', method: 'GET' },
    {
      onRequestStart() {},
      onResponseStart(_c, status) {
        r.status = status;
      },
      onResponseData() {},
      onResponseEnd() {},
      onResponseError(_c, err) {
        r.error = err;
      },
    },
  );
  return r;
}

const state = (...clusters: ClusterState[]): MeshState => ({ generation: 1, targets: new Map(), clusters: new Map(clusters.map((c) => [c.name, c])) });

describe('compiled backend: circuit breaker', () => {
  it('fails calls past max_requests at once with WEFT_ERR_OVERLOADED, and admits again when load drops', () => {
    const pools = new ScriptedPools(() => 200);
    pools.hold = true;
    const c: ClusterState = { ...cluster('svc:80', [1001, 1002]), circuitBreaker: { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 2, maxRetries: 3 } };
    const backend = compileBackends(state(c), new Map(), pools.getPool, new ClusterPolicyRegistry()).get('svc:80')!;
    const dispatch = backend.dispatchFor('svc', 'r');
    const results = [call(dispatch), call(dispatch), call(dispatch), call(dispatch)];
    assert.equal(pools.seen.length, 2, 'only two calls reached an endpoint');
    for (const r of results.slice(2)) {
      assert.ok(isMeshError(r.error, ERROR_CODES.OVERLOADED), String(r.error));
      assert.equal((r.error as { details: Record<string, unknown> }).details['reason'], 'max_requests');
    }
    assert.equal(backend.breaker!.snapshot().activeRequests, 2);
    for (const answer of pools.held.splice(0)) answer();
    assert.deepEqual(results.slice(0, 2).map((r) => r.status), [200, 200]);
    assert.equal(backend.breaker!.snapshot().activeRequests, 0);
    pools.hold = false;
    assert.equal(call(dispatch).status, 200);
  });

  it('keeps its counters across a MeshState swap (calls in flight stay counted) and exposes retry slots', () => {
    const pools = new ScriptedPools(() => 200);
    pools.hold = true;
    const limits = { maxConnections: 1024, maxPendingRequests: 1024, maxRequests: 1, maxRetries: 1 };
    const c1: ClusterState = { ...cluster('svc:80', [1001]), circuitBreaker: limits };
    const reg = new ClusterPolicyRegistry();
    const first = compileBackends(state(c1), new Map(), pools.getPool, reg);
    call(first.get('svc:80')!.dispatchFor('svc', 'r'));
    const c2: ClusterState = { ...cluster('svc:80', [1001, 1002]), circuitBreaker: limits };
    const second = compileBackends(state(c2), first, pools.getPool, reg).get('svc:80')!;
    assert.equal(second.breaker, first.get('svc:80')!.breaker);
    assert.ok(isMeshError(call(second.dispatchFor('svc', 'r')).error, ERROR_CODES.OVERLOADED));
    assert.equal(second.breaker!.tryAcquireRetry(), true);
    assert.equal(second.breaker!.tryAcquireRetry(), false);
  });

  it('passes max_connections to each endpoint pool, and a PoolRegistry replaces a pool whose limit changed', async () => {
    const asked: [string, number | undefined][] = [];
    const pools = new ScriptedPools(() => 200);
    const getPool = (origin: string, maxConnections?: number): Dispatcher => {
      asked.push([origin, maxConnections]);
      return pools.getPool(origin);
    };
    const c: ClusterState = { ...cluster('svc:80', [1001]), circuitBreaker: { maxConnections: 3, maxPendingRequests: 9, maxRequests: 9, maxRetries: 3 } };
    call(compileBackends(state(c), new Map(), getPool, new ClusterPolicyRegistry()).get('svc:80')!.dispatchFor('svc', 'r'));
    assert.deepEqual(asked, [['http://127.0.0.1:1001', 3]]);

    const registry = new PoolRegistry({});
    const p3 = registry.get('http://127.0.0.1:1', 3);
    assert.equal(registry.get('http://127.0.0.1:1', 3), p3, 'same limit: same pool');
    const p4 = registry.get('http://127.0.0.1:1', 4);
    assert.notEqual(p4, p3, 'new limit: new pool');
    assert.equal(p3.closed, true, 'the old pool drains');
    await registry.close();
  });

  it('gives the slot back when the transport throws instead of failing the handler', () => {
    const throwing = (): Dispatcher => ({ closed: false, dispatch: () => { throw new Error('boom'); } }) as unknown as Dispatcher;
    const c: ClusterState = { ...cluster('svc:80', [1001]), circuitBreaker: { maxConnections: 9, maxPendingRequests: 9, maxRequests: 1, maxRetries: 1 } };
    const backend = compileBackends(state(c), new Map(), throwing, new ClusterPolicyRegistry()).get('svc:80')!;
    assert.equal(call(backend.dispatchFor('svc', 'r')).error?.message, 'boom');
    assert.equal(backend.breaker!.snapshot().activeRequests, 0);
  });

  it('costs nothing when the cluster has no thresholds: the endpoint dispatch is used as is', () => {
    const pools = new ScriptedPools(() => 200);
    const backend = compileBackends(state(cluster('svc:80', [1001])), new Map(), pools.getPool, new ClusterPolicyRegistry()).get('svc:80')!;
    assert.equal(backend.breaker, undefined);
    assert.equal(backend.outlier, undefined);
  });
});

describe('compiled backend: outlier detection', () => {
  const origin = (port: number) => `http://127.0.0.1:${port}`;

  function setup() {
    const clock = new FakeOutlierClock();
    const pools = new ScriptedPools((o) => (o === origin(1002) ? 503 : 200));
    const od = outlierPolicy({ intervalMs: 1_000, baseEjectionTimeMs: 5_000, maxEjectionPercent: 50 });
    const c: ClusterState = { ...cluster('svc:80', [1001, 1002, 1003]), outlierDetection: od };
    const reg = new ClusterPolicyRegistry({ clock, random: () => 0.5 });
    let backends: Map<string, CompiledBackend> = compileBackends(state(c), new Map(), pools.getPool, reg);
    return { clock, pools, od, c, get: () => backends.get('svc:80')!, swap: (next: ClusterState) => (backends = compileBackends(state(next), backends, pools.getPool, reg)) };
  }

  it('ejects an endpoint that answers 503 five times in a row, sends it nothing while ejected, and takes it back after the ejection time', () => {
    const { clock, pools, get } = setup();
    const dispatch = get().dispatchFor('svc', 'r');
    for (let i = 0; i < 15; i++) call(dispatch);
    assert.equal(pools.seen.filter((o) => o === origin(1002)).length, 5);
    assert.deepEqual(get().outlier!.ejections().map((e) => e.origin), [origin(1002)]);
    assert.equal(get().picker.size, 2);
    pools.seen.length = 0;
    for (let i = 0; i < 20; i++) assert.equal(call(dispatch).status, 200);
    assert.equal(pools.seen.includes(origin(1002)), false, 'no traffic to the ejected endpoint');
    clock.advance(5_000);
    assert.equal(get().picker.size, 3, 'back after base ejection time');
    pools.seen.length = 0;
    for (let i = 0; i < 3; i++) call(dispatch);
    assert.equal(pools.seen.includes(origin(1002)), true);
  });

  it('keeps ejections and counters across a MeshState swap for endpoints that stay', () => {
    const { pools, get, swap, od } = setup();
    const dispatch = get().dispatchFor('svc', 'r');
    for (let i = 0; i < 15; i++) call(dispatch);
    const detector = get().outlier;
    swap({ ...cluster('svc:80', [1001, 1002, 1003, 1004]), outlierDetection: od });
    assert.equal(get().outlier, detector, 'same detector');
    assert.equal(get().outlier!.isEjected(origin(1002)), true);
    assert.equal(get().picker.size, 3);
    pools.seen.length = 0;
    const next = get().dispatchFor('svc', 'r');
    for (let i = 0; i < 12; i++) call(next);
    assert.equal(pools.seen.includes(origin(1002)), false);
    assert.equal(pools.seen.includes(origin(1004)), true);
  });

  it('takes every endpoint back at once when outlier detection is removed from the cluster', () => {
    const { clock, get, swap } = setup();
    const dispatch = get().dispatchFor('svc', 'r');
    for (let i = 0; i < 15; i++) call(dispatch);
    assert.equal(get().picker.size, 2);
    swap(cluster('svc:80', [1001, 1002, 1003]));
    assert.equal(get().outlier, undefined);
    assert.equal(get().picker.size, 3);
    assert.equal(clock.timers, 0, 'the detector stopped its timer');
  });
});
