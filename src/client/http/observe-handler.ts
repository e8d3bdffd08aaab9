// Wraps an undici dispatch handler so a policy (circuit breaker, outlier detector) sees an attempt start, respond and end.
import type { Dispatcher } from 'undici';
import type { ErrorKind } from '../../core/classify.js';
import { ERROR_CODES, isMeshError } from '../../core/errors.js';
import type { AttemptObserver } from '../../policy/attempt-observer.js';

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

  constructor(inner: DispatchHandler, observer: AttemptObserver) {
    this.#inner = inner;
    this.#observer = observer;
  }

  #end(err: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#observer.ended(err === undefined ? undefined : errorKind(err), this.#started, this.#responded);
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
    if (!this.#responded && statusCode >= 200) {
      this.#responded = true;
      this.#observer.responded?.(statusCode);
    }
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

  constructor(inner: DispatchHandler, observer: AttemptObserver) {
    this.#inner = inner;
    this.#observer = observer;
  }

  #end(err: Error | undefined): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#observer.ended(err === undefined ? undefined : errorKind(err), this.#started, this.#responded);
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
    if (!this.#responded && statusCode >= 200) {
      this.#responded = true;
      this.#observer.responded?.(statusCode);
    }
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

const CONNECT_FAILURE_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ERR_HTTP2_STREAM_ERROR', 'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION']);
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);

/**
 * Maps an undici / Node error to the transport-neutral ErrorKind of core/classify.ts: connect failures, resets and
 * timeouts (undici's header/body timeouts and Weft's route timeout); everything else (a caller's abort, a closed pool,
 * a mesh refusal) is `other`, which no policy counts against an endpoint. Walks one level of `cause`.
 */
export function errorKind(err: Error): ErrorKind {
  if (isMeshError(err)) return err.code === ERROR_CODES.TIMEOUT ? 'timeout' : 'other';
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 2; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (CONNECT_FAILURE_CODES.has(code)) return 'connect-failure';
      if (RESET_CODES.has(code)) return 'reset';
      if (TIMEOUT_CODES.has(code)) return 'timeout';
    }
    e = (e as { cause?: unknown }).cause;
  }
  return 'other';
}

/** Wraps `handler` (either form) so `observer` sees the attempt; see LegacyObservedHandler. */
export function observeAttempt(handler: DispatchHandler, observer: AttemptObserver): DispatchHandler {
  return typeof handler.onRequestStart === 'function' ? new ObservedHandler(handler, observer) : new LegacyObservedHandler(handler, observer);
}
