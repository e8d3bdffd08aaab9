// Tests the round-robin picker: order, weights (smooth interleaving), peek without advancing, position carry-over.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RoundRobinPicker } from './round-robin.js';

const ep = (id: string, weight = 1) => ({ id, weight });

describe('RoundRobinPicker', { timeout: 5_000 }, () => {
  it('cycles equal-weight endpoints in order and peek() does not advance', () => {
    const p = new RoundRobinPicker([ep('a'), ep('b'), ep('c')]);
    assert.equal(p.peek()?.id, 'a');
    assert.equal(p.peek()?.id, 'a');
    assert.deepEqual(Array.from({ length: 7 }, () => p.pick().id), ['a', 'b', 'c', 'a', 'b', 'c', 'a']);
    assert.equal(p.peek()?.id, 'b');
  });

  it('spreads weighted endpoints in proportion and interleaves them', () => {
    const p = new RoundRobinPicker([ep('a', 5), ep('b', 1), ep('c', 1)]);
    const seq = Array.from({ length: 7 }, () => p.pick().id);
    assert.equal(seq.filter((x) => x === 'a').length, 5);
    assert.equal(seq.filter((x) => x === 'b').length, 1);
    assert.notDeepEqual(seq.slice(0, 5), ['a', 'a', 'a', 'a', 'a'], 'smooth: the heavy endpoint is not bursted');
  });

  it('scales very large weights down and keeps the ratio', () => {
    const p = new RoundRobinPicker([ep('a', 1_000_000), ep('b', 3_000_000)]);
    const counts = { a: 0, b: 0 } as Record<string, number>;
    for (let i = 0; i < 4000; i++) counts[p.pick().id]!++;
    assert.equal(counts.a, 1000);
    assert.equal(counts.b, 3000);
  });

  it('starts where a predecessor stopped and handles the empty list', () => {
    const first = new RoundRobinPicker([ep('a'), ep('b'), ep('c')]);
    first.pick();
    first.pick();
    const next = new RoundRobinPicker(first.items, first.position);
    assert.equal(next.pick().id, 'c');
    const empty = new RoundRobinPicker<{ weight: number }>([]);
    assert.equal(empty.size, 0);
    assert.equal(empty.peek(), undefined);
  });
});
