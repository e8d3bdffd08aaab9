// Tests the sliding-window retry budget's arithmetic with a fake clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RetryBudget } from './retry-budget.js';

describe('RetryBudget', () => {
  it('allows 20% of requests plus 10 per elapsed second, then refuses and counts', () => {
    let t = 0;
    const b = new RetryBudget({}, () => t);
    for (let i = 0; i < 100; i++) b.onRequest();
    let allowed = 0;
    for (let i = 0; i < 100; i++) if (b.tryRetry()) allowed++;
    assert.equal(allowed, 30, '20 from the ratio + 10 from the first second of floor');
    assert.deepEqual(b.stats(), { requests: 100, retries: 30, exhausted: 70 });
    t = 1_000; // one more second: the floor grows by 10
    let more = 0;
    for (let i = 0; i < 100; i++) if (b.tryRetry()) more++;
    assert.equal(more, 10);
  });
  it('forgets requests and retries older than the window', () => {
    let t = 0;
    const b = new RetryBudget({ percent: 50, minRetriesPerSecond: 0 }, () => t, 10_000);
    for (let i = 0; i < 10; i++) b.onRequest();
    for (let i = 0; i < 5; i++) assert.ok(b.tryRetry());
    assert.equal(b.tryRetry(), false);
    t = 10_500; // the first bucket has left the 10 s window
    assert.deepEqual({ requests: b.stats().requests, retries: b.stats().retries }, { requests: 0, retries: 0 });
    assert.equal(b.tryRetry(), false, 'no requests in the window, no floor: no retry');
    t = 100_000; // a long jump clears everything in O(window)
    b.onRequest();
    b.onRequest();
    assert.ok(b.tryRetry());
  });
  it('all failing: total attempts stay within 1.2 × requests + floor × seconds', () => {
    let t = 0;
    const b = new RetryBudget({}, () => t);
    let attempts = 0;
    let requests = 0;
    for (let ms = 0; ms < 5_000; ms += 10) {
      t = ms;
      for (let k = 0; k < 3; k++) {
        requests++;
        attempts++;
        b.onRequest();
        for (let r = 0; r < 3 && b.tryRetry(); r++) attempts++;
      }
    }
    assert.ok(attempts <= 1.2 * requests + 10 * 5, `${attempts} attempts for ${requests} requests`);
    assert.ok(attempts >= 1.2 * requests, 'the budget is used, not starved');
  });
  it('configure() swaps the policy and keeps the counts', () => {
    const b = new RetryBudget({}, () => 0);
    b.onRequest();
    b.configure({ percent: 100, minRetriesPerSecond: 0 });
    assert.ok(b.appliesPolicy({ percent: 100, minRetriesPerSecond: 0 }));
    assert.ok(b.tryRetry());
    assert.equal(b.tryRetry(), false);
  });
});
