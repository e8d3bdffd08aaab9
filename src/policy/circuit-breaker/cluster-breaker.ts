// Envoy-style circuit-breaker counters of one cluster: calls in flight, calls waiting for a connection, retries in flight.
import type { ErrorKind } from '../../core/classify.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { AttemptObserver } from '../attempt-observer.js';
import type { CircuitBreakerThresholds, OverflowReason } from './circuit-breaker-config.js';

/** A breaker's counters and limits at one moment (for status and explain()). Plain data. */
export interface BreakerSnapshot {
  readonly cluster: string;
  readonly thresholds: CircuitBreakerThresholds;
  readonly activeRequests: number;
  readonly pendingRequests: number;
  readonly activeRetries: number;
  /** Calls refused so far, by the threshold they hit. */
  readonly overflows: Readonly<Record<OverflowReason, number>>;
}

/**
 * The circuit breaker of one cluster (Envoy `circuit_breakers.thresholds[DEFAULT]`), shared by every route and target
 * that sends to the cluster, and carried over when the cluster's configuration changes (update() swaps the limits
 * live; calls in flight stay counted). Counting is three integer updates per call; nothing is allocated unless a call
 * is refused. Not reentrant-sensitive: every method is synchronous and never throws.
 *
 * - admit(): counts a new call, or returns which threshold it would pass (`max_requests`, `max_pending_requests`).
 * - started() / ended(): the call got a connection / finished (as an AttemptObserver of the transport adapter).
 * - tryAcquireRetry() / releaseRetry(): for the retry layer, one pair per retry attempt (`max_retries`).
 */
export class ClusterBreaker implements AttemptObserver {
  /** Cluster name. */
  readonly cluster: string;
  #limits: CircuitBreakerThresholds;
  #maxRequests: number;
  #maxPending: number;
  #maxRetries: number;
  #active = 0;
  #pending = 0;
  #retries = 0;
  readonly #overflows: Record<OverflowReason, number> = { max_requests: 0, max_pending_requests: 0, max_retries: 0 };

  constructor(cluster: string, thresholds: CircuitBreakerThresholds) {
    this.cluster = cluster;
    this.#limits = thresholds;
    this.#maxRequests = thresholds.maxRequests;
    this.#maxPending = thresholds.maxPendingRequests;
    this.#maxRetries = thresholds.maxRetries;
  }

  /** The limits in force. */
  get thresholds(): CircuitBreakerThresholds {
    return this.#limits;
  }

  /** Replaces the limits; calls already admitted stay counted (a lower limit refuses new calls until load drops). */
  update(thresholds: CircuitBreakerThresholds): void {
    this.#limits = thresholds;
    this.#maxRequests = thresholds.maxRequests;
    this.#maxPending = thresholds.maxPendingRequests;
    this.#maxRetries = thresholds.maxRetries;
  }

  /**
   * Counts one new call as active and pending (waiting for a connection) and returns undefined, or, when the call
   * would pass a limit, counts nothing and returns the threshold's name. A call is pending from dispatch until the
   * transport writes it on a connection (Envoy: until the pool assigns it a stream, connecting included). undici
   * writes a call a tick or so after dispatch even on an idle keep-alive connection, so a burst dispatched in one tick
   * counts as pending until then: keep `maxPendingRequests` above the largest burst the process sends at once.
   */
  admit(): OverflowReason | undefined {
    if (this.#active >= this.#maxRequests) {
      this.#overflows.max_requests++;
      return 'max_requests';
    }
    if (this.#pending >= this.#maxPending) {
      this.#overflows.max_pending_requests++;
      return 'max_pending_requests';
    }
    this.#active++;
    this.#pending++;
    return undefined;
  }

  /** The admitted call got a connection. */
  started(): void {
    if (this.#pending > 0) this.#pending--;
  }

  /** The admitted call ended (`started`: whether started() was called for it). */
  ended(_failure: ErrorKind | undefined, started: boolean, _responded?: boolean): void {
    if (this.#active > 0) this.#active--;
    if (!started && this.#pending > 0) this.#pending--;
  }

  /** Takes a retry slot (`max_retries`); false, counted as an overflow, when none is free. Pair with releaseRetry(). */
  tryAcquireRetry(): boolean {
    if (this.#retries >= this.#maxRetries) {
      this.#overflows.max_retries++;
      return false;
    }
    this.#retries++;
    return true;
  }

  /** Gives back a slot taken by tryAcquireRetry(), when that retry attempt ends. */
  releaseRetry(): void {
    if (this.#retries > 0) this.#retries--;
  }

  /** The WEFT_ERR_OVERLOADED error for a call refused by `reason` (503 semantics, flag `rejected`: nothing was sent). */
  overflowError(reason: OverflowReason, authority: string, route: string): MeshError {
    const limit =
      reason === 'max_requests' ? this.#maxRequests : reason === 'max_pending_requests' ? this.#maxPending : this.#maxRetries;
    const what = reason === 'max_requests' ? 'calls in flight' : reason === 'max_pending_requests' ? 'calls waiting for a connection' : 'retries in flight';
    return new MeshError(
      ERROR_CODES.OVERLOADED,
      `cluster '${this.cluster}' (route '${route}' of ${authority}) is overloaded: ${limit} ${what} already, the circuit_breakers ${reason} threshold; failing fast`,
      { rejected: true, details: { authority, route, cluster: this.cluster, reason, limit, status: 503 } },
    );
  }

  /** Counters and limits now (a copy). */
  snapshot(): BreakerSnapshot {
    return Object.freeze({
      cluster: this.cluster,
      thresholds: this.#limits,
      activeRequests: this.#active,
      pendingRequests: this.#pending,
      activeRetries: this.#retries,
      overflows: Object.freeze({ ...this.#overflows }),
    });
  }
}
