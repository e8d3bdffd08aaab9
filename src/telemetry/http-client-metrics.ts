// Golden metrics of the HTTP client: a dispatch step that records each logical call (method, status or error kind,
// latency to the response headers) into its route's series, and an attempt step that counts retries by reason.
import type { Dispatcher } from 'undici';
import { ERROR_CODES, isMeshError } from '../core/errors.js';
import { errorKind } from '../client/http/undici-errors.js';
import { retryReason } from '../client/http/retry-handler.js';
import type { DispatchFn } from '../client/stack.js';
import { methodIndex, type RouteSeries } from './metrics-registry.js';

type DispatchHandler = Dispatcher.DispatchHandler;
type Headers = import('node:http').IncomingHttpHeaders;

/** The `error.type` of a call that ended with `err` and no response: mesh refusals by name, else the transport's kind. */
export function errorTypeOf(err: unknown): string {
  if (isMeshError(err)) {
    switch (err.code) {
      case ERROR_CODES.TIMEOUT:
        return 'timeout';
      case ERROR_CODES.OVERLOADED:
        return 'overloaded';
      case ERROR_CODES.NO_ENDPOINTS:
        return 'no_endpoints';
      case ERROR_CODES.NO_ROUTE:
        return 'no_route';
      default:
        return 'other';
    }
  }
  return errorKind(err);
}

/** Per-call recorder shared by both handler forms. */
class CallRecord {
  readonly series: RouteSeries;
  readonly method: number;
  readonly startMs: number;
  status = -1;
  respondedMs = -1;
  done = false;

  constructor(series: RouteSeries, method: number) {
    this.series = series;
    this.method = method;
    this.startMs = performance.now();
  }

  headers(status: number): void {
    if (this.respondedMs < 0 && status >= 200) {
      this.status = status;
      this.respondedMs = performance.now();
    }
  }

  end(err: Error | undefined): void {
    if (this.done) return;
    this.done = true;
    const end = this.respondedMs >= 0 ? this.respondedMs : performance.now();
    // A response whose body then failed still answered with its status; only a call with no status is an error.
    if (this.status >= 0) this.series.record(this.method, this.status, undefined, end - this.startMs);
    else this.series.record(this.method, -1, err === undefined ? 'other' : errorTypeOf(err), end - this.startMs);
  }
}

/** Legacy-form wrapper (onConnect/onHeaders/onComplete/onError): forwards everything, records the call once. */
class LegacyMetricsHandler extends CallRecord implements DispatchHandler {
  readonly #inner: DispatchHandler;
  constructor(inner: DispatchHandler, series: RouteSeries, method: number) {
    super(series, method);
    this.#inner = inner;
  }
  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    (this.#inner.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, context);
  }
  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    this.headers(statusCode);
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }
  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }
  onComplete(trailers: string[] | null): void {
    this.end(undefined);
    this.#inner.onComplete?.(trailers);
  }
  onError(err: Error): void {
    this.end(err);
    this.#inner.onError?.(err);
  }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.headers(statusCode);
    this.end(undefined);
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }
}

/** v7-form twin of LegacyMetricsHandler. */
class MetricsHandler extends CallRecord implements DispatchHandler {
  readonly #inner: DispatchHandler;
  constructor(inner: DispatchHandler, series: RouteSeries, method: number) {
    super(series, method);
    this.#inner = inner;
  }
  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#inner.onRequestStart?.(controller, context);
  }
  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    this.headers(statusCode);
    this.end(undefined);
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    this.headers(statusCode);
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }
  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers): void {
    this.end(undefined);
    this.#inner.onResponseEnd?.(controller, trailers);
  }
  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.end(err);
    this.#inner.onResponseError?.(controller, err);
  }
}

/**
 * The `metrics` step of a route (outermost of the route, above fault and concurrency limit, so local aborts and
 * refusals count): one handler wrapper per call, recording it into `series` when it ends. Never throws.
 */
export function clientMetricsDispatch(series: RouteSeries, next: DispatchFn): DispatchFn {
  return (opts, handler) => {
    const method = methodIndex(opts.method);
    const observed = typeof handler.onRequestStart === 'function' ? new MetricsHandler(handler, series, method) : new LegacyMetricsHandler(handler, series, method);
    try {
      return next(opts, observed);
    } catch (e: unknown) {
      observed.end(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  };
}

/**
 * The attempt-counting step, just below the retry layer: an attempt the retry layer marked as a retry is counted with
 * the reason it gave. No wrapper per call; one property read per attempt.
 */
export function attemptMetricsDispatch(series: RouteSeries, next: DispatchFn): DispatchFn {
  return (opts, handler) => {
    const reason = retryReason(opts);
    if (reason !== undefined) series.retried(reason);
    return next(opts, handler);
  };
}
