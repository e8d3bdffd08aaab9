// Tests the push debounce on a fake clock: an isolated change is rebuilt at once, a debounced burst coalesces into one
// run after the quiet period, constant churn is still run at the bound, urgent changes never wait behind a burst, and
// each run carries the time of the first change it includes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMeshError } from '../../../src/core/errors.js';
import { FakeClock } from '../../../src/testing/fake-clock.js';
import { DEFAULT_DEBOUNCE_MAX_MS, DEFAULT_DEBOUNCE_MS, PushDebouncer } from './push-debounce.js';

function setup(options: { debounceMs?: number; debounceMaxMs?: number } = {}) {
  const clock = new FakeClock(1_000_000);
  const runs: { atMs: number; firstChangeAtMs: number; debounced: boolean; urgent: boolean }[] = [];
  const d = new PushDebouncer((batch) => runs.push({ atMs: clock.nowMs(), ...batch }), { ...options, clock });
  return { clock, runs, d, t0: clock.nowMs() };
}

describe('PushDebouncer', () => {
  it("defaults to Istio's 100 ms quiet period and a 1 s bound", () => {
    const d = new PushDebouncer(() => {});
    assert.equal(d.debounceMs, DEFAULT_DEBOUNCE_MS);
    assert.equal(DEFAULT_DEBOUNCE_MS, 100);
    assert.equal(d.debounceMaxMs, DEFAULT_DEBOUNCE_MAX_MS);
    assert.equal(DEFAULT_DEBOUNCE_MAX_MS, 1_000);
  });

  it('rebuilds an isolated change at once, and coalesces the burst behind it into one rebuild 100 ms after its last change', () => {
    const { clock, runs, d, t0 } = setup();
    d.changed();
    d.changed(); // same turn: coalesced into the leading rebuild
    clock.advance(0);
    assert.deepEqual(runs, [{ atMs: t0, firstChangeAtMs: t0, debounced: true, urgent: false }], 'a change after a quiet spell pays no delay');
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
    assert.deepEqual(runs[1], { atMs: t0 + 190, firstChangeAtMs: t0 + 10, debounced: true, urgent: false });
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

  it('runs an urgent change on the next turn during a burst, alone, and leaves the burst its own deadline', () => {
    const { clock, runs, d, t0 } = setup();
    d.changed();
    clock.advance(0); // the leading edge
    clock.advance(10);
    d.changed(); // a burst starts at t0 + 10: due at t0 + 110 if nothing follows
    clock.advance(20);
    d.changed({ urgent: true }); // an endpoint change at t0 + 30
    d.changed({ urgent: true }); // same turn: coalesced
    clock.advance(0);
    assert.deepEqual(runs[1], { atMs: t0 + 30, firstChangeAtMs: t0 + 30, debounced: false, urgent: true }, 'the endpoint change did not wait for the burst');
    clock.advance(40);
    d.changed(); // the burst goes on: last change at t0 + 70
    clock.advance(99);
    assert.equal(runs.length, 2, 'the burst is still in its quiet period');
    clock.advance(1);
    assert.deepEqual(runs[2], { atMs: t0 + 170, firstChangeAtMs: t0 + 10, debounced: true, urgent: false }, 'the burst coalesced into one run, stamped with its own first change');
    assert.equal(clock.pending, 0);
  });

  it('runs urgent changes under constant config churn every turn, and the churn still at its bound', () => {
    const { clock, runs, d, t0 } = setup({ debounceMs: 100, debounceMaxMs: 1_000 });
    d.changed();
    clock.advance(0);
    for (let i = 1; i <= 30; i++) {
      clock.advance(50);
      d.changed(); // config every 50 ms: never quiet
      if (i % 4 === 0) {
        d.changed({ urgent: true }); // an endpoint change every 200 ms
        const at = clock.nowMs();
        clock.advance(0);
        assert.deepEqual(runs.at(-1), { atMs: at, firstChangeAtMs: at, debounced: false, urgent: true }, `endpoint change ${i / 4} ran in its own turn`);
      }
    }
    const debouncedRuns = runs.filter((r) => r.debounced).map((r) => r.atMs - t0);
    assert.deepEqual(debouncedRuns, [0, 1_050], 'the urgent runs neither flushed nor postponed the burst: it ran at its bound');
    assert.equal(runs.filter((r) => r.urgent).length, 7);
  });

  it('includes a burst that fell due before a late urgent timer fired in the same run, stamped with the earlier change', () => {
    // A clock whose timers fire only when the test says, at whatever time it is then (an event loop running late).
    let nowMs = 0;
    const timers: (() => void)[] = [];
    const runs: { atMs: number; firstChangeAtMs: number; debounced: boolean; urgent: boolean }[] = [];
    const clock = { nowMs: () => nowMs, setTimer: (fn: () => void) => (timers.push(fn), { cancel: () => void timers.splice(timers.indexOf(fn), 1) }) };
    const d = new PushDebouncer((batch) => runs.push({ atMs: nowMs, ...batch }), { clock });
    d.changed();
    timers.shift()!(); // the leading edge at 0
    nowMs = 20;
    d.changed(); // a burst due at 120
    nowMs = 110;
    d.changed({ urgent: true });
    assert.equal(timers.length, 1, 'the urgent change re-armed the one timer earlier');
    nowMs = 130; // the timer fires late, past the burst's deadline
    timers.shift()!();
    assert.deepEqual(runs.slice(1), [{ atMs: 130, firstChangeAtMs: 20, debounced: true, urgent: true }], 'one run for both');
    assert.equal(timers.length, 0);
  });

  it('an urgent change does not start a quiet period: a config edit after it is still a leading edge', () => {
    const { clock, runs, d, t0 } = setup();
    d.changed({ urgent: true });
    clock.advance(0);
    clock.advance(5);
    d.changed();
    clock.advance(0);
    assert.deepEqual(runs.map((r) => [r.atMs - t0, r.debounced, r.urgent]), [[0, false, true], [5, true, false]]);
  });

  it('with debounceMs 0 still defers to a timer, so synchronous bursts coalesce', () => {
    const { clock, runs, d } = setup({ debounceMs: 0, debounceMaxMs: 0 });
    d.changed();
    d.changed({ urgent: true });
    d.changed();
    assert.equal(runs.length, 0, 'never synchronous');
    clock.advance(0);
    assert.equal(runs.length, 1);
    assert.equal(runs[0]!.debounced && runs[0]!.urgent, true);
  });

  it('keeps a waiting burst armed when run throws', () => {
    const clock = new FakeClock(0);
    const runs: boolean[] = [];
    const d = new PushDebouncer(
      (batch) => {
        runs.push(batch.debounced);
        if (!batch.debounced) throw new Error('boom');
      },
      { clock },
    );
    d.changed();
    clock.advance(0);
    clock.advance(10);
    d.changed();
    d.changed({ urgent: true });
    assert.throws(() => clock.advance(0), /boom/);
    clock.advance(100);
    assert.deepEqual(runs, [true, false, true], 'the burst still ran at its deadline');
  });

  it('never runs after close()', () => {
    const { clock, runs, d } = setup({ debounceMs: 100 });
    d.changed();
    d.changed({ urgent: true });
    d.close();
    d.changed();
    d.changed({ urgent: true });
    clock.advance(10_000);
    assert.deepEqual(runs, []);
    assert.equal(clock.pending, 0);
    assert.equal(d.pending, false);
  });

  it('refuses negative or non-finite delays with a clear error, and raises a bound below the quiet period', () => {
    assert.throws(() => new PushDebouncer(() => {}, { debounceMs: -1 }), (e: unknown) => isMeshError(e, 'WEFT_ERR_INVALID_ARG') && /debounceMs must be a number of ms ≥ 0, got -1/.test((e as Error).message));
    assert.throws(() => new PushDebouncer(() => {}, { debounceMaxMs: Number.NaN }), /debounceMaxMs must be a number of ms ≥ 0, got NaN/);
    assert.equal(new PushDebouncer(() => {}, { debounceMs: 300, debounceMaxMs: 100 }).debounceMaxMs, 300);
  });
});
