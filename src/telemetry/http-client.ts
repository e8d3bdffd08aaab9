// Tracing and access logs of the HTTP client: a logical-call span per route dispatch (INTERNAL) and a CLIENT span per
// attempt (so retries are visible), W3C context injected per attempt, and one access-log line per call.
import { context, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import type { Dispatcher } from 'undici';
import { isMeshError } from '../core/errors.js';
import type { ErrorKind } from '../core/classify.js';
import type { TelemetryPolicy } from '../discovery/telemetry-policy.js';
import type { AttemptObserver } from '../policy/attempt-observer.js';
import { shouldLog } from './access-log.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  WEFT,
} from './attrs.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { injectHeaders, sampledParent, SpanKind, startSpan, traceIdOf, withContext } from './tracing.js';

type DispatchFn = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;
type Wrap = (handler: Dispatcher.DispatchHandler, observer: AttemptObserver) => Dispatcher.DispatchHandler;

/** Set on a call's (mesh-owned) dispatch options while it is traced or logged: its HttpCall. */
export const HTTP_CALL: unique symbol = Symbol.for('weft.telemetry.httpCall') as never;

function hostPort(authority: string): { host: string; port: number } {
  const i = authority.lastIndexOf(':');
  if (i > 0 && !authority.endsWith(']')) {
    const port = Number(authority.slice(i + 1));
    if (Number.isInteger(port)) return { host: authority.slice(0, i), port };
  }
  return { host: authority, port: 80 };
}

/** One traced or logged HTTP call: its span, attempts and outcome. Observes the call's handler (AttemptObserver). */
export class HttpCall implements AttemptObserver {
  readonly span: Span | undefined;
  readonly ctx: Context | undefined;
  readonly #t: MeshTelemetry;
  readonly #authority: string;
  readonly #route: string;
  readonly #policy: TelemetryPolicy;
  readonly #method: string;
  readonly #path: string;
  readonly #startMs = performance.now();
  readonly #startEpochMs = Date.now();
  /** Instrumentation-undici is active: it makes the attempt spans and injects; Weft only parents them. */
  readonly undiciInstrumented: boolean;
  attempts = 0;
  cluster: string | undefined;
  endpoint: string | undefined;
  /** The outcome of the last attempt (the reason for the next one). */
  lastOutcome: string | undefined;
  retryReasons: string[] | undefined;
  flags: string[] | undefined;
  #status = 0;
  #error: Error | undefined;

  constructor(t: MeshTelemetry, authority: string, route: string, policy: TelemetryPolicy, opts: Dispatcher.DispatchOptions, tracing: boolean, undici: boolean) {
    this.#t = t;
    this.#authority = authority;
    this.#route = route;
    this.#policy = policy;
    this.#method = opts.method;
    this.#path = opts.path;
    this.undiciInstrumented = undici;
    if (tracing) {
      const { host, port } = hostPort(authority);
      const s = startSpan(
        t.tracing,
        `${this.#method} ${authority}`,
        SpanKind.INTERNAL,
        {
          [WEFT.span]: 'call',
          [ATTR_HTTP_REQUEST_METHOD]: this.#method,
          [ATTR_URL_FULL]: `http://${authority}${this.#path}`,
          [ATTR_SERVER_ADDRESS]: host,
          [ATTR_SERVER_PORT]: port,
          [WEFT.route]: route,
        },
        sampledParent(context.active(), policy),
      );
      this.span = s.span;
      this.ctx = s.ctx;
    }
  }

  /** Marks the call as answered or delayed by the fault filter. */
  fault(): void {
    (this.flags ??= []).push('fault_injected');
    this.span?.setAttribute(WEFT.faultInjected, true);
  }

