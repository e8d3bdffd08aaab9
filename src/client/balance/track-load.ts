// Lets least-request and peak-EWMA see each call to an endpoint start and end: in-flight +1 at dispatch, −1 and a
// latency sample (time to response headers) when it ends. Only used when such a policy is on.
import type { Dispatcher } from 'undici';
import type { AttemptObserver } from '../../policy/attempt-observer.js';
import { observeAttempt } from '../http/observe-handler.js';
import type { EndpointLoad } from './picker.js';

type DispatchFn = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;

/**
 * Wraps an endpoint's dispatch so every call through it updates `load` (in flight, latency EWMA with `decayMs`), through
 * the one attempt-observing handler (observe-handler.ts): one handler object per call, no other allocation. A failed
 * call counts as the time it took, at least the current estimate, so an endpoint that fails fast does not look fast.
 * `next` must not throw (DispatchFn's contract).
 */
export function trackLoad(next: DispatchFn, load: EndpointLoad, decayMs: number, nowMs: () => number): DispatchFn {
  const observer: AttemptObserver = {
    clock: nowMs,
    ended(failure, _started, _responded, latencyMs = 0) {
      load.inflight--;
      load.observe(failure !== undefined ? Math.max(latencyMs, load.ewmaMs) : latencyMs, nowMs(), decayMs);
    },
  };
  return (opts, handler) => {
    load.inflight++;
    return next(opts, observeAttempt(handler, observer));
  };
}
