// Tests the attempt observer wrapper: both undici handler forms report start, status and end once, and errors map to kinds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import { observeAttempt } from './observe-handler.js';
import { errorKind } from './undici-errors.js';

function recorder() {
  const events: string[] = [];
  return {
    events,
    observer: {
      started: () => void events.push('started'),
      responded: (s: number) => void events.push(`responded ${s}`),
      ended: (f: string | undefined, started: boolean, responded: boolean) => void events.push(`ended ${f ?? 'ok'} ${started} ${responded}`),
    },
  };
}

const withCode = (code: string): Error => Object.assign(new Error(code), { code });

describe('observeAttempt', () => {
  it('reports a legacy handler attempt (onConnect, onHeaders, onComplete) and forwards every callback', () => {
    const { events, observer } = recorder();
    const seen: string[] = [];
    const h = observeAttempt(
      {
        onConnect: () => void seen.push('connect'),
        onHeaders: (s: number) => (seen.push(`headers ${s}`), true),
        onData: () => true,
        onComplete: () => void seen.push('complete'),
        onError: () => void seen.push('error'),
      } as Dispatcher.DispatchHandler,
      observer,
    );
    h.onConnect?.(() => {});
    h.onHeaders?.(503, [], () => {}, '');
    h.onComplete?.([]);
    h.onError?.(new Error('late'));
    assert.deepEqual(events, ['started', 'responded 503', 'ended ok true true']);
    assert.deepEqual(seen, ['connect', 'headers 503', 'complete', 'error']);
  });

  it('reports a v7 handler that fails before it got a connection', () => {
    const { events, observer } = recorder();
    const h = observeAttempt({ onRequestStart() {}, onResponseError() {} } as Dispatcher.DispatchHandler, observer);
    h.onResponseError?.({} as Dispatcher.DispatchController, withCode('ECONNREFUSED'));
    assert.deepEqual(events, ['ended connect-failure false false']);
  });

  it('maps transport errors to kinds; caller aborts and mesh refusals are other', () => {
    assert.equal(errorKind(withCode('ECONNREFUSED')), 'connect-failure');
    assert.equal(errorKind(withCode('UND_ERR_CONNECT_TIMEOUT')), 'connect-failure');
    assert.equal(errorKind(withCode('ECONNRESET')), 'reset');
    assert.equal(errorKind(withCode('UND_ERR_SOCKET')), 'reset');
    assert.equal(errorKind(withCode('UND_ERR_HEADERS_TIMEOUT')), 'timeout');
    assert.equal(errorKind(new MeshError(ERROR_CODES.TIMEOUT, 'route timeout')), 'timeout');
    assert.equal(errorKind(new MeshError(ERROR_CODES.OVERLOADED, 'refused')), 'other');
    assert.equal(errorKind(withCode('UND_ERR_ABORTED')), 'other');
    assert.equal(errorKind(Object.assign(new Error('wrapped'), { cause: withCode('ECONNREFUSED') })), 'connect-failure');
  });
});
