// The HTTP client's `fault` layer: applies a route's Envoy fault filter configs (delay, local abort) to undici dispatches.
import { noteHttpFault } from '../../telemetry/http-client.js';
import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { FaultPolicy } from '../../discovery/mesh-state.js';
import { FaultInjector, type ActiveFaults, type FaultAbort } from '../../policy/fault/index.js';
import type { DispatchFn } from '../stack.js';
import { failHandler, respondDirect, withTimeout } from './handlers.js';
import { getHeader, type UndiciHeaders } from './headers.js';

/** Body of a locally aborted call (Envoy's text). */
export const FAULT_ABORT_BODY = 'fault filter abort';
/** Value of `x-mesh-error` on a locally aborted call. */
export const FAULT_MESH_ERROR = 'fault-injected';

/** Where a fault layer sits, for error messages, and what it shares. */
export interface FaultLayerOptions {
  readonly authority: string;
  readonly route: string;
  /** The route timeout (ms): a delay counts against it. undefined = none. */
  readonly timeoutMs: number | undefined;
  readonly random?: () => number;
  readonly active?: ActiveFaults;
}

function isGrpc(headers: UndiciHeaders): boolean {
  return getHeader(headers, 'content-type')?.startsWith('application/grpc') === true;
}

/**
 * Answers a call locally as the fault filter does: an HTTP call gets `httpStatus` with body `fault filter abort`
 * (and `grpc-status` when the config named a gRPC status); a gRPC call (content-type application/grpc*) gets a
 * trailers-only 200 with `grpc-status`. Both carry `x-mesh-error: fault-injected`. Nothing reaches the network.
 */
export function respondFault(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, abort: FaultAbort): boolean {
  noteHttpFault(opts);
  if (isGrpc(opts.headers)) {
    return respondDirect(handler, 200, '', {
      'content-type': 'application/grpc',
      'grpc-status': String(abort.grpcStatus),
      'grpc-message': FAULT_ABORT_BODY.replace(/ /g, '%20'),
      'x-mesh-error': FAULT_MESH_ERROR,
    });
  }
  return respondDirect(handler, abort.httpStatus, FAULT_ABORT_BODY, { 'x-mesh-error': FAULT_MESH_ERROR });
}

/**
 * The v7 controller a delayed call's handler gets at once (so the caller can cancel during the delay); once the call
 * is forwarded it delegates to the real controller.
 */
class DelayController implements Dispatcher.DispatchController {
  #real: Dispatcher.DispatchController | undefined;
  #aborted = false;
  #paused = false;
  #reason: Error | null = null;
  readonly #onAbort: (reason: Error) => void;

  constructor(onAbort: (reason: Error) => void) {
    this.#onAbort = onAbort;
  }
  get aborted(): boolean {
    return this.#real?.aborted ?? this.#aborted;
  }
  get paused(): boolean {
    return this.#real?.paused ?? this.#paused;
  }
  get reason(): Error | null {
    return this.#real?.reason ?? this.#reason;
  }
  abort(reason: Error): void {
    if (this.#real !== undefined) return this.#real.abort(reason);
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason;
    this.#onAbort(reason);
  }
  pause(): void {
    if (this.#real !== undefined) this.#real.pause();
    else this.#paused = true;
  }
  resume(): void {
    if (this.#real !== undefined) this.#real.resume();
    else this.#paused = false;
  }
  /** Links the real controller of the forwarded call, replaying an abort or pause that came first. */
  attach(real: Dispatcher.DispatchController): void {
    this.#real = real;
    if (this.#aborted) real.abort(this.#reason ?? new Error('aborted'));
    else if (this.#paused) real.pause();
  }
}

/** The handler a delayed v7 call is forwarded with: the caller already had onRequestStart, with a DelayController. */
class ForwardHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  readonly #ctl: DelayController;
  constructor(inner: Dispatcher.DispatchHandler, ctl: DelayController) {
    this.#inner = inner;
    this.#ctl = ctl;
  }
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#ctl.attach(controller);
  }
  onRequestUpgrade(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    this.#inner.onRequestUpgrade?.(this.#ctl, status, headers, socket);
  }
  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: IncomingHttpHeaders, message?: string): void {
    this.#inner.onResponseStart?.(this.#ctl, status, headers, message);
  }
  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(this.#ctl, chunk);
  }
  onResponseEnd(_c: Dispatcher.DispatchController, trailers: IncomingHttpHeaders): void {
    this.#inner.onResponseEnd?.(this.#ctl, trailers);
  }
  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.#inner.onResponseError?.(this.#ctl, err);
  }
}

/** The legacy twin of ForwardHandler: the caller already had onConnect, with an abort that this links to the real one. */
class LegacyForwardHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  readonly #d: Delayed;
  constructor(inner: Dispatcher.DispatchHandler, d: Delayed) {
    this.#inner = inner;
    this.#d = d;
  }
  onConnect(abort: (err?: Error) => void): void {
    this.#d.realAbort = abort;
    if (this.#d.pendingAbort !== undefined) abort(this.#d.pendingAbort);
  }
  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }
  onHeaders(status: number, headers: Buffer[], resume: () => void, text: string): boolean {
    return this.#inner.onHeaders?.(status, headers, resume, text) ?? true;
  }
  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }
  onComplete(trailers: string[] | null): void {
    this.#inner.onComplete?.(trailers);
  }
  onError(err: Error): void {
    this.#inner.onError?.(err);
  }
  onUpgrade(status: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#inner.onUpgrade?.(status, headers, socket);
  }
  onBodySent(size: number, total: number): void {
    this.#inner.onBodySent?.(size, total);
  }
}

