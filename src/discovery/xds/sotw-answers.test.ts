// Tests of SotwAnswers: which names a State-of-the-World response may delete by omission, and the does-not-exist clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SotwAnswers } from './sotw-answers.js';

describe('SotwAnswers', () => {
  it('the start-up race: the answer to [a] read after [a, x] was sent does not speak for x; the next answer does', () => {
    const answers = new SotwAnswers();
    answers.sent(['a'], 0);
    answers.sent(['a', 'x'], 0);
    answers.received('1');
    answers.carried(['a']);
    assert.deepEqual([...answers.answered()], ['a']);
    answers.received('1');
    assert.deepEqual([...answers.answered()].sort(), ['a', 'x']);
  });

  it('a name unsubscribed and subscribed again counts only from the request that subscribed it again (found by the fuzz)', () => {
    const answers = new SotwAnswers();
    answers.sent(['a', 'x'], 0);
    answers.received('1');
    answers.carried(['a', 'x']);
    answers.forget('x');
    answers.sent(['a'], 0);
    answers.sent(['a', 'x'], 0);
    answers.received('1'); // the answer to [a]: without x, and it must not delete it
    answers.carried(['a']);
    assert.deepEqual([...answers.answered()], ['a']);
    answers.received('1'); // the answer to [a, x]
    assert.deepEqual([...answers.answered()].sort(), ['a', 'x']);
  });

  it('a response at a new version (maybe a push) is matched to no request', () => {
    const answers = new SotwAnswers();
    answers.sent(['a'], 0);
    answers.received('1');
    answers.sent(['a', 'x'], 0);
    answers.received('2');
    assert.equal(answers.answered().has('x'), false);
    answers.received('2'); // the answer, at the version before it
    assert.ok(answers.answered().has('x'));
  });

  it('a name waits for the does-not-exist timeout, from when it was requested or the clock last restarted', () => {
    const answers = new SotwAnswers();
    answers.sent(['a', 'x'], 1_000);
    answers.received('1'); // the answer to [a, x] speaks for both: nothing waits
    assert.equal(answers.nextDeadlineMs(500), undefined);

    const silent = new SotwAnswers();
    silent.sent(['x'], 1_000);
    assert.equal(silent.nextDeadlineMs(500), 1_500);
    assert.deepEqual(silent.overdue(1_400, 500), []);
    silent.restartClock(1_400); // not connected meanwhile
    assert.deepEqual(silent.overdue(1_500, 500), []);
    assert.deepEqual(silent.overdue(1_900, 500), ['x']);
    assert.ok(silent.answered().has('x'));
    assert.equal(silent.nextDeadlineMs(500), undefined);
    silent.forget('x');
    assert.equal(silent.answered().has('x'), false);
  });
});