  /** A new attempt to `endpoint` of `cluster`: its observer (and span when tracing and no undici instrumentation). */
  attempt(cluster: string, endpoint: { origin: string; address: string; port: number }, isEjected: ((origin: string) => boolean) | undefined): HttpAttempt {
    const n = ++this.attempts;
    this.cluster = cluster;
    const hostPortText = endpoint.origin.slice(7);
    this.endpoint = hostPortText;
    const reason = n > 1 ? (this.lastOutcome ?? 'unknown') : undefined;
    if (reason !== undefined) (this.retryReasons ??= []).push(reason);
    let span: Span | undefined;
    let ctx = this.ctx;
    if (this.ctx !== undefined && !this.undiciInstrumented) {
      const { host, port } = hostPort(this.#authority);
      const s = startSpan(
        this.#t.tracing,
        this.#method,
        SpanKind.CLIENT,
        {
          [WEFT.span]: 'attempt',
          [ATTR_HTTP_REQUEST_METHOD]: this.#method,
          [ATTR_URL_FULL]: `http://${this.#authority}${this.#path}`,
          [ATTR_SERVER_ADDRESS]: host,
          [ATTR_SERVER_PORT]: port,
          [ATTR_NETWORK_PEER_ADDRESS]: endpoint.address,
          [ATTR_NETWORK_PEER_PORT]: endpoint.port,
          [WEFT.route]: this.#route,
          [WEFT.cluster]: cluster,
          [WEFT.endpoint]: hostPortText,
          [WEFT.attempt]: n,
          ...(reason !== undefined && { [ATTR_HTTP_REQUEST_RESEND_COUNT]: n - 1, [WEFT.retryReason]: reason }),
        },
        this.ctx,
      );
      span = s.span;
      ctx = s.ctx;
    } else if (this.span !== undefined) {
      this.span.addEvent('weft.attempt', { [WEFT.attempt]: n, [WEFT.cluster]: cluster, [WEFT.endpoint]: hostPortText, ...(reason !== undefined && { [WEFT.retryReason]: reason }) });
    }
    return new HttpAttempt(this, span, ctx, endpoint.origin, isEjected);
  }

  responded(status: number): void {
    this.#status = status;
  }
  error(err: Error): void {
    this.#error = err;
  }

  ended(failure: ErrorKind | undefined): void {
    const span = this.span;
    const status = this.#status;
    const err = this.#error;
    let errorType: string | undefined;
    let reason: string | undefined;
    if (failure !== undefined && err !== undefined) {
      if (isMeshError(err)) {
        errorType = err.code;
        const r = (err.details as { reason?: unknown } | undefined)?.reason;
        if (typeof r === 'string') reason = r;
      } else errorType = (err as { code?: string }).code ?? err.name;
      (this.flags ??= []).push(`error:${errorType}${reason !== undefined ? `:${reason}` : ''}`);
    } else if (status >= 500) errorType = String(status);
    if (span !== undefined && span.isRecording()) {
      span.setAttributes({
        [WEFT.attempts]: this.attempts,
        ...(status > 0 && { [ATTR_HTTP_RESPONSE_STATUS_CODE]: status }),
        ...(this.cluster !== undefined && { [WEFT.cluster]: this.cluster }),
        ...(this.endpoint !== undefined && { [WEFT.endpoint]: this.endpoint }),
        ...(errorType !== undefined && { [ATTR_ERROR_TYPE]: errorType }),
        ...(err !== undefined && isMeshError(err) && { [WEFT.errorCode]: err.code }),
        ...(reason !== undefined && { [WEFT.errorReason]: reason }),
      });
      if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, ...(err !== undefined && { message: err.message }) });
      span.end();
    }
    const durationMs = performance.now() - this.#startMs;
    if (shouldLog(this.#policy, status, durationMs)) {
      this.#t.log.write({
        time: new Date(this.#startEpochMs).toISOString(),
        direction: 'outbound',
        protocol: 'http',
        method: this.#method,
        authority: this.#authority,
        path: this.#path,
        route: this.#route,
        ...(this.cluster !== undefined && { cluster: this.cluster }),
        ...(this.endpoint !== undefined && { endpoint: this.endpoint }),
        status,
        duration_ms: Math.round(durationMs * 1000) / 1000,
        attempts: this.attempts,
        ...(this.retryReasons !== undefined && { retry_reasons: this.retryReasons }),
        ...(this.flags !== undefined && { flags: this.flags }),
        ...(errorType !== undefined && failure !== undefined && { error: errorType }),
        ...(traceIdOf(span) !== undefined && { trace_id: traceIdOf(span)! }),
      });
    }
  }
}

