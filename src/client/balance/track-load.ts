// Wraps an undici dispatch handler so least-request and peak-EWMA see each call to an endpoint start and end: in-flight
// +1 at dispatch, −1 and a latency sample (time to response headers) when it ends. Only used when such a policy is on.
import type { Dispatcher } from 'undici';
import type { EndpointLoad } from './picker.js';

type DispatchHandler = Dispatcher.DispatchHandler;
type DispatchFn = (opts: Dispatcher.DispatchOptions, handler: DispatchHandler) => boolean;
type Headers = import('node:http').IncomingHttpHeaders;

/** Shared state of one tracked endpoint: its load, the clock and the EWMA decay. */
interface Tracked {
  readonly load: EndpointLoad;
  readonly nowMs: () => number;
  readonly decayMs: number;
}

/**
 * Ends a call once: in-flight −1, and the latency to the first response byte as an EWMA sample (a failure counts as
 * the time it took, at least the current estimate, so an endpoint that fails fast does not look fast).
 */
function finish(t: Tracked, startMs: number, responded: number, failed: boolean): void {
  const load = t.load;
  load.inflight--;
  const now = t.nowMs();
  const latency = (responded >= 0 ? responded : now) - startMs;
  load.observe(failed ? Math.max(latency, load.ewmaMs) : latency, now, t.decayMs);
}

class LegacyTrackedHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #t: Tracked;
  readonly #startMs: number;
  #respondedMs = -1;
  #ended = false;

  constructor(inner: DispatchHandler, t: Tracked, startMs: number) {
    this.#inner = inner;
    this.#t = t;
    this.#startMs = startMs;
  }
  #end(failed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    finish(this.#t, this.#startMs, this.#respondedMs, failed);
  }
  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    (this.#inner.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, context);
  }
  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#respondedMs < 0 && statusCode >= 200) this.#respondedMs = this.#t.nowMs();
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }
  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }
  onComplete(trailers: string[] | null): void {
    this.#end(false);
    this.#inner.onComplete?.(trailers);
  }
  onError(err: Error): void {
    this.#end(true);
    this.#inner.onError?.(err);
  }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.#end(false);
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }
}

class TrackedHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #t: Tracked;
  readonly #startMs: number;
  #respondedMs = -1;
  #ended = false;

  constructor(inner: DispatchHandler, t: Tracked, startMs: number) {
    this.#inner = inner;
    this.#t = t;
    this.#startMs = startMs;
  }
  #end(failed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    finish(this.#t, this.#startMs, this.#respondedMs, failed);
  }
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    this.#end(false);
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (this.#respondedMs < 0 && statusCode >= 200) this.#respondedMs = this.#t.nowMs();
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers): void {
    this.#end(false);
    this.#inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.#end(true);
    this.#inner.onResponseError?.(controller, err);
  }
}

/**
 * Wraps an endpoint's dispatch so every call through it updates `load` (in flight, latency EWMA with `decayMs`).
 * One handler object per call; no other allocation. `next` must not throw (DispatchFn's contract).
 */
export function trackLoad(next: DispatchFn, load: EndpointLoad, decayMs: number, nowMs: () => number): DispatchFn {
  const t: Tracked = { load, nowMs, decayMs };
  return (opts, handler) => {
    const start = nowMs();
    load.inflight++;
    const wrapped = typeof handler.onRequestStart === 'function' ? new TrackedHandler(handler, t, start) : new LegacyTrackedHandler(handler, t, start);
    return next(opts, wrapped);
  };
}
