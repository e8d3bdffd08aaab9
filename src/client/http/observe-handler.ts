// Wraps an undici dispatch handler so a policy (circuit breaker, outlier detector) sees an attempt start, respond and end.
import type { Dispatcher } from 'undici';
import type { AttemptObserver } from '../../policy/attempt-observer.js';
import { errorKind } from './undici-errors.js';

type DispatchHandler = Dispatcher.DispatchHandler;
type Headers = import('node:http').IncomingHttpHeaders;

/**
 * Legacy-handler form: forwards every callback unchanged and tells `observer` when the request got a connection
 * (onConnect), when the status arrived (onHeaders) and when the attempt ended (onComplete / onError / onUpgrade),
 * exactly once. One instance per attempt, only when a policy that observes is configured.
 */
class LegacyObservedHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #observer: AttemptObserver;
  #started = false;
  #responded = false;
  #ended = false;
  /** Dispatch time, and then response-headers time, on the observer's clock (timed observers only). */
  #startMs = 0;
  #respondedMs = -1;

  constructor(inner: DispatchHandler, observer: AttemptObserver) {
    this.#inner = inner;
    this.#observer = observer;
    if (observer.clock !== undefined) this.#startMs = observer.clock();
  }

  #end(err: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    const o = this.#observer;
    if (err !== undefined) o.error?.(err);
    const failure = err === undefined ? undefined : errorKind(err);
    if (o.clock === undefined) return o.ended(failure, this.#started, this.#responded);
    o.ended(failure, this.#started, this.#responded, (this.#respondedMs >= 0 ? this.#respondedMs : o.clock()) - this.#startMs);
  }

  #markResponded(status: number): void {
    this.#responded = true;
    const o = this.#observer;
    if (o.clock !== undefined) this.#respondedMs = o.clock();
    o.responded?.(status);
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    if (!this.#started) {
      this.#started = true;
      this.#observer.started?.();
    }
    (this.#inner.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, context);
  }
  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (!this.#responded && statusCode >= 200) this.#markResponded(statusCode);
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }
  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }
  onComplete(trailers: string[] | null): void {
    this.#end(undefined);
    this.#inner.onComplete?.(trailers);
  }
  onError(err: Error): void {
    this.#end(err);
    this.#inner.onError?.(err);
  }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.#end(undefined);
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }
}

/** The v7-handler twin of LegacyObservedHandler (the controller replaces the abort callback). */
class ObservedHandler implements DispatchHandler {
  readonly #inner: DispatchHandler;
  readonly #observer: AttemptObserver;
  #started = false;
  #responded = false;
  #ended = false;
  /** Dispatch time, and then response-headers time, on the observer's clock (timed observers only). */
  #startMs = 0;
  #respondedMs = -1;

  constructor(inner: DispatchHandler, observer: AttemptObserver) {
    this.#inner = inner;
    this.#observer = observer;
    if (observer.clock !== undefined) this.#startMs = observer.clock();
  }

  #end(err: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    const o = this.#observer;
    if (err !== undefined) o.error?.(err);
    const failure = err === undefined ? undefined : errorKind(err);
    if (o.clock === undefined) return o.ended(failure, this.#started, this.#responded);
    o.ended(failure, this.#started, this.#responded, (this.#respondedMs >= 0 ? this.#respondedMs : o.clock()) - this.#startMs);
  }

  #markResponded(status: number): void {
    this.#responded = true;
    const o = this.#observer;
    if (o.clock !== undefined) this.#respondedMs = o.clock();
    o.responded?.(status);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    if (!this.#started) {
      this.#started = true;
      this.#observer.started?.();
    }
    this.#inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    this.#end(undefined);
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (!this.#responded && statusCode >= 200) this.#markResponded(statusCode);
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers): void {
    this.#end(undefined);
    this.#inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.#end(err);
    this.#inner.onResponseError?.(controller, err);
  }
}

/** Wraps `handler` (either form) so `observer` sees the attempt; see LegacyObservedHandler. */
export function observeAttempt(handler: DispatchHandler, observer: AttemptObserver): DispatchHandler {
  return typeof handler.onRequestStart === 'function' ? new ObservedHandler(handler, observer) : new LegacyObservedHandler(handler, observer);
}
