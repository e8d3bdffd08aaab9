// Delivers mesh outcomes to undici dispatch handlers of either API generation (legacy onError/onConnect, v7 onResponse*).
import type { Dispatcher } from 'undici';
import type { MeshError } from '../../core/errors.js';
import { asLegacyHandler, type LegacyHandler } from './legacy-handler.js';

/** An undici dispatch handler (legacy or v7 form). */
export type DispatchHandler = Dispatcher.DispatchHandler;

/** A controller for handlers that never reach a connection: aborting it is a no-op. */
class DetachedController implements Dispatcher.DispatchController {
  #aborted = false;
  #reason: Error | null = null;
  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return false;
  }
  get reason(): Error | null {
    return this.#reason;
  }
  abort(reason: Error): void {
    this.#aborted = true;
    this.#reason = reason;
  }
  pause(): void {}
  resume(): void {}
}

/**
 * Fails a request that never reached a connection, as undici's own dispatchers do: `onResponseError` for v7
 * handlers, `onError` for legacy ones. Swallows errors thrown by the handler so nothing reaches the caller of
 * dispatch(). Returns false (the dispatch() "not accepted" value).
 */
export function failHandler(handler: DispatchHandler, err: MeshError | Error): false {
  try {
    if (typeof handler.onResponseError === 'function' && typeof handler.onRequestStart === 'function') {
      handler.onResponseError(new DetachedController(), err);
    } else if (typeof handler.onError === 'function') {
      handler.onError(err);
    } else if (typeof handler.onResponseError === 'function') {
      handler.onResponseError(new DetachedController(), err);
    }
  } catch {
    // The handler belongs to the caller; an exception from it must not escape dispatch() (never crash the process).
  }
  return false;
}

/**
 * Answers a request locally (an Envoy `direct_response` route) with `status` and a text `body`, on a microtask.
 * Respects an abort issued from onConnect/onRequestStart. `headers` (lower-case names) are added to, or replace,
 * the default `content-type: text/plain` and `content-length`.
 */
export function respondDirect(handler: DispatchHandler, status: number, body: string, headers?: Readonly<Record<string, string>>): true {
  queueMicrotask(() => {
    const payload = Buffer.from(body);
    try {
      const all: Record<string, string> = { 'content-length': String(payload.length), 'content-type': 'text/plain', ...headers };
      if (typeof handler.onRequestStart === 'function') {
        const c = new DetachedController();
        handler.onRequestStart(c, {});
        if (c.aborted) return void handler.onResponseError?.(c, c.reason ?? new Error('aborted'));
        handler.onResponseStart?.(c, status, all, '');
        if (payload.length > 0) handler.onResponseData?.(c, payload);
        handler.onResponseEnd?.(c, {});
        return;
      }
      let abortReason: Error | undefined;
      handler.onConnect?.((err?: Error) => {
        abortReason = err ?? new Error('aborted');
      });
      if (abortReason !== undefined) return void handler.onError?.(abortReason);
      const raw: Buffer[] = [];
      for (const name in all) raw.push(Buffer.from(name), Buffer.from(all[name]!));
      handler.onHeaders?.(status, raw, () => {}, '');
      if (payload.length > 0) handler.onData?.(payload);
      handler.onComplete?.([]);
    } catch {
      // See failHandler: handler exceptions are the caller's and stay there.
    }
  });
  return true;
}

/**
 * A handler with a route timeout, over the caller's handler in legacy form (asLegacyHandler: v7 handlers through one
 * adapter, so there is one timeout class, not a twin per handler API). If the timer fires before a connection is
 * assigned the caller gets the error at once and the later connection is aborted; after that, the in-flight request
 * is aborted with the error. One instance and one timer per request, only where a timeout applies without a retry
 * layer (fault delays, routes to a cluster not known yet).
 */
class TimeoutHandler implements LegacyHandler {
  readonly #inner: LegacyHandler;
  readonly #error: () => MeshError;
  #abort: ((err?: Error) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  #timedOut: MeshError | undefined;

  constructor(inner: LegacyHandler, timeoutMs: number, error: () => MeshError) {
    this.#inner = inner;
    this.#error = error;
    this.#timer = setTimeout(onTimeout, timeoutMs, this);
    this.#timer.unref?.();
  }

  /** Called by the timer. */
  fire(): void {
    this.#timer = undefined;
    if (this.#done) return;
    const err = this.#error();
    this.#timedOut = err;
    if (this.#abort !== undefined) {
      this.#abort(err);
    } else {
      this.#done = true;
      failHandler(this.#inner as unknown as DispatchHandler, err);
    }
  }

  #finish(): void {
    this.#done = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    this.#abort = abort;
    if (this.#timedOut !== undefined) return abort(this.#timedOut);
    this.#inner.onConnect(abort, context);
  }
  onResponseStarted(): void {
    if (!this.#done) this.#inner.onResponseStarted?.();
  }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#done) return true;
    return this.#inner.onHeaders(statusCode, headers, resume, statusText);
  }
  onData(chunk: Buffer): boolean {
    if (this.#done) return true;
    return this.#inner.onData(chunk);
  }
  onComplete(trailers: Buffer[] | string[] | null): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onComplete(trailers);
  }
  onError(err: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onError(err);
  }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
  onBodySent(chunkSize: number, totalBytesSent: number): void {
    if (!this.#done) this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }
}

function onTimeout(h: TimeoutHandler): void {
  h.fire();
}

/** Wraps `handler` (either form) with a route timeout; see TimeoutHandler. */
export function withTimeout(handler: DispatchHandler, timeoutMs: number, error: () => MeshError): DispatchHandler {
  return new TimeoutHandler(asLegacyHandler(handler), timeoutMs, error) as unknown as DispatchHandler;
}