/** One attempt of an HttpCall: its CLIENT span (if any), ended when the attempt ends. */
export class HttpAttempt implements AttemptObserver {
  #status = 0;
  #error: Error | undefined;
  constructor(
    readonly call: HttpCall,
    readonly span: Span | undefined,
    readonly ctx: Context | undefined,
    readonly origin: string,
    readonly isEjected: ((origin: string) => boolean) | undefined,
  ) {}
  responded(status: number): void {
    this.#status = status;
  }
  error(err: Error): void {
    this.#error = err;
  }
  ended(failure: ErrorKind | undefined): void {
    const call = this.call;
    const status = this.#status;
    call.lastOutcome = failure !== undefined ? (isMeshError(this.#error) ? this.#error.code : failure) : String(status);
    const ejected = this.isEjected?.(this.origin) === true;
    if (ejected && !(call.flags ?? []).includes('outlier_ejected')) (call.flags ??= []).push('outlier_ejected');
    const span = this.span;
    if (span === undefined || !span.isRecording()) return;
    if (status > 0) span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (ejected) span.setAttribute(WEFT.outlierEjected, true);
    if (failure !== undefined || status >= 500) {
      const type = failure !== undefined ? (isMeshError(this.#error) ? this.#error.code : ((this.#error as { code?: string } | undefined)?.code ?? failure)) : String(status);
      span.setAttribute(ATTR_ERROR_TYPE, type);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}

/** Returns `headers` with the entries of `add` set (replacing same-named ones), as a new value; never mutates. */
export function withHeaders(headers: Dispatcher.DispatchOptions['headers'], add: Record<string, string>): Dispatcher.DispatchOptions['headers'] {
  const names = Object.keys(add);
  if (names.length === 0) return headers;
  if (headers === undefined || headers === null) return { ...add };
  const replaced = (k: unknown): boolean => add[String(k).toLowerCase()] !== undefined;
  if (Array.isArray(headers)) {
    const flat: string[] = [];
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const [k, v] of headers as unknown as [string, string][]) if (!replaced(k)) flat.push(k, v);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) if (!replaced(headers[i])) flat.push(headers[i] as string, headers[i + 1] as string);
    }
    for (const n of names) flat.push(n, add[n]!);
    return flat;
  }
  const proto = Object.getPrototypeOf(headers) as unknown;
  if (proto !== Object.prototype && proto !== null) {
    const flat: string[] = [];
    for (const [k, v] of headers as Iterable<[string, string | string[] | undefined]>) {
      if (v === undefined || replaced(k)) continue;
      if (Array.isArray(v)) for (const x of v) flat.push(k, x);
      else flat.push(k, v);
    }
    for (const n of names) flat.push(n, add[n]!);
    return flat;
  }
  const out: Record<string, unknown> = {};
  const record = headers as Record<string, unknown>;
  for (const k in record) if (!replaced(k)) out[k] = record[k];
  return Object.assign(out, add) as Dispatcher.DispatchOptions['headers'];
}

/**
 * The `trace` hook of a compiled route (client/http/compile.ts): while a TracerProvider is registered or the target's
 * Telemetry logs, each call gets an HttpCall (span, access log) on its options and runs inside the call's context;
 * otherwise the call passes with one cached check. `wrap` is observe-handler's observeAttempt.
 */
export function traceHttpRoute(t: MeshTelemetry, authority: string, route: string, policy: TelemetryPolicy, wrap: Wrap, next: DispatchFn): DispatchFn {
  const logs = policy.accessLog !== undefined;
  return (opts, handler) => {
    const probe = t.tracing.probe();
    if (!probe.on && !logs) return next(opts, handler);
    const call = new HttpCall(t, authority, route, policy, opts, probe.on, probe.undiciInstrumented);
    (opts as unknown as Record<symbol, unknown>)[HTTP_CALL] = call;
    const observed = wrap(handler, call);
    // Only an instrumentation below reads the active context (attempts find their call on the options): with none,
    // no context switch (an AsyncLocalStorage run costs a few µs).
    return call.undiciInstrumented && call.ctx !== undefined ? withContext(call.ctx, next, opts, observed) : next(opts, observed);
  };
}

/**
 * The `trace-attempt` hook of an endpoint (client/http/compile.ts): for a traced or logged call, counts the attempt,
 * starts its CLIENT span and injects its context into the attempt's headers (unless instrumentation-undici does both),
 * and runs the transport inside the attempt's context. Calls that are not traced pass with one property read.
 */
export function traceHttpAttempt(cluster: string, endpoint: { origin: string; address: string; port: number }, isEjected: ((origin: string) => boolean) | undefined, wrap: Wrap, next: DispatchFn): DispatchFn {
  return (opts, handler) => {
    const call = (opts as unknown as Record<symbol, HttpCall | undefined>)[HTTP_CALL];
    if (call === undefined) return next(opts, handler);
    const attempt = call.attempt(cluster, endpoint, isEjected);
    if (attempt.span !== undefined) opts.headers = withHeaders(opts.headers, injectHeaders(attempt.ctx!));
    const observed = wrap(handler, attempt);
    return call.undiciInstrumented && attempt.ctx !== undefined ? withContext(attempt.ctx, next, opts, observed) : next(opts, observed);
  };
}

/** Marks the call of `opts` (if traced or logged) as answered or delayed by the fault filter. */
export function noteHttpFault(opts: Dispatcher.DispatchOptions): void {
  (opts as unknown as Record<symbol, HttpCall | undefined>)[HTTP_CALL]?.fault();
}
