// The concurrency-limit (target tier), circuit-breaker (backend tier) and outlier-observation (endpoint tier) steps of
// the HTTP client's dispatch path.
import type { BreakerSnapshot, ClusterBreaker } from '../../policy/circuit-breaker/index.js';
import type { ConcurrencyLimiter } from '../../policy/concurrency/index.js';
import type { Ejection, EndpointHealth } from '../../policy/outlier/index.js';
import type { DispatchFn } from '../stack.js';
import type { CompiledBackend } from './compile.js';
import { failHandler } from './handlers.js';
import { observeAttempt } from './observe-handler.js';

/**
 * `circuit-breaker`: admits the call against the cluster's thresholds and counts it until it ends, or fails it at
 * once with WEFT_ERR_OVERLOADED (`details.reason` names the threshold). Sits above `balance` so a refused call costs
 * no pick; one handler wrapper per admitted call.
 */
export function breakerDispatch(breaker: ClusterBreaker, authority: string, route: string, next: DispatchFn): DispatchFn {
  return (opts, handler) => {
    const reason = breaker.admit();
    if (reason !== undefined) return failHandler(handler, breaker.overflowError(reason, authority, route));
    const observed = observeAttempt(handler, breaker);
    try {
      return next(opts, observed);
    } catch (e: unknown) {
      // A transport that throws instead of failing the handler must not leak the admitted slot.
      return failHandler(observed, e instanceof Error ? e : new Error(String(e)));
    }
  };
}

/**
 * `concurrency-limit`: admits the call against its route rule's limit (fixed, or adaptive from the calls' latency)
 * until the call ends, or fails it at once with WEFT_ERR_OVERLOADED (`details.reason` `concurrency_limit`). Above
 * `split`, so a logical call holds one slot whatever its retries do; one handler wrapper per admitted call, only on
 * routes with a limit.
 */
export function concurrencyDispatch(limiter: ConcurrencyLimiter, authority: string, route: string, next: DispatchFn): DispatchFn {
  return (opts, handler) => {
    if (!limiter.tryAcquire()) return failHandler(handler, limiter.overflowError(authority, route));
    const observed = observeAttempt(handler, limiter);
    try {
      return next(opts, observed);
    } catch (e: unknown) {
      return failHandler(observed, e instanceof Error ? e : new Error(String(e)));
    }
  };
}

/**
 * `outlier-observe`: reports each attempt's status or transport failure to the endpoint's outlier record (which may
 * eject the endpoint). Wraps the endpoint's dispatch only when its cluster has outlier detection.
 */
export function outlierDispatch(health: EndpointHealth, next: DispatchFn): DispatchFn {
  return (opts, handler) => next(opts, observeAttempt(handler, health));
}

/** A cluster's circuit-breaker counters and ejected endpoints at one moment (for mesh.status()). Plain data. */
export interface ClusterResilienceStatus {
  /** Limits, counters and overflows; absent when the cluster has no circuit_breakers. */
  readonly circuitBreaker?: BreakerSnapshot;
  /** Endpoints outlier detection has ejected now; absent when the cluster has no outlier detection. */
  readonly ejected?: readonly Ejection[];
}

/** The resilience status of every compiled cluster that has a breaker or outlier detection. */
export function resilienceStatus(backends: ReadonlyMap<string, CompiledBackend>): Readonly<Record<string, ClusterResilienceStatus>> {
  const out: Record<string, ClusterResilienceStatus> = {};
  for (const [name, b] of backends) {
    if (b.breaker === undefined && b.outlier === undefined) continue;
    out[name] = Object.freeze({
      ...(b.breaker ? { circuitBreaker: b.breaker.snapshot() } : {}),
      ...(b.outlier ? { ejected: b.outlier.ejections() } : {}),
    });
  }
  return Object.freeze(out);
}
