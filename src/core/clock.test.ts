// Tests long timers: a wait past setTimeout's 2^31-1 ms limit is armed in steps and fires on time, on a fake clock
// that behaves as Node does (a longer delay runs after 1 ms), and on the real clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testing/fake-clock.js';
import { MAX_TIMER_MS, SYSTEM_CLOCK, withLongTimers, type TimerClock } from './clock.js';

const DAY_MS = 86_400_000;

/** A FakeClock whose setTimer treats a delay over MAX_TIMER_MS as Node's setTimeout does: it fires after 1 ms. */
function nodeLikeClock(): { clock: FakeClock; raw: TimerClock; armed: number[] } {
  const clock = new FakeClock(Date.UTC(2030, 0, 1));
  const armed: number[] = [];
  const raw: TimerClock = {
    nowMs: () => clock.nowMs(),
    setTimer: (fn, delayMs) => {
      armed.push(delayMs);
      return clock.setTimer(fn, delayMs > MAX_TIMER_MS ? 1 : delayMs);
    },
  };
  return { clock, raw, armed };
}

describe('withLongTimers', () => {
  it('fires a 60-day wait after 60 days, not after 1 ms, arming no step longer than setTimeout allows', () => {
    const { clock, raw, armed } = nodeLikeClock();
    let rawFired = 0;
    raw.setTimer(() => rawFired++, 60 * DAY_MS);
    clock.advance(1);
    assert.equal(rawFired, 1, 'the model is faithful: a plain 60-day setTimeout fires at once');

    const long = withLongTimers(raw);
    const startMs = clock.nowMs();
    const fired: number[] = [];
    long.setTimer(() => fired.push(clock.nowMs() - startMs), 60 * DAY_MS);
    clock.advance(59 * DAY_MS);
    assert.deepEqual(fired, []);
    clock.advance(DAY_MS);
    assert.deepEqual(fired, [60 * DAY_MS]);
    assert.ok(armed.slice(1).every((d) => d <= MAX_TIMER_MS), `steps ${armed.slice(1).join(', ')}`);
    assert.equal(clock.pending, 0, 'nothing left armed after it fired');
  });

  it('never fires after cancel(), in any step; short delays and Infinity behave', () => {
    const { clock, raw } = nodeLikeClock();
    const long = withLongTimers(raw);
    let fired = 0;
    const t = long.setTimer(() => fired++, 50 * DAY_MS);
    clock.advance(30 * DAY_MS); // past the first step
    t.cancel();
    clock.advance(30 * DAY_MS);
    assert.equal(fired, 0);
    long.setTimer(() => fired++, 10);
    clock.advance(10);
    assert.equal(fired, 1);
    long.setTimer(() => fired++, Infinity);
    clock.advance(400 * DAY_MS);
    assert.equal(fired, 1, 'Infinity never fires');
  });

  it('the real clock does not fire a 30-day timer early', async () => {
    let fired = false;
    const t = SYSTEM_CLOCK.setTimer(() => (fired = true), 30 * DAY_MS);
    await new Promise((r) => setTimeout(r, 30)); // a plain setTimeout of 30 days fires after 1 ms
    t.cancel();
    assert.equal(fired, false);
  });
});
