// Unit tests of the HTTP fault layer against a scripted next and a fake clock: local aborts (HTTP and gRPC), delay
// then forward, a delay counted against the route timeout, no layer without a fault, and the wiring in compileTarget.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Dispatcher } from 'undici';
import { isMeshError, ERROR_CODES } from '../../core/errors.js';
import type { FaultPolicy, TargetRoutes } from '../../discovery/mesh-state.js';
import type { DispatchFn } from '../stack.js';
import { compileTarget } from './compile.js';
import { faultLayer, withFaults } from './fault-layer.js';

interface Outcome {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: string;
  error?: Error;
  done: boolean;
}

/** A v7 dispatch handler that records what it is told. */
function recorder(): { handler: Dispatcher.DispatchHandler; out: Outcome } {
  const out: Outcome = { body: '', done: false };
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart() {},
    onResponseStart(_c, status, headers) {
      out.status = status;
      out.headers = headers;
    },
    onResponseData(_c, chunk) {
      out.body += chunk.toString();
    },
    onResponseEnd() {
      out.done = true;
    },
    onResponseError(_c, err) {
      out.error = err;
      out.done = true;
    },
  };
  return { handler, out };
}

/** A scripted next: records each call and answers 200 'from backend' at once (v7 or legacy handler). */
function scriptedNext(): { next: DispatchFn; calls: Dispatcher.DispatchOptions[] } {
  const calls: Dispatcher.DispatchOptions[] = [];
  const next: DispatchFn = (opts, handler) => {
    calls.push(opts);
    if (typeof handler.onRequestStart !== 'function') {
      handler.onConnect?.(() => {});
      handler.onHeaders?.(200, [], () => {}, '');
      handler.onData?.(Buffer.from('from backend'));
      handler.onComplete?.([]);
      return true;
    }
    const c = { abort() {}, pause() {}, resume() {}, aborted: false, paused: false, reason: null } as unknown as Dispatcher.DispatchController;
    handler.onRequestStart?.(c, {});
    handler.onResponseStart?.(c, 200, {}, '');
    handler.onResponseData?.(c, Buffer.from('from backend'));
    handler.onResponseEnd?.(c, {});
    return true;
  };
  return { next, calls };
}

const flush = () => new Promise<void>((r) => setImmediate(r));
const opts = (headers: Record<string, string> = {}): Dispatcher.DispatchOptions => ({ origin: 'http://svc', path: '/x', method: 'GET', headers });
const where = { authority: 'svc', route: 'HTTPRoute/r/rules/0/matches/0', timeoutMs: undefined, active: { count: 0 } };

function policy(p: Partial<FaultPolicy>): FaultPolicy {
  return { delay: undefined, abort: undefined, headers: [], maxActiveFaults: undefined, ...p };
}

