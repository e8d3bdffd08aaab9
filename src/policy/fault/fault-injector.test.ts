// Unit tests of the fault injector: percentages within a stated tolerance (seeded RNG), header gating, the active
// faults gauge, header-controlled faults, status mapping, and which config applies to a route.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FaultPolicy, Route, TargetRoutes, VirtualHost } from '../../discovery/mesh-state.js';
import { describeFault, effectiveFaults, FaultInjector, grpcStatusForHttp, httpStatusForGrpc, type ActiveFaults } from './index.js';
import { seededRandom as seeded } from '../../testing/seeded-random.js';


type Headers = Record<string, string>;
const get = (h: Headers, name: string): string | undefined => h[name];

function policy(p: Partial<FaultPolicy>): FaultPolicy {
  return { delay: undefined, abort: undefined, headers: [], maxActiveFaults: undefined, ...p };
}

describe('FaultInjector', () => {
  it('aborts about the configured share of calls (seeded; 50 % of 10000 within ±4 sd = ±200)', () => {
    const inj = new FaultInjector<Headers>(policy({ abort: { kind: 'http', httpStatus: 503, perMillion: 500_000 } }), get, {
      random: seeded(7),
      active: { count: 0 },
    });
    let aborted = 0;
    for (let i = 0; i < 10_000; i++) {
      const d = inj.decide({});
      if (d !== undefined) {
        assert.deepEqual(d, { delayMs: 0, abort: { httpStatus: 503, grpcStatus: 14 }, holdsSlot: false });
        aborted++;
      }
    }
    assert.ok(aborted > 4800 && aborted < 5200, `aborted ${aborted}/10000`);
  });

  it('draws delay and abort independently (10 % delay, 5 % abort → ~14.5 % faulted)', () => {
    const active = { count: 0 };
    const inj = new FaultInjector<Headers>(
      policy({ delay: { kind: 'fixed', delayMs: 200, perMillion: 100_000 }, abort: { kind: 'grpc', grpcStatus: 14, perMillion: 50_000 } }),
      get,
      { random: seeded(11), active },
    );
    let delayed = 0;
    let aborted = 0;
    let both = 0;
    for (let i = 0; i < 20_000; i++) {
      const d = inj.decide({});
      if (d === undefined) continue;
      if (d.delayMs > 0) {
        delayed++;
        assert.equal(d.delayMs, 200);
        assert.equal(d.holdsSlot, true);
        inj.release();
      }
      if (d.abort !== undefined) {
        aborted++;
        assert.deepEqual(d.abort, { httpStatus: 503, grpcStatus: 14 });
      }
      if (d.delayMs > 0 && d.abort !== undefined) both++;
    }
    // sd(10 % of 20000) ≈ 42, sd(5 %) ≈ 31, sd(0.5 %) ≈ 10: ±4 sd.
    assert.ok(Math.abs(delayed - 2000) < 170, `delayed ${delayed}`);
    assert.ok(Math.abs(aborted - 1000) < 125, `aborted ${aborted}`);
    assert.ok(both > 60 && both < 140, `both ${both}`);
    assert.equal(active.count, 0);
  });

  it('faults only calls whose headers match', () => {
    const inj = new FaultInjector<Headers>(
      policy({
        abort: { kind: 'http', httpStatus: 500, perMillion: 1_000_000 },
        headers: [{ name: 'x-chaos', match: { kind: 'exact', value: 'on', ignoreCase: false }, invert: false }],
      }),
      get,
      { active: { count: 0 }, random: () => 0.999 },
    );
    assert.equal(inj.decide({}), undefined);
    assert.equal(inj.decide({ 'x-chaos': 'off' }), undefined);
    assert.equal(inj.decide({ 'x-chaos': 'on' })?.abort?.httpStatus, 500);
  });

  it('stops faulting at maxActiveFaults until delays end', () => {
    const active: ActiveFaults = { count: 0 };
    const inj = new FaultInjector<Headers>(
      policy({ delay: { kind: 'fixed', delayMs: 50, perMillion: 1_000_000 }, abort: { kind: 'http', httpStatus: 503, perMillion: 1_000_000 }, maxActiveFaults: 2 }),
      get,
      { active },
    );
    const a = inj.decide({})!;
    const b = inj.decide({})!;
    assert.equal(a.delayMs, 50);
    assert.ok(b.abort !== undefined, 'its own slot does not block its abort');
    assert.equal(active.count, 2);
    assert.equal(inj.decide({}), undefined, 'a third call gets no fault');
    inj.release();
    assert.equal(inj.decide({})?.delayMs, 50);
    // maxActiveFaults: 0 means no faults at all.
    const none = new FaultInjector<Headers>(policy({ abort: { kind: 'http', httpStatus: 503, perMillion: 1_000_000 }, maxActiveFaults: 0 }), get, {
      active: { count: 0 },
    });
    assert.equal(none.decide({}), undefined);
  });

  it('takes header-controlled faults from x-envoy-fault-* headers, capped by the config', () => {
    const inj = new FaultInjector<Headers>(
      policy({ delay: { kind: 'header', perMillion: 500_000, unitPerMillion: 10_000 }, abort: { kind: 'header', perMillion: 1_000_000, unitPerMillion: 10_000 } }),
      get,
      { active: { count: 0 }, random: () => 0.6 },
    );
    assert.equal(inj.decide({}), undefined, 'no headers, no fault');
    // 0.6 ≥ 50 % cap: the delay header alone does not delay.
    assert.equal(inj.decide({ 'x-envoy-fault-delay-request': '30' }), undefined);
    assert.deepEqual(inj.decide({ 'x-envoy-fault-abort-request': '429' })?.abort, { httpStatus: 429, grpcStatus: 14 });
    assert.deepEqual(inj.decide({ 'x-envoy-fault-abort-grpc-request': '8' })?.abort, { httpStatus: 429, grpcStatus: 8 });
    assert.equal(inj.decide({ 'x-envoy-fault-abort-request': '503', 'x-envoy-fault-abort-request-percentage': '50' }), undefined);
  });

  it('describes a policy in one line (for explain)', () => {
    assert.equal(
      describeFault(
        policy({
          delay: { kind: 'fixed', delayMs: 200, perMillion: 125_000 },
          abort: { kind: 'grpc', grpcStatus: 14, perMillion: 500_000 },
          headers: [{ name: 'x-chaos', match: { kind: 'present' }, invert: false }],
          maxActiveFaults: 3,
        }),
      ),
      'delay 200 ms for 12.5% of calls; abort grpc-status 14 for 50% of calls (only calls with x-chaos) (at most 3 at once)',
    );
  });

  it('maps statuses as gRPC and Envoy do', () => {
    assert.deepEqual([400, 401, 403, 404, 429, 502, 503, 504, 500, 200].map(grpcStatusForHttp), [13, 16, 7, 12, 14, 14, 14, 14, 2, 2]);
    assert.deepEqual([0, 1, 2, 4, 8, 14, 16, 99].map(httpStatusForGrpc), [200, 499, 500, 504, 429, 503, 401, 500]);
  });
});

