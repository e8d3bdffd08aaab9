// The HTTP client's `fault` layer: applies a route's Envoy fault filter configs (delay, local abort) to undici dispatches.
import type { Dispatcher } from 'undici';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { FaultPolicy } from '../../discovery/mesh-state.js';
import { FaultInjector, type ActiveFaults, type FaultAbort } from '../../policy/fault/index.js';
import type { DispatchFn } from '../stack.js';
import { respondDirect, withTimeout } from './handlers.js';
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

/** State of one delayed call: its timer, and whether the route timeout cancelled it first. */
interface Delayed {
  readonly injector: FaultInjector<UndiciHeaders>;
  readonly next: DispatchFn;
  readonly opts: Dispatcher.DispatchOptions;
  handler: Dispatcher.DispatchHandler;
  readonly abort: FaultAbort | undefined;
  timer: NodeJS.Timeout | undefined;
  /** True until the delay ends or the call is cancelled. */
  waiting: boolean;
}

function endDelay(d: Delayed): void {
  d.timer = undefined;
  if (!d.waiting) return;
  d.waiting = false;
  d.injector.release();
  if (d.abort !== undefined) respondFault(d.opts, d.handler, d.abort);
  else d.next(d.opts, d.handler);
}

/**
 * The fault layer for one FaultPolicy. A call that draws no fault goes straight to `next` (one header check when the
 * policy has headers, one or two random numbers). A delayed call waits on an unref'd timer, then is aborted or
 * forwarded; on a route with a timeout the timeout clock starts with the delay (so the delay counts against it) and
 * a timeout during the delay clears the timer and fails the call with WEFT_ERR_TIMEOUT without sending it. Not seen
 * during the delay: an abort of the caller's own signal (undici reports it once the call is forwarded).
 */
export function faultLayer(policy: FaultPolicy, options: FaultLayerOptions): (next: DispatchFn) => DispatchFn {
  const injector = new FaultInjector<UndiciHeaders>(policy, getHeader, { random: options.random, active: options.active });
  const { authority, route, timeoutMs } = options;
  return (next) => (opts, handler) => {
    const decision = injector.decide(opts.headers);
    if (decision === undefined) return next(opts, handler);
    if (decision.delayMs <= 0) return respondFault(opts, handler, decision.abort!);
    const d: Delayed = { injector, next, opts, handler, abort: decision.abort, timer: undefined, waiting: true };
    if (timeoutMs !== undefined && timeoutMs > 0) {
      d.handler = withTimeout(handler, timeoutMs, () => {
        if (d.waiting) {
          d.waiting = false;
          if (d.timer !== undefined) clearTimeout(d.timer);
          d.timer = undefined;
          injector.release();
        }
        return new MeshError(
          ERROR_CODES.TIMEOUT,
          `request to ${authority} took longer than the ${timeoutMs} ms timeout of route '${route}' (an injected ${decision.delayMs} ms fault delay counts against it)`,
          { interrupted: true, details: { authority, route, timeoutMs, faultDelayMs: decision.delayMs, status: 504 } },
        );
      });
    }
    d.timer = setTimeout(endDelay, decision.delayMs, d);
    d.timer.unref?.();
    return true;
  };
}

/** Wraps `base` in one fault layer per policy (the first outermost); returns `base` itself when there is none. */
export function withFaults(policies: readonly FaultPolicy[], options: FaultLayerOptions, base: DispatchFn): DispatchFn {
  let out = base;
  for (let i = policies.length - 1; i >= 0; i--) out = faultLayer(policies[i]!, options)(out);
  return out;
}
