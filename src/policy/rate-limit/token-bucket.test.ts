// Tests the token bucket: full at start, whole-interval refills capped at maxTokens, and the wait it reports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('admits maxTokens at once, then refuses with the time to the next fill, and refills by whole intervals', () => {
    const b = new TokenBucket({ maxTokens: 3, tokensPerFill: 2, fillIntervalMs: 1000 }, 0);
    assert.deepEqual([b.take(0), b.take(0), b.take(0)], [0, 0, 0]);
    assert.equal(b.take(250), 750, 'refused: a token comes at 1000 ms');
    assert.equal(b.take(999), 1);
    assert.deepEqual([b.take(1000), b.take(1000)], [0, 0], 'one fill adds tokensPerFill');
    assert.equal(b.take(1500), 500);
    assert.equal(b.available(10_000), 3, 'never more than maxTokens');
    assert.deepEqual([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000) > 0], [0, 0, 0, true]);
  });

  it('refills nothing when the clock goes backwards', () => {
    const b = new TokenBucket({ maxTokens: 1, tokensPerFill: 1, fillIntervalMs: 100 }, 1000);
    assert.equal(b.take(1000), 0);
    assert.ok(b.take(500) > 0);
    assert.equal(b.take(1100), 0);
  });
});
