// Delivers mesh outcomes to undici dispatch handlers of either API generation (legacy onError/onConnect, v7 onResponse*).
import type { Dispatcher } from 'undici';
import type { MeshError } from '../../core/errors.js';

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
 * Wraps a legacy handler with a route timeout. If the timer fires before a connection is assigned the caller gets
 * the error at once and the later connection is aborted; after that, the in-flight request is aborted with the error.
 * One instance and one timer per request, only on routes that have a timeout.
 */
export class LegacyTimeoutHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #error: () => MeshError;
  #abort: ((err?: Error) => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  #timedOut: MeshError | undefined;

  constructor(inner: DispatchHandler, timeoutMs: number, error: () => MeshError) {
    this.#inner = inner;
    this.#error = error;
    this.#timer = setTimeout(onLegacyTimeout, timeoutMs, this);
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
      failHandler(this.#inner, err);
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
    (this.#inner.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, context);
  }
  onResponseStarted(): void {
    if (!this.#done) this.#inner.onResponseStarted?.();
  }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#done) return true;
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }
  onData(chunk: Buffer): boolean {
    if (this.#done) return true;
    return this.#inner.onData?.(chunk) ?? true;
  }
  onComplete(trailers: string[] | null): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onComplete?.(trailers);
  }
  onError(err: Error): void {
    if (this.#done) return;
    this.#finish();
    if (this.#inner.onError) this.#inner.onError(err);
    else failHandler(this.#inner, err);
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

function onLegacyTimeout(h: LegacyTimeoutHandler): void {
  h.fire();
}

/** The v7-handler twin of LegacyTimeoutHandler (same behaviour; the controller replaces the abort callback). */
export class TimeoutHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #error: () => MeshError;
  #controller: Dispatcher.DispatchController | undefined;
  #timer: NodeJS.Timeout | undefined;
  #done = false;
  #timedOut: MeshError | undefined;

  constructor(inner: DispatchHandler, timeoutMs: number, error: () => MeshError) {
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
    if (this.#controller !== undefined) {
      this.#controller.abort(err);
    } else {
      this.#done = true;
      failHandler(this.#inner, err);
    }
  }

  #finish(): void {
    this.#done = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#controller = controller;
    if (this.#timedOut !== undefined) return controller.abort(this.#timedOut);
    this.#inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: import('node:http').IncomingHttpHeaders,
    socket: import('node:stream').Duplex,
  ): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(
    controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: import('node:http').IncomingHttpHeaders,
    statusMessage?: string,
  ): void {
    if (!this.#done) this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.#done) this.#inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: import('node:http').IncomingHttpHeaders): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#inner.onResponseError?.(controller, err);
  }
}

function onTimeout(h: TimeoutHandler): void {
  h.fire();
}

/** Wraps `handler` (either form) with a route timeout; see LegacyTimeoutHandler. */
export function withTimeout(handler: DispatchHandler, timeoutMs: number, error: () => MeshError): DispatchHandler {
  return typeof handler.onRequestStart === 'function'
    ? new TimeoutHandler(handler, timeoutMs, error)
    : new LegacyTimeoutHandler(handler, timeoutMs, error);
}