describe('HTTP fault layer', () => {
  it('answers an aborted call locally with the status, x-mesh-error and body; nothing is forwarded', async () => {
    const { next, calls } = scriptedNext();
    const dispatch = faultLayer(policy({ abort: { kind: 'http', httpStatus: 503, perMillion: 1_000_000 } }), where)(next);
    const { handler, out } = recorder();
    assert.equal(dispatch(opts(), handler), true);
    await flush();
    assert.equal(out.status, 503);
    assert.equal(out.headers?.['x-mesh-error'], 'fault-injected');
    assert.equal(out.body, 'fault filter abort');
    assert.equal(calls.length, 0);
  });

  it('answers a gRPC call with a trailers-only grpc-status (http_status mapped, or grpc_status as configured)', async () => {
    const { next } = scriptedNext();
    for (const [abort, want] of [
      [{ kind: 'http', httpStatus: 503, perMillion: 1_000_000 }, '14'],
      [{ kind: 'grpc', grpcStatus: 4, perMillion: 1_000_000 }, '4'],
    ] as const) {
      const dispatch = faultLayer(policy({ abort }), where)(next);
      const { handler, out } = recorder();
      dispatch(opts({ 'content-type': 'application/grpc+proto' }), handler);
      await flush();
      assert.equal(out.status, 200);
      assert.equal(out.headers?.['grpc-status'], want);
      assert.equal(out.headers?.['content-type'], 'application/grpc');
      assert.equal(out.body, '');
    }
    // A grpc_status abort of a plain HTTP call gets the matching HTTP status.
    const { handler, out } = recorder();
    faultLayer(policy({ abort: { kind: 'grpc', grpcStatus: 14, perMillion: 1_000_000 } }), where)(next)(opts(), handler);
    await flush();
    assert.equal(out.status, 503);
  });

  it('passes calls that draw no fault straight to next', () => {
    const { next, calls } = scriptedNext();
    const dispatch = faultLayer(policy({ abort: { kind: 'http', httpStatus: 503, perMillion: 0 } }), where)(next);
    const { handler, out } = recorder();
    dispatch(opts(), handler);
    assert.equal(calls.length, 1);
    assert.equal(out.status, 200);
    assert.equal(withFaults([], where, next), next, 'no policy: no layer at all');
  });

  describe('with a fake clock', () => {
    beforeEach(() => mock.timers.enable({ apis: ['setTimeout'] }));
    afterEach(() => mock.timers.reset());

    it('delays, then forwards, releasing the active-faults slot', () => {
      const active = { count: 0 };
      const { next, calls } = scriptedNext();
      const dispatch = faultLayer(policy({ delay: { kind: 'fixed', delayMs: 200, perMillion: 1_000_000 } }), { ...where, active })(next);
      const { handler, out } = recorder();
      dispatch(opts(), handler);
      mock.timers.tick(199);
      assert.equal(calls.length, 0);
      assert.equal(active.count, 1);
      mock.timers.tick(1);
      assert.equal(calls.length, 1);
      assert.equal(out.status, 200);
      assert.equal(active.count, 0);
    });

    it('delays, then aborts when both are drawn', async () => {
      const { next, calls } = scriptedNext();
      const dispatch = faultLayer(
        policy({ delay: { kind: 'fixed', delayMs: 100, perMillion: 1_000_000 }, abort: { kind: 'http', httpStatus: 500, perMillion: 1_000_000 } }),
        where,
      )(next);
      const { handler, out } = recorder();
      dispatch(opts(), handler);
      mock.timers.tick(100);
      await flush();
      assert.equal(out.status, 500);
      assert.equal(calls.length, 0);
    });

    it('lets the caller cancel during the delay: timer cleared, slot freed, nothing sent', () => {
      const active = { count: 0 };
      const { next, calls } = scriptedNext();
      const dispatch = faultLayer(policy({ delay: { kind: 'fixed', delayMs: 1000, perMillion: 1_000_000 } }), { ...where, active })(next);
      let controller: Dispatcher.DispatchController | undefined;
      const { handler, out } = recorder();
      handler.onRequestStart = (c) => void (controller = c);
      dispatch(opts(), handler);
      assert.ok(controller, 'the caller has its controller during the delay');
      assert.equal(active.count, 1);
      controller.abort(new Error('caller gave up'));
      assert.equal(out.error?.message, 'caller gave up');
      assert.equal(active.count, 0);
      mock.timers.tick(2000);
      assert.equal(calls.length, 0);
    });

    it('works with legacy (onConnect) handlers: delay then forward, and abort during the delay', () => {
      const { next, calls } = scriptedNext();
      const dispatch = faultLayer(policy({ delay: { kind: 'fixed', delayMs: 100, perMillion: 1_000_000 } }), where)(next);
      const events: string[] = [];
      let abort: ((err?: Error) => void) | undefined;
      const legacy = (): Dispatcher.DispatchHandler => ({
        onConnect: (a) => {
          events.push('connect');
          abort = a;
        },
        onHeaders: (status) => (events.push(`headers ${status}`), true),
        onData: () => true,
        onComplete: () => void events.push('complete'),
        onError: (e) => void events.push(`error ${e.message}`),
      });
      dispatch(opts(), legacy());
      assert.deepEqual(events, ['connect']);
      mock.timers.tick(100);
      assert.equal(calls.length, 1);
      assert.deepEqual(events, ['connect', 'headers 200', 'complete'], 'onConnect is not repeated');
      events.length = 0;
      dispatch(opts(), legacy());
      abort!(new Error('stop'));
      mock.timers.tick(1000);
      assert.deepEqual(events, ['connect', 'error stop']);
      assert.equal(calls.length, 1);
    });

    it('counts the delay against the route timeout: a longer delay times out without sending, and clears its timer', () => {
      const active = { count: 0 };
      const { next, calls } = scriptedNext();
      const dispatch = faultLayer(policy({ delay: { kind: 'fixed', delayMs: 500, perMillion: 1_000_000 } }), { ...where, timeoutMs: 300, active })(next);
      const { handler, out } = recorder();
      dispatch(opts(), handler);
      mock.timers.tick(300);
      assert.ok(isMeshError(out.error, ERROR_CODES.TIMEOUT), String(out.error));
      assert.match(out.error!.message, /300 ms timeout .* 500 ms fault delay counts against it/);
      assert.equal(active.count, 0);
      mock.timers.tick(1000);
      assert.equal(calls.length, 0, 'never sent');
    });
  });
});

describe('compileTarget wiring', () => {
  it('applies the route override of the HCM fault filter, and only on that route', async () => {
    const abort = policy({ abort: { kind: 'http', httpStatus: 418, perMillion: 1_000_000 } });
    const routes: TargetRoutes = {
      listener: 'svc',
      routeConfig: 'svc',
      faultFilters: [{ name: 'envoy.filters.http.fault', policy: policy({}) }],
      virtualHosts: [
        {
          name: 'svc',
          domains: ['*'],
          routes: [
            {
              name: 'faulty',
              path: { kind: 'prefix', value: '/faulty', ignoreCase: false },
              headers: [],
              queryParams: [],
              action: { kind: 'direct', status: 200, body: 'ok' },
              faultOverrides: new Map([['envoy.filters.http.fault', abort]]),
            },
            { name: 'plain', path: { kind: 'prefix', value: '/', ignoreCase: false }, headers: [], queryParams: [], action: { kind: 'direct', status: 200, body: 'ok' } },
          ],
        },
      ],
    };
    const target = compileTarget('svc', routes, new Map(), Math.random);
    const a = recorder();
    target.dispatch({ ...opts(), path: '/faulty/1' }, a.handler);
    const b = recorder();
    target.dispatch({ ...opts(), path: '/other' }, b.handler);
    await flush();
    assert.equal(a.out.status, 418);
    assert.equal(b.out.status, 200);
    assert.equal(b.out.body, 'ok');
  });
});
