// Tests the reconnect backoff: doubling up to the cap, ±20 % jitter, and reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Backoff } from './backoff.js';

test('delays double up to the cap and start over after reset', () => {
  const b = new Backoff(100, 500, () => 0.5); // 0.5 = no jitter
  assert.deepEqual([b.next(), b.next(), b.next(), b.next(), b.next()], [100, 200, 400, 500, 500]);
  b.reset();
  assert.equal(b.next(), 100);
});

test('each delay is jittered within ±20 %', () => {
  assert.equal(new Backoff(1000, 5000, () => 0).next(), 800);
  assert.equal(new Backoff(1000, 5000, () => 0.999999).next(), 1200);
});
