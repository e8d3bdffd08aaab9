// Tests the push debounce on a fake clock: an isolated change is rebuilt at once, a burst coalesces into one rebuild after the quiet period, constant churn
// is still rebuilt at the bound, and the rebuild carries the time of the first change it includes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMeshError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { DEFAULT_DEBOUNCE_MAX_MS, DEFAULT_DEBOUNCE_MS, PushDebouncer } from './push-debounce.js';

function setup(options: { debounceMs?: number; debounceMaxMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const runs: { atMs: number; firstChangeAtMs: number }[] = [];
  const d = new PushDebouncer((firstChangeAtMs) => runs.push({ atMs: clock.nowMs(), firstChangeAtMs }), { ...options, clock });
  return { clock, runs, d, t0: clock.nowMs() };
}

describe('PushDebouncer', () => {
  it('defaults to the next timer turn and a 1 s bound', () => {
    const d = new PushDebouncer(() => {});
    assert.equal(d.debounceMs, DEFAULT_DEBOUNCE_MS);
    assert.equal(DEFAULT_DEBOUNCE_MS, 0);
    assert.equal(d.debounceMaxMs, DEFAULT_DEBOUNCE_MAX_MS);
    assert.equal(DEFAULT_DEBOUNCE_MAX_MS, 1_000);
  });

  it('rebuilds an isolated change at once, and coalesces the burst behind it into one rebuild 100 ms after its last change', () => {
    const { clock, runs, d, t0 } = setup({ debounceMs: 100 });
    d.changed();
    d.changed(); // same turn: coalesced into the leading rebuild
    clock.advance(0);
    assert.deepEqual(runs, [{ atMs: t0, firstChangeAtMs: t0 }], 'a change after a quiet spell pays no delay');
    clock.advance(10);
    d.changed();
    clock.advance(40);
    d.changed();
    clock.advance(40);
    d.changed(); // last change at t0 + 90
    assert.equal(clock.pending, 1, 'one timer for the whole burst');
    clock.advance(99);
    assert.equal(runs.length, 1, 'still quiet-period: nothing yet');
    clock.advance(1);
    assert.deepEqual(runs[1], { atMs: t0 + 190, firstChangeAtMs: t0 + 10 });
    assert.equal(d.pending, false);
    clock.advance(5_000);
    assert.equal(runs.length, 2, 'no rebuild without a change');
    d.changed();
    clock.advance(0);
    assert.equal(runs.length, 3, 'after a quiet spell the next change is rebuilt at once again');
  });

  it('rebuilds at the bound under constant churn, then starts a new burst', () => {
    const { clock, runs, d, t0 } = setup({ debounceMs: 100, debounceMaxMs: 1_000 });
    for (let i = 0; i < 25; i++) {
      d.changed(); // a change every 50 ms never leaves a 100 ms quiet period
      clock.advance(50);
    }
    assert.deepEqual(runs.map((r) => r.atMs - t0), [0, 1_050], 'the leading change at once, the churn behind it at the bound');
    assert.equal(runs[1]!.firstChangeAtMs, t0 + 50);
    clock.advance(200);
    assert.equal(runs.length, 3, 'the changes after the bound make another burst');
    assert.equal(runs[2]!.firstChangeAtMs, t0 + 1_050, 'stamped with the first change after the previous rebuild');
  });

  it('with debounceMs 0 still defers to a timer, so synchronous bursts coalesce', () => {
    const { clock, runs, d } = setup({ debounceMs: 0, debounceMaxMs: 0 });
    d.changed();
    d.changed();
    d.changed();
    assert.equal(runs.length, 0, 'never synchronous');
    clock.advance(0);
    assert.equal(runs.length, 1);
  });

  it('never runs after close()', () => {
    const { clock, runs, d } = setup({ debounceMs: 100 });
    d.changed();
    d.close();
    d.changed();
    clock.advance(10_000);
    assert.deepEqual(runs, []);
    assert.equal(clock.pending, 0);
  });

  it('refuses negative or non-finite delays with a clear error, and raises a bound below the quiet period', () => {
    assert.throws(() => new PushDebouncer(() => {}, { debounceMs: -1 }), (e: unknown) => isMeshError(e, 'WEFT_ERR_INVALID_ARG') && /debounceMs must be a number of ms ≥ 0, got -1/.test((e as Error).message));
    assert.throws(() => new PushDebouncer(() => {}, { debounceMaxMs: Number.NaN }), /debounceMaxMs must be a number of ms ≥ 0, got NaN/);
    assert.equal(new PushDebouncer(() => {}, { debounceMs: 300, debounceMaxMs: 100 }).debounceMaxMs, 300);
  });
});