describe('effectiveFaults', () => {
  const filterLevel = policy({ abort: { kind: 'http', httpStatus: 500, perMillion: 1 } });
  const vhLevel = policy({ abort: { kind: 'http', httpStatus: 502, perMillion: 1 } });
  const routeLevel = policy({ abort: { kind: 'http', httpStatus: 503, perMillion: 1 } });
  const route = (overrides?: Map<string, FaultPolicy>): Route => ({
    name: 'r',
    path: { kind: 'prefix', value: '/', ignoreCase: false },
    headers: [],
    queryParams: [],
    action: { kind: 'direct', status: 200, body: '' },
    ...(overrides && { faultOverrides: overrides }),
  });
  const vh = (overrides?: Map<string, FaultPolicy>): VirtualHost => ({ name: 'v', domains: ['*'], routes: [], ...(overrides && { faultOverrides: overrides }) });
  const target = (policyOfFilter: FaultPolicy | undefined): TargetRoutes => ({
    listener: 'l',
    routeConfig: 'rc',
    virtualHosts: [],
    ...(policyOfFilter && { faultFilters: [{ name: 'envoy.filters.http.fault', policy: policyOfFilter }] }),
  });

  it('prefers the route override, then the virtual host, then the filter config', () => {
    const f = 'envoy.filters.http.fault';
    assert.deepEqual(effectiveFaults(target(filterLevel), vh(), route()), [filterLevel]);
    assert.deepEqual(effectiveFaults(target(filterLevel), vh(new Map([[f, vhLevel]])), route()), [vhLevel]);
    assert.deepEqual(effectiveFaults(target(filterLevel), vh(new Map([[f, vhLevel]])), route(new Map([[f, routeLevel]]))), [routeLevel]);
  });

  it('is empty without a fault filter in the HCM (overrides alone do nothing), or when the config injects nothing', () => {
    const f = 'envoy.filters.http.fault';
    assert.deepEqual(effectiveFaults(target(undefined), vh(), route(new Map([[f, routeLevel]]))), []);
    assert.deepEqual(effectiveFaults(target(policy({})), vh(), route()), []);
    assert.deepEqual(effectiveFaults(target(filterLevel), vh(), route(new Map([['other-name', routeLevel]]))), [filterLevel]);
  });
});