/** State of one delayed call. */
interface Delayed {
  readonly injector: FaultInjector<UndiciHeaders>;
  readonly next: DispatchFn;
  readonly opts: Dispatcher.DispatchOptions;
  /** The caller's handler (wrapped with the route timeout when the route has one). */
  readonly handler: Dispatcher.DispatchHandler;
  readonly abort: FaultAbort | undefined;
  /** What the call is forwarded (or answered) with once the delay ends. */
  forward: Dispatcher.DispatchHandler;
  timer: NodeJS.Timeout | undefined;
  /** True until the delay ends or the call is cancelled. */
  waiting: boolean;
  /** Legacy handlers: the forwarded call's abort, and an abort that came before it. */
  realAbort: ((err?: Error) => void) | undefined;
  pendingAbort: Error | undefined;
}

function endDelay(d: Delayed): void {
  d.timer = undefined;
  if (!d.waiting) return;
  d.waiting = false;
  d.injector.release();
  if (d.abort !== undefined) respondFault(d.opts, d.forward, d.abort);
  else d.next(d.opts, d.forward);
}

/** Cancels a call during its delay (caller abort or route timeout): clears the timer, frees the slot, fails the call. */
function cancel(d: Delayed, reason: Error): void {
  if (!d.waiting) return;
  d.waiting = false;
  if (d.timer !== undefined) clearTimeout(d.timer);
  d.timer = undefined;
  d.injector.release();
  failHandler(d.handler, reason);
}

/** Starts the delay of one call: hands the caller its controller (or abort callback) now, so it can cancel. */
function startDelay(d: Delayed, delayMs: number): void {
  const h = d.handler;
  if (typeof h.onRequestStart === 'function') {
    const ctl = new DelayController((reason) => cancel(d, reason));
    d.forward = new ForwardHandler(h, ctl);
    h.onRequestStart(ctl, {});
  } else {
    d.forward = new LegacyForwardHandler(h, d);
    const abort = (err?: Error): void => {
      const reason = err ?? new Error('aborted');
      if (d.realAbort !== undefined) d.realAbort(reason);
      else if (d.waiting) cancel(d, reason);
      else d.pendingAbort ??= reason;
    };
    (h.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, {});
  }
  if (!d.waiting) return; // cancelled from onRequestStart/onConnect
  d.timer = setTimeout(endDelay, delayMs, d);
  d.timer.unref?.();
}

/**
 * The fault layer for one FaultPolicy. A call that draws no fault goes straight to `next` (one header check when the
 * policy has headers, one or two random numbers). A delayed call gets its controller (legacy: its abort callback) at
 * once and waits on an unref'd timer, then is aborted locally or forwarded; cancelling it during the delay (the
 * caller's signal, or the route timeout, whose clock starts with the delay so the delay counts against it) clears
 * the timer and fails the call without sending it (WEFT_ERR_TIMEOUT for the timeout).
 */
export function faultLayer(policy: FaultPolicy, options: FaultLayerOptions): (next: DispatchFn) => DispatchFn {
  const injector = new FaultInjector<UndiciHeaders>(policy, getHeader, { random: options.random, active: options.active });
  const { authority, route, timeoutMs } = options;
  return (next) => (opts, handler) => {
    const decision = injector.decide(opts.headers);
    if (decision === undefined) return next(opts, handler);
    if (decision.delayMs <= 0) return respondFault(opts, handler, decision.abort!);
    const timed =
      timeoutMs !== undefined && timeoutMs > 0
        ? withTimeout(
            handler,
            timeoutMs,
            () =>
              new MeshError(
                ERROR_CODES.TIMEOUT,
                `request to ${authority} took longer than the ${timeoutMs} ms timeout of route '${route}' (an injected ${decision.delayMs} ms fault delay counts against it)`,
                { interrupted: true, details: { authority, route, timeoutMs, faultDelayMs: decision.delayMs, status: 504 } },
              ),
          )
        : handler;
    const d: Delayed = {
      injector,
      next,
      opts,
      handler: timed,
      abort: decision.abort,
      forward: timed,
      timer: undefined,
      waiting: true,
      realAbort: undefined,
      pendingAbort: undefined,
    };
    startDelay(d, decision.delayMs);
    return true;
  };
}

/** Wraps `base` in one fault layer per policy (the first outermost); returns `base` itself when there is none. */
export function withFaults(policies: readonly FaultPolicy[], options: FaultLayerOptions, base: DispatchFn): DispatchFn {
  let out = base;
  for (let i = policies.length - 1; i >= 0; i--) out = faultLayer(policies[i]!, options)(out);
  return out;
}
