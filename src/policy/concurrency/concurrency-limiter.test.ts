// Concurrency limits: a fixed limit admits and refuses exactly; an adaptive one shrinks when latency rises under load,
// grows back when it falls, stays within its bounds and learns nothing from an idle caller. Scripted samples, no sleeps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isMeshError } from '../../core/errors.js';
import { ConcurrencyLimiter, type ConcurrencyLimitPolicy } from './concurrency-limiter.js';

const adaptive = (over: Partial<Extract<ConcurrencyLimitPolicy, { kind: 'adaptive' }>> = {}): ConcurrencyLimitPolicy => ({
  kind: 'adaptive',
  scope: 'HTTPRoute/search/rules/0',
  percentile: 50,
  updateIntervalMs: 100,
  maxConcurrency: 1000,
  minRttIntervalMs: 60_000,
  minRttRequests: 50,
  minConcurrency: 3,
  bufferPercent: 25,
  jitterPercent: 10,
  ...over,
});

/** A fake monotonic clock. */
function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

/**
 * A closed-loop simulation: `clients` callers each send again as soon as their call ends; a call takes
 * `latencyOf(inFlight)` ms. Each round admits what the limiter allows, advances the clock by that latency and ends the
 * round's calls. Returns the limit after each round.
 */
function simulate(l: ConcurrencyLimiter, clock: { advance(ms: number): void }, rounds: number, clients: number, latencyOf: (inFlight: number) => number): number[] {
  const limits: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let admitted = 0;
    while (admitted < clients && l.tryAcquire()) admitted++;
    const latency = latencyOf(admitted);
    clock.advance(latency);
    for (let i = 0; i < admitted; i++) l.ended(undefined, true, true, latency);
    limits.push(l.limit);
  }
  return limits;
}

/** A server that serves 10 calls at once in 10 ms and shares itself among more (processor sharing). */
const tenAtOnce = (inFlight: number): number => 10 * Math.max(1, inFlight / 10);

describe('ConcurrencyLimiter', () => {
  it('fixed: admits up to the limit, refuses the next with a clear OVERLOADED error, admits again after a release', () => {
    const l = new ConcurrencyLimiter({ kind: 'fixed', scope: 'HTTPRoute/pay/rules/0', maxConcurrency: 2 });
    assert.equal(l.tryAcquire(), true);
    assert.equal(l.tryAcquire(), true);
    assert.equal(l.tryAcquire(), false);
    const err = l.overflowError('pay', 'HTTPRoute/pay/rules/0/matches/0');
    assert.ok(isMeshError(err, 'WEFT_ERR_OVERLOADED'));
    assert.equal(err.details['reason'], 'concurrency_limit');
    assert.equal(err.details['limit'], 2);
    assert.match(err.message, /2 calls in flight, its fixed concurrency limit \(HTTPRoute\/pay\/rules\/0\) of 2/);
    l.ended(undefined, true, true, 5);
    assert.equal(l.tryAcquire(), true);
    assert.deepEqual(l.snapshot(), { scope: 'HTTPRoute/pay/rules/0', kind: 'fixed', inFlight: 2, limit: 2, rejected: 1 });
  });

  it('fixed: a lower limit applies to new calls at once; calls in flight stay counted', () => {
    const l = new ConcurrencyLimiter({ kind: 'fixed', scope: 's', maxConcurrency: 5 });
    for (let i = 0; i < 4; i++) assert.ok(l.tryAcquire());
    l.configure({ kind: 'fixed', scope: 's', maxConcurrency: 2 });
    assert.equal(l.tryAcquire(), false, '4 in flight ≥ the new limit 2');
    for (let i = 0; i < 3; i++) l.ended(undefined, true, true);
    assert.equal(l.inFlight, 1);
    assert.equal(l.tryAcquire(), true);
  });

  it('adaptive: measures the no-load latency at minConcurrency first, then opens up', () => {
    const clock = fakeClock();
    const l = new ConcurrencyLimiter(adaptive(), clock.now);
    assert.equal(l.limit, 3);
    for (let i = 0; i < 3; i++) assert.ok(l.tryAcquire());
    assert.equal(l.tryAcquire(), false, 'only minConcurrency calls while measuring');
    assert.match(l.overflowError('search', 'r').message, /held low while the route's no-load latency is measured/);
    for (let i = 0; i < 3; i++) l.ended(undefined, true, true, 10);
    simulate(l, clock, 20, 3, () => 10);
    assert.equal(l.minRttMs, 10);
    assert.ok(l.limit >= 3);
  });

  it('adaptive: settles near what a saturated backend can serve (10 at once), far below the callers waiting', () => {
    const clock = fakeClock();
    const l = new ConcurrencyLimiter(adaptive(), clock.now);
    const limits = simulate(l, clock, 400, 100, tenAtOnce);
    const settled = limits.slice(-100);
    const max = Math.max(...settled);
    const min = Math.min(...settled);
    // gradient = 10 × 1.25 / (10 × L / 10) ⇒ L ≈ 12.5 + √12.5 ≈ 16 at equilibrium.
    assert.ok(min >= 10 && max <= 25, `limit should settle near 16, saw ${min}..${max}`);
  });

  it('adaptive: grows while the backend has room, and shrinks when latency quadruples under the same load', () => {
    const clock = fakeClock();
    const l = new ConcurrencyLimiter(adaptive({ maxConcurrency: 200 }), clock.now);
    simulate(l, clock, 200, 40, () => 10);
    assert.equal(l.limit, 200, 'latency at minRTT: the limit opens to its ceiling');
    const limits = simulate(l, clock, 30, 40, () => 40);
    assert.ok(Math.min(...limits) <= 10, `4× slower calls must cut the limit hard (saw ${limits.join(',')})`);
  });

  it('adaptive: measures minRTT again after minRttIntervalMs (with jitter), and learns the new normal', () => {
    const clock = fakeClock();
    const l = new ConcurrencyLimiter(adaptive({ minRttIntervalMs: 5_000, jitterPercent: 0, maxConcurrency: 100 }), clock.now);
    simulate(l, clock, 50, 20, () => 10);
    assert.equal(l.minRttMs, 10);
    simulate(l, clock, 400, 20, () => 30); // a slower backend release, not overload: 30 ms whatever the load
    assert.equal(l.minRttMs, 30, 'the next measurement takes 30 ms as the no-load latency');
    assert.ok(l.limit >= 20, `and the limit opens again (${l.limit})`);
  });

  it('adaptive: a caller\'s abort is no latency sample; an edit keeps the estimate within the new bounds', () => {
    const clock = fakeClock();
    const l = new ConcurrencyLimiter(adaptive(), clock.now);
    simulate(l, clock, 100, 30, () => 10);
    const before = l.limit;
    for (let i = 0; i < 50; i++) {
      while (l.tryAcquire());
      clock.advance(200);
      while (l.inFlight > 0) l.ended('other', true, false, 10_000);
    }
    assert.equal(l.limit, before);
    l.configure(adaptive({ maxConcurrency: 8 }));
    assert.equal(l.limit, 8);
    l.configure({ kind: 'fixed', scope: 's', maxConcurrency: 3 });
    assert.equal(l.limit, 3);
    l.configure(adaptive());
    assert.equal(l.limit, 3, 'from fixed to adaptive: measure minRTT first');
  });
});
