// Unit tests of outlier detection with a fake clock: each ejection rule, ejection time growth, the cap, and returns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { outlierDetectorFor, outlierPolicy, OutlierDetector, type OutlierDetectionPolicy } from './index.js';
import { FakeOutlierClock } from './outlier-test-kit.js';

const ORIGINS = ['http://10.0.0.1:80', 'http://10.0.0.2:80', 'http://10.0.0.3:80'];
const [A, B, C] = ORIGINS as [string, string, string];

function setup(over: Partial<OutlierDetectionPolicy> = {}, origins: readonly string[] = ORIGINS) {
  const clock = new FakeOutlierClock();
  const policy = outlierPolicy({ intervalMs: 1_000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 50, ...over });
  const d = outlierDetectorFor({ name: 'c', outlierDetection: policy }, origins, undefined, { clock, random: () => 0.5 })!;
  let changes = 0;
  d.onChange(() => changes++);
  return { clock, d, changes: () => changes };
}

function respond(d: OutlierDetector, origin: string, status: number, times = 1): void {
  for (let i = 0; i < times; i++) {
    const h = d.health(origin);
    h.responded(status);
    h.ended(undefined, true, true);
  }
}

describe('OutlierDetector', () => {
  it('ejects after consecutive 5xx (default 5), and a success in between resets the count', () => {
    const { d, changes } = setup();
    respond(d, A, 500, 4);
    respond(d, A, 200);
    respond(d, A, 500, 4);
    assert.equal(d.isEjected(A), false);
    respond(d, A, 500);
    assert.equal(d.isEjected(A), true);
    assert.equal(d.ejections()[0]!.reason, 'consecutive-5xx');
    assert.equal(changes(), 1);
  });

  it('ejects after consecutive gateway errors when enforced (502/503/504 only)', () => {
    const { d } = setup({ consecutive5xx: undefined, consecutiveGatewayFailure: { threshold: 3, enforcingPercent: 100 } });
    respond(d, A, 503, 2);
    respond(d, A, 500); // a 5xx that is not a gateway error resets the gateway count
    respond(d, A, 502, 2);
    assert.equal(d.isEjected(A), false);
    respond(d, A, 504);
    assert.equal(d.isEjected(A), true);
    assert.equal(d.ejections()[0]!.reason, 'consecutive-gateway-failure');
  });

  it('does not eject when the enforcing percentage says no (Envoy: gateway failures are enforced 0 % by default)', () => {
    const { d } = setup({ consecutive5xx: undefined, consecutiveGatewayFailure: { threshold: 2, enforcingPercent: 40 } });
    respond(d, A, 503, 10); // random() = 0.5 → 50 ≥ 40: not enforced
    assert.equal(d.isEjected(A), false);
  });

  it('counts connect failures as 5xx unless local-origin errors are split, then ejects on consecutive local-origin failures', () => {
    const merged = setup().d;
    for (let i = 0; i < 5; i++) merged.health(A).ended('connect-failure', false, false);
    assert.equal(merged.isEjected(A), true);
    assert.equal(merged.ejections()[0]!.reason, 'consecutive-5xx');

    const split = setup({ splitExternalLocalOriginErrors: true, consecutiveLocalOriginFailure: { threshold: 3, enforcingPercent: 100 } }).d;
    split.health(B).ended('reset', true, false);
    split.health(B).ended('timeout', true, false);
    respond(split, B, 200); // a response proves the connection: resets the local-origin count
    for (let i = 0; i < 2; i++) split.health(B).ended('connect-failure', false, false);
    assert.equal(split.isEjected(B), false);
    split.health(B).ended('connect-failure', false, false);
    assert.equal(split.isEjected(B), true);
    assert.equal(split.ejections()[0]!.reason, 'consecutive-local-origin-failure');
    // Caller aborts and failures after the response never count.
    for (let i = 0; i < 10; i++) split.health(C).ended('other', true, false);
    for (let i = 0; i < 10; i++) split.health(C).ended('reset', true, true);
    assert.equal(split.isEjected(C), false);
  });

  it('returns an ejected endpoint at the first sweep after base ejection time, and ejects longer on a repeat', () => {
    const { clock, d, changes } = setup();
    respond(d, A, 503, 5);
    assert.equal(d.ejections()[0]!.durationMs, 10_000);
    clock.advance(9_999);
    assert.equal(d.isEjected(A), true);
    clock.advance(1); // sweep at 10 000
    assert.equal(d.isEjected(A), false);
    assert.equal(changes(), 2);
    respond(d, A, 503, 5); // again, soon after returning
    assert.equal(d.ejections()[0]!.durationMs, 20_000, 'base × 2');
    clock.advance(19_999);
    assert.equal(d.isEjected(A), true);
    clock.advance(1);
    assert.equal(d.isEjected(A), false);
    // Healthy for long enough: the multiplier shrinks one step per base ejection time, so the next ejection is short again.
    clock.advance(20_000);
    respond(d, A, 503, 5);
    assert.equal(d.ejections()[0]!.durationMs, 10_000);
  });

  it('caps ejection time at max ejection time', () => {
    const { clock, d } = setup({ maxEjectionTimeMs: 25_000 });
    for (let i = 0; i < 4; i++) {
      respond(d, A, 503, 5);
      clock.advance(d.ejections()[0]!.durationMs);
    }
    respond(d, A, 503, 5);
    assert.equal(d.ejections()[0]!.durationMs, 25_000);
  });

  it('never ejects more than max ejection percent (but at least one), and never the last endpoint', () => {
    const five = ['1', '2', '3', '4', '5'].map((x) => `http://10.0.1.${x}:80`);
    const { d } = setup({ maxEjectionPercent: 40 }, five);
    for (const o of five) respond(d, o, 503, 5);
    assert.equal(d.ejections().length, 2, '40 % of 5');
    const low = setup({ maxEjectionPercent: 10 }).d; // 10 % of 3 = 0.3 → still one
    for (const o of ORIGINS) respond(low, o, 503, 5);
    assert.equal(low.ejections().length, 1);
    const single = setup({ maxEjectionPercent: 100 }, [A]).d;
    respond(single, A, 503, 50);
    assert.equal(single.isEjected(A), false, 'the only endpoint stays');
  });

  it('ejects by success rate below mean − 1.9 × stdev among hosts with enough requests', () => {
    const five = ['1', '2', '3', '4', '5'].map((x) => `http://10.0.2.${x}:80`);
    const { clock, d } = setup(
      { consecutive5xx: undefined, successRate: { minimumHosts: 5, requestVolume: 100, stdevFactor: 1.9, enforcingPercent: 100 } },
      five,
    );
    // Four hosts at 99 % success, one at 60 %: mean 0.912, stdev 0.156, threshold 0.616 → only the 60 % host.
    for (const o of five.slice(0, 4)) {
      respond(d, o, 200, 99);
      respond(d, o, 500, 1);
    }
    respond(d, five[4]!, 200, 60);
    respond(d, five[4]!, 500, 40);
    clock.advance(1_000);
    assert.deepEqual(d.ejections().map((e) => [e.origin, e.reason]), [[five[4], 'success-rate']]);
    // Counts reset each interval: a host below the volume is not judged.
    respond(d, five[3]!, 500, 99);
    clock.advance(1_000);
    assert.equal(d.isEjected(five[3]!), false);
  });

  it('ejects by failure percentage at or above the threshold', () => {
    const { clock, d } = setup({
      consecutive5xx: undefined,
      failurePercentage: { threshold: 50, minimumHosts: 3, requestVolume: 10, enforcingPercent: 100 },
    });
    respond(d, A, 200, 10);
    respond(d, B, 200, 10);
    respond(d, C, 200, 5);
    respond(d, C, 500, 5); // 50 %
    clock.advance(1_000);
    assert.deepEqual(d.ejections().map((e) => [e.origin, e.reason]), [[C, 'failure-percentage']]);
  });

  it('keeps the state of endpoints that stay across a configuration change and forgets those that leave', () => {
    const { clock, d } = setup({ maxEjectionPercent: 100 });
    respond(d, A, 503, 5);
    respond(d, B, 503, 4);
    const policy2 = outlierPolicy({ intervalMs: 1_000, baseEjectionTimeMs: 10_000, maxEjectionPercent: 100 });
    const same = outlierDetectorFor({ name: 'c', outlierDetection: policy2 }, [A, B, 'http://10.0.0.4:80'], d);
    assert.equal(same, d);
    assert.equal(d.isEjected(A), true, 'ejection kept');
    respond(d, B, 503); // fifth consecutive across the swap
    assert.equal(d.isEjected(B), true);
    outlierDetectorFor({ name: 'c', outlierDetection: policy2 }, [B, C], d);
    assert.equal(d.isEjected(A), false, 'A left: forgotten');
    respond(d, A, 200);
    clock.advance(1_000);
    // Outlier detection removed: the detector stops.
    assert.equal(outlierDetectorFor({ name: 'c' }, [B, C], d), undefined);
    assert.equal(clock.timers, 0);
  });
});
