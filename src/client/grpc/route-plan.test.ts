// Tests the gRPC ConfigSelector compiled from MeshState routes: route match on method path and metadata, the weighted
// split, ring-hash keys, the deadline and A6 retry policy handed to grpc-js, the fault filter, and refusals.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { FaultPolicy, Route, TargetRoutes } from '../../discovery/mesh-state.js';
import { runWithDeadline, startDeadline } from '../../policy/deadline/index.js';
import { route } from '../http/test-kit.js';
import { compileGrpcTarget, methodConfigFor, PICK, type CallConfig } from './route-plan.js';

function routes(rs: Route[], faultFilters?: TargetRoutes['faultFilters']): TargetRoutes {
  return { listener: 'pay', routeConfig: 'pay', virtualHosts: [{ name: 'pay', domains: ['*'], routes: rs }], ...(faultFilters ? { faultFilters } : {}) };
}

const md = (pairs: Record<string, string> = {}): grpc.Metadata => {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(pairs)) m.set(k, v);
  return m;
};

/** A PRNG that returns the given values in turn. */
const script = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe('gRPC ConfigSelector (route-plan)', () => {
  const charge = route('GRPCRoute/p/rules/0/matches/0', {
    path: { kind: 'exact', value: '/pay.v1.Payments/Charge', ignoreCase: false },
    headers: [{ name: 'x-canary', match: { kind: 'exact', value: 'yes', ignoreCase: false }, invert: false }],
    clusters: ['canary'],
  });
  const split = route('GRPCRoute/p/rules/1/matches/0', {
    path: { kind: 'prefix', value: '/pay.v1.Payments/', ignoreCase: false },
    clusters: [
      { cluster: 'v1', weight: 80 },
      { cluster: 'v2', weight: 20 },
    ],
    timeoutMs: 1500,
  });

  it('matches the method path and metadata, then splits by weight with the injected random', () => {
    const plan = compileGrpcTarget('pay', routes([charge, split]), grpc, script(0.1, 0.85));
    const pick = (method: string, m = md()) => plan.configSelector.invoke(method, m, 0).pickInformation;
    assert.deepEqual(pick('/pay.v1.Payments/Charge', md({ 'x-canary': 'yes' })), { [PICK.cluster]: 'canary', [PICK.route]: charge.name });
    assert.equal(pick('/pay.v1.Payments/Charge')[PICK.cluster], 'v1', '0.1 × 100 < 80');
    assert.equal(pick('/pay.v1.Payments/Refund')[PICK.cluster], 'v2', '0.85 × 100 ≥ 80');
    assert.deepEqual([...plan.clusters].sort(), ['canary', 'v1', 'v2']);
  });

  it('hands grpc-js the route deadline, and the same frozen config for every call of a leg (no allocation per call)', () => {
    const plan = compileGrpcTarget('pay', routes([split]), grpc, () => 0);
    const a = plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0);
    const b = plan.configSelector.invoke('/pay.v1.Payments/Y', md(), 0);
    assert.equal(a, b);
    assert.deepEqual(a.methodConfig.timeout, { seconds: 1, nanos: 500_000_000 });
    assert.equal(a.methodConfig.retryPolicy, undefined, 'no retry policy: grpc-js retries only transparently');
    assert.deepEqual(methodConfigFor(undefined, undefined), { name: [] });
  });

  it('gives each call of a route with a retry policy its own pickInformation, where attempts record their endpoints', () => {
    const retry = { conditions: ['unavailable' as const], retriableStatusCodes: [], numRetries: 2, perTryTimeoutMs: undefined, baseIntervalMs: 25, maxIntervalMs: 250, retryNonIdempotent: false };
    const retried: Route = { ...split, action: { ...(split.action as Extract<Route['action'], { kind: 'forward' }>), retry } };
    const plan = compileGrpcTarget('pay', routes([retried]), grpc, () => 0);
    const a = plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0);
    const b = plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0);
    assert.notEqual(a.pickInformation, b.pickInformation, 'one object per call: grpc-js shares it between that call\'s attempts only');
    assert.equal(a.pickInformation[PICK.tried], '', 'nothing tried before the first pick');
    assert.equal(a.pickInformation[PICK.cluster], 'v1');
    assert.ok(a.methodConfig.retryPolicy !== undefined);
  });

  it('fails a call no route matches with WEFT_ERR_NO_ROUTE as UNIMPLEMENTED, via the picker', () => {
    const plan = compileGrpcTarget('pay', routes([charge]), grpc);
    const config: CallConfig = plan.configSelector.invoke('/other.Svc/Do', md(), 0);
    assert.equal(config.status, grpc.status.OK, 'grpc-js would replace our message if the selector failed the call itself');
    assert.equal(config.pickInformation[PICK.failCode], String(grpc.status.UNIMPLEMENTED));
    assert.match(config.pickInformation[PICK.failDetails]!, /^WEFT_ERR_NO_ROUTE: no route of pay matches \/other\.Svc\/Do/);
  });

  it('puts the ring-hash key of the route hash policy in pickInformation', () => {
    const hashed: Route = { ...split, action: { ...(split.action as Extract<Route['action'], { kind: 'forward' }>), hashPolicy: [{ kind: 'header', name: 'x-user', terminal: false }] } };
    const plan = compileGrpcTarget('pay', routes([hashed]), grpc, () => 0);
    const k1 = plan.configSelector.invoke('/pay.v1.Payments/X', md({ 'x-user': 'ann' }), 0).pickInformation[PICK.hash];
    const k2 = plan.configSelector.invoke('/pay.v1.Payments/Y', md({ 'x-user': 'ann' }), 0).pickInformation[PICK.hash];
    const k3 = plan.configSelector.invoke('/pay.v1.Payments/X', md({ 'x-user': 'bob' }), 0).pickInformation[PICK.hash];
    assert.ok(k1 !== undefined && k1 === k2, 'the same user hashes alike');
    assert.notEqual(k1, k3);
    assert.equal(plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0).pickInformation[PICK.hash], undefined, 'no header: no key');
  });

  it('adds the fault filter of the route: an abort rejects the call with the configured status before it is sent', async () => {
    const abort: FaultPolicy = { delay: undefined, abort: { kind: 'grpc', grpcStatus: 14, perMillion: 1_000_000 }, headers: [], maxActiveFaults: undefined };
    const plan = compileGrpcTarget('pay', routes([split], [{ name: 'envoy.filters.http.fault', policy: abort }]), grpc, () => 0);
    const config = plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0);
    assert.equal(config.dynamicFilterFactories.length, 1);
    const filter = config.dynamicFilterFactories[0]!.createFilter();
    await assert.rejects(filter.sendMetadata(Promise.resolve(md())), (s: grpc.StatusObject) => {
      assert.equal(s.code, 14);
      assert.match(s.details, /fault injected by route 'GRPCRoute\/p\/rules\/1\/matches\/0' of pay/);
      return true;
    });
    const none = compileGrpcTarget('pay', routes([split]), grpc, () => 0).configSelector.invoke('/pay.v1.Payments/X', md(), 0);
    assert.equal(none.dynamicFilterFactories.length, 0, 'no fault configured: no filter at all');
  });

  it('gives a call made inside a request with a deadline what is left of it, unless the route timeout is sooner', () => {
    const plan = compileGrpcTarget('pay', routes([split]), grpc, () => 0);
    const invoke = () => plan.configSelector.invoke('/pay.v1.Payments/X', md(), 0).methodConfig.timeout;
    const short = startDeadline(300);
    const long = startDeadline(60_000);
    try {
      const inherited = runWithDeadline(short, invoke)!;
      assert.ok(inherited.seconds === 0 && inherited.nanos > 250e6 && inherited.nanos <= 300e6, JSON.stringify(inherited));
      assert.deepEqual(runWithDeadline(long, invoke), { seconds: 1, nanos: 500_000_000 }, 'the 1.5 s route timeout is sooner');
      assert.deepEqual(invoke(), { seconds: 1, nanos: 500_000_000 }, 'outside a request: the route timeout');
    } finally {
      short.dispose();
      long.dispose();
    }
  });
});
