// The HTTP client's retry layer: sends a request again, through the balancer below it, when the route's classifier
// says an attempt is retryable and the method, body, budget and deadline allow; carries attempt and deadline headers.
import type { Dispatcher } from 'undici';
import type { AttemptOutcome } from '../../core/classify.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { Layer } from '../../core/stack.js';
import { currentDeadline } from '../../policy/deadline/deadline.js';
import { bodyKind, bufferBody } from '../../policy/retry/body.js';
import type { RetryBudget } from '../../policy/retry/retry-budget.js';
import {
  backoffMs,
  MAX_RETRY_AFTER_MS,
  methodRetryable,
  parseRetryAfterMs,
  type CompiledRetry,
} from '../../policy/retry/retry-config.js';
import type { DispatchFn } from '../stack.js';
import { withMeshHeaders } from './attempt-headers.js';
import { failHandler } from './handlers.js';
import { asLegacyHandler, rawHeader, type LegacyHandler } from './legacy-handler.js';
import { undiciOutcome } from './undici-errors.js';

/** Set on an attempt's dispatch options: origins (`http://ip:port`) earlier attempts used; balancers avoid them. */
export const EXCLUDE_ORIGINS: unique symbol = Symbol.for('weft.retry.excludeOrigins') as never;
/** Set on a retry attempt's dispatch options: why the attempt before it was retried (its status, or error kind). */
export const RETRY_REASON: unique symbol = Symbol.for('weft.retry.reason') as never;

/** Timers and clocks of the retry layer (injectable: tests use a fake one, no real sleeps). */
export interface RetryClock {
  /** Monotonic ms. */
  now(): number;
  /** Wall-clock ms since the epoch (for Retry-After dates). */
  epochMs(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The real clock: performance.now(), Date.now() and unref'd timers. */
export const REAL_CLOCK: RetryClock = Object.freeze({
  now: () => performance.now(),
  epochMs: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const t = setTimeout(fn, ms);
    t.unref?.();
    return t;
  },
  clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
});

/** What the retry layer needs for one (route, cluster). */
export interface RetryTarget {
  readonly authority: string;
  readonly route: string;
  readonly cluster: string;
  /** The route timeout (bounds every attempt, and is sent as the remaining deadline); undefined = none. */
  readonly timeoutMs: number | undefined;
  readonly retry: CompiledRetry;
  /** The destination cluster's budget (shared by every route to it). */
  readonly budget: RetryBudget;
  /** The cluster circuit breaker's `max_retries` slots: one is held per retry, from the decision to its attempt's end. */
  readonly retrySlots?: { tryAcquireRetry(): boolean; releaseRetry(): void };
  readonly clock?: RetryClock;
  /** [0, 1) source for backoff jitter; default Math.random. */
  readonly random?: () => number;
}

/** One attempt's undici handler; forwards to its call, which ignores attempts it has given up on. */
class Attempt implements LegacyHandler {
  opts: Dispatcher.DispatchOptions | undefined;
  abort: ((err?: Error) => void) | undefined;
  connected = false;
  /** Given up on (per-try timeout before a connection, or the call ended): a late connection is aborted. */
  stale = false;
  /** True when this attempt's timer is the call's deadline (it ends the call), false when it is the per-try timeout. */
  timerIsDeadline = false;
  dumping = false;
  delivering = false;
  perTryTimedOut = false;
  /** True while this (retry) attempt holds a max_retries slot. */
  slot = false;
  timer: unknown;
  constructor(readonly call: RetryCall) {}
  onConnect(abort: (err?: Error) => void): void {
    this.call.attemptConnect(this, abort);
  }
  onResponseStarted(): void {
    if (!this.stale) this.call.inner.onResponseStarted?.();
  }
  onHeaders(status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    return this.call.attemptHeaders(this, status, raw, resume, text);
  }
  onData(chunk: Buffer): boolean {
    if (this.dumping || this.stale) return true;
    return this.call.inner.onData(chunk);
  }
  onComplete(trailers: Buffer[] | string[] | null): void {
    this.call.attemptComplete(this, trailers);
  }
  onError(err: Error): void {
    this.call.attemptError(this, err);
  }
  onUpgrade(status: number, raw: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.call.attemptUpgrade(this, status, raw, socket);
  }
}

function abortedError(): Error {
  return Object.assign(new Error('Request aborted'), { name: 'AbortError', code: 'UND_ERR_ABORTED' });
}

/** One request through the retry layer: its attempts, backoff timer and deadline. */
class RetryCall {
  readonly inner: LegacyHandler;
  readonly #t: RetryTarget;
  readonly #next: DispatchFn;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #clock: RetryClock;
  /** Whether a response or a may-have-reached error can be retried (method allowed, body replayable). */
  readonly #methodOk: boolean;
  readonly #replayable: boolean;
  /** Absolute deadline on clock.now(): min(route timeout, inbound deadline); undefined = none. */
  readonly #deadlineAt: number | undefined;
  #attempts = 0;
  #current: Attempt | undefined;
  #done = false;
  #abortReason: Error | undefined;
  #backoff: unknown;
  #pendingDelayMs = 0;
  /** A max_retries slot taken for the retry scheduled next (handed to its attempt at launch). */
  #slotHeld = false;
  #tried: string[] | undefined;
  /** Why the next attempt is a retry (the status or error kind of the one before), for metrics and traces. */
  #retryReason = '';

  /** True when the deadline is the route timeout's (not a sooner one the inbound request carried): which error it gives. */
  readonly #routeBound: boolean;

  constructor(
    t: RetryTarget,
    next: DispatchFn,
    opts: Dispatcher.DispatchOptions,
    handler: Dispatcher.DispatchHandler,
    methodOk: boolean,
    replayable: boolean,
    deadlineAt: number | undefined,
    routeBound: boolean,
  ) {
    this.#t = t;
    this.#next = next;
    this.#opts = opts;
    this.#clock = t.clock ?? REAL_CLOCK;
    this.inner = asLegacyHandler(handler);
    this.#methodOk = methodOk;
    this.#replayable = replayable;
    this.#deadlineAt = deadlineAt;
    this.#routeBound = routeBound;
  }

  /**
   * Hands the caller its abort function and sends the first attempt. The deadline (route timeout or the inbound one)
   * needs no timer of its own: each attempt's one timer fires at the per-try timeout or the deadline, whichever is
   * first, and a retry is never scheduled past the deadline (one timer and one clearTimeout per call, not two).
   */
  start(now?: number): void {
    try {
      this.inner.onConnect(this.#userAbort);
    } catch (e: unknown) {
      return this.#fail(e instanceof Error ? e : new Error(String(e)));
    }
    if (this.#abortReason !== undefined) return this.#fail(this.#abortReason);
    this.#launch(now);
  }

  readonly #userAbort = (reason?: Error): void => {
    if (this.#done || this.#abortReason !== undefined) return;
    const err = reason ?? abortedError();
    this.#abortReason = err;
    const a = this.#current;
    if (a !== undefined && a.abort !== undefined) return a.abort(err); // undici answers with onError(err)
    if (a !== undefined) a.stale = true;
    this.#fail(err);
  };

  /** Sends the next attempt; `now` is the clock's time when the caller has just read it (the first attempt). */
  #launch(now?: number): void {
    this.#backoff = undefined;
    const n = ++this.#attempts;
    const t = this.#t;
    const retry = t.retry;
    const perTryMs = retry.perTryTimeoutMs;
    let timerMs = perTryMs;
    let timerIsDeadline = false;
    // The attempt number goes with retries only (its absence means the first attempt), the time left with every
    // attempt of a call that has a deadline.
    let timeoutHeader: string | undefined;
    if (this.#deadlineAt !== undefined) {
      const remaining = Math.floor(this.#deadlineAt - (now ?? this.#clock.now()));
      if (remaining <= 0) return this.#fail(this.#deadlineError());
      if (perTryMs === undefined || remaining <= perTryMs) {
        timerMs = remaining;
        timerIsDeadline = true;
      }
      timeoutHeader = String(timerMs);
    }
    let opts = this.#opts;
    if (timeoutHeader !== undefined || n > 1) opts = { ...opts, headers: withMeshHeaders(this.#opts.headers, n > 1 ? String(n) : undefined, timeoutHeader) };
    if (this.#tried !== undefined) (opts as unknown as Record<symbol, unknown>)[EXCLUDE_ORIGINS] = this.#tried;
    if (n > 1) (opts as unknown as Record<symbol, unknown>)[RETRY_REASON] = this.#retryReason;
    const a = new Attempt(this);
    a.opts = opts;
    a.slot = this.#slotHeld;
    this.#slotHeld = false;
    this.#current = a;
    if (timerMs !== undefined) {
      a.timerIsDeadline = timerIsDeadline;
      a.timer = this.#clock.setTimeout(() => this.#attemptTimeout(a, timerMs), timerMs);
    }
    try {
      this.#next(opts, a);
    } catch (e: unknown) {
      this.attemptError(a, e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** @internal */
  attemptConnect(a: Attempt, abort: (err?: Error) => void): void {
    if (a.stale || this.#done) return abort(this.#abortReason ?? abortedError());
    a.abort = abort;
    a.connected = true;
    if (this.#abortReason !== undefined) abort(this.#abortReason);
  }

  /** @internal */
  attemptHeaders(a: Attempt, status: number, raw: Buffer[], resume: () => void, text: string): boolean {
    if (a.stale || this.#done) return true;
    if (a.slot) {
      a.slot = false; // this retry has its answer: its slot is free before the next retry is decided
      this.#t.retrySlots?.releaseRetry();
    }
    const retry = this.#t.retry;
    if (retry.retriesResponses && this.#methodOk && this.#replayable && this.#attempts < retry.maxAttempts) {
      let grpcStatus: number | undefined;
      if (retry.readsGrpcStatus) {
        const g = rawHeader(raw, 'grpc-status');
        if (g !== undefined) grpcStatus = Number(g);
      }
      const outcome: AttemptOutcome = grpcStatus === undefined ? { kind: 'response', status } : { kind: 'response', status, grpcStatus };
      if (retry.classifier.classify(outcome) === 'retryable') {
        const delay = this.#retryDelay(raw, status);
        if (delay !== undefined) {
          a.dumping = true; // never delivered: read to the end (keeps the connection) and retry
          this.#retryReason = grpcStatus === undefined ? String(status) : `grpc-${grpcStatus}`;
          this.#pendingDelayMs = delay;
          return true;
        }
      }
    }
    a.delivering = true;
    return this.inner.onHeaders(status, raw, resume, text);
  }

  /** @internal */
  attemptComplete(a: Attempt, trailers: Buffer[] | string[] | null): void {
    this.#endAttempt(a);
    if (a.stale || this.#done) return;
    if (a.dumping) return this.#scheduleRetry(a);
    this.#done = true;
    this.inner.onComplete(trailers);
  }

  /** @internal */
  attemptError(a: Attempt, err: Error): void {
    this.#endAttempt(a);
    if (a.stale || this.#done) return;
    if (a.delivering || this.#abortReason !== undefined) return this.#fail(this.#abortReason ?? err);
    if (a.dumping) return this.#scheduleRetry(a); // the response was already judged retryable
    const outcome = undiciOutcome(err, a.connected, a.perTryTimedOut);
    if (this.#t.retry.classifier.classify(outcome) === 'retryable' && this.#attempts < this.#t.retry.maxAttempts) {
      const neverSent = outcome.kind === 'error' && outcome.neverSent;
      if ((neverSent || this.#methodOk) && this.#replayable) {
        const delay = this.#retryDelay(undefined, 0, neverSent);
        if (delay !== undefined) {
          this.#pendingDelayMs = delay;
          this.#retryReason = outcome.kind === 'error' ? outcome.error : 'other';
          return this.#scheduleRetry(a);
        }
      }
    }
    this.#fail(err);
  }

  /** @internal */
  attemptUpgrade(a: Attempt, status: number, raw: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.#endAttempt(a);
    if (a.stale || this.#done) return void socket.destroy();
    this.#done = true;
    this.inner.onUpgrade?.(status, raw, socket);
  }

  /**
   * The wait before the next attempt, or undefined when there is none (no time, too long, or no budget). A retry of an
   * attempt that never reached a server (`free`) does not draw on the budget: it added no load to any server, and
   * the budget exists to keep retries from multiplying load (it is still bounded by the attempt count).
   */
  #retryDelay(raw: Buffer[] | undefined, status: number, free = false): number | undefined {
    const t = this.#t;
    let delay = backoffMs(t.retry, this.#attempts, t.random ?? Math.random);
    if (raw !== undefined && (status === 503 || status === 429)) {
      const after = parseRetryAfterMs(rawHeader(raw, 'retry-after'), (t.clock ?? REAL_CLOCK).epochMs());
      if (after !== undefined && after > delay) delay = after;
    }
    if (raw !== undefined && t.retry.readsGrpcStatus) {
      const pushback = rawHeader(raw, 'grpc-retry-pushback-ms');
      if (pushback !== undefined) {
        const ms = Number(pushback);
        if (!Number.isInteger(ms) || ms < 0) return undefined; // gRFC A6: a malformed or negative pushback means stop
        delay = ms;
      }
    }
    if (this.#deadlineAt !== undefined ? this.#clock.now() + delay >= this.#deadlineAt : delay > MAX_RETRY_AFTER_MS) return undefined;
    const slots = t.retrySlots;
    if (slots !== undefined && !slots.tryAcquireRetry()) return undefined; // max_retries: counted as an overflow
    if (!free && !t.budget.tryRetry()) {
      slots?.releaseRetry();
      return undefined;
    }
    this.#slotHeld = slots !== undefined;
    return delay;
  }

  #scheduleRetry(a: Attempt): void {
    const origin = a.opts?.origin;
    if (typeof origin === 'string') (this.#tried ??= []).push(origin);
    this.#current = undefined;
    this.#backoff = this.#clock.setTimeout(() => {
      if (!this.#done) this.#launch();
    }, this.#pendingDelayMs);
  }

  /** An attempt's timer fired: the call's deadline (the call ends) or the attempt's per-try timeout (it may retry). */
  #attemptTimeout(a: Attempt, ms: number): void {
    a.timer = undefined;
    if (a.stale || this.#done) return;
    if (!a.timerIsDeadline) return this.#perTryTimeout(a, ms);
    const t = this.#t;
    // The route timeout when it is what bounds the call, else the deadline the inbound request carried.
    this.#userAbort(this.#routeBound ? routeTimeoutError(t, t.timeoutMs!) : this.#inboundDeadlineError());
  }

  #perTryTimeout(a: Attempt, perTryMs: number): void {
    a.perTryTimedOut = true;
    const t = this.#t;
    const err = new MeshError(
      ERROR_CODES.TIMEOUT,
      `attempt ${this.#attempts} to ${t.authority} took longer than the ${perTryMs} ms per-try timeout of route '${t.route}' (cluster '${t.cluster}')`,
      { interrupted: true, details: { authority: t.authority, route: t.route, cluster: t.cluster, perTryTimeoutMs: perTryMs, attempt: this.#attempts, status: 504 } },
    );
    if (a.abort !== undefined) return a.abort(err); // undici answers with onError(err) → attemptError
    // Still queued for a connection: judge it here, then give up on it (a late connection is aborted at once).
    this.attemptError(a, err);
    a.stale = true;
  }

  /** An attempt ended (or was given up on): stop its per-try timer, give back its max_retries slot. */
  #endAttempt(a: Attempt): void {
    this.#clearPerTry(a);
    if (a.slot) {
      a.slot = false;
      this.#t.retrySlots?.releaseRetry();
    }
  }

  #clearPerTry(a: Attempt): void {
    if (a.timer !== undefined) {
      this.#clock.clearTimeout(a.timer);
      a.timer = undefined;
    }
  }

  #deadlineError(): MeshError {
    const t = this.#t;
    return new MeshError(ERROR_CODES.TIMEOUT, `the deadline of the call to ${t.authority} (route '${t.route}') passed before attempt ${this.#attempts} could start`, {
      interrupted: true,
      details: { authority: t.authority, route: t.route, cluster: t.cluster, attempt: this.#attempts, status: 504 },
    });
  }

  #inboundDeadlineError(): MeshError {
    const t = this.#t;
    return new MeshError(ERROR_CODES.TIMEOUT, `the deadline the calling request carried passed during attempt ${this.#attempts} to ${t.authority} (route '${t.route}')`, {
      interrupted: true,
      details: { authority: t.authority, route: t.route, cluster: t.cluster, attempt: this.#attempts, status: 504 },
    });
  }

  #fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#backoff !== undefined) this.#clock.clearTimeout(this.#backoff);
    if (this.#slotHeld) {
      this.#slotHeld = false;
      this.#t.retrySlots?.releaseRetry();
    }
    const a = this.#current;
    if (a !== undefined) {
      this.#endAttempt(a);
      a.stale = true;
    }
    try {
      this.inner.onError(err);
    } catch {
      // The handler belongs to the caller; its exception must not escape into undici or a timer.
    }
  }
}

/**
 * The retry layer for one (route, cluster): see RetryCall. When a request cannot be retried at all (a one-attempt
 * policy, a non-idempotent method under a policy, or a body that cannot be replayed) and needs no header or per-try
 * timer, it passes straight through. A streamed body is buffered (up to `maxRequestBytes`) before the first attempt
 * only when a retry is possible. Failures reach the handler as undici's or WEFT_ERR_TIMEOUT (per-try, or a deadline
 * that passed between attempts); an exhausted budget returns the attempt's own failure. The caller's abort works at
 * every point (during backoff too). Never throws.
 */
export function retry(target: RetryTarget): Layer<DispatchFn> {
  const compiled = target.retry;
  const budget = target.budget;
  const clock = target.clock ?? REAL_CLOCK;
  const routeTimeoutMs = target.timeoutMs;
  return (next) => (opts, handler) => {
    budget.onRequest();
    const inbound = currentDeadline();
    // One clock read serves the deadline and the first attempt's remaining time.
    const now = routeTimeoutMs !== undefined || inbound !== undefined ? clock.now() : undefined;
    let deadlineAt: number | undefined = routeTimeoutMs !== undefined ? now! + routeTimeoutMs : undefined;
    let routeBound = deadlineAt !== undefined;
    if (inbound !== undefined && (deadlineAt === undefined || inbound.expiresAt < deadlineAt)) {
      deadlineAt = inbound.expiresAt;
      routeBound = false;
    }
    const methodOk = compiled.configured ? methodRetryable(compiled, opts.method) : true;
    const kind = compiled.maxAttempts > 1 ? bodyKind(opts.body, compiled.maxRequestBytes) : 'opaque';
    if (kind === 'stream' && compiled.configured && methodOk) {
      const body = opts.body as unknown as AsyncIterable<unknown>;
      void bufferBody(body, compiled.maxRequestBytes).then((b) => {
        const o = { ...opts, body: b.body as unknown as Dispatcher.DispatchOptions['body'] };
        new RetryCall(target, next, o, handler, methodOk, b.replayable, deadlineAt, routeBound).start();
      });
      return true;
    }
    const replayable = kind === 'replayable';
    if (!replayable && !compiled.configured && deadlineAt === undefined) return next(opts, handler);
    try {
      new RetryCall(target, next, opts, handler, methodOk, replayable, deadlineAt, routeBound).start(now);
    } catch (e: unknown) {
      return failHandler(handler, new MeshError(ERROR_CODES.INTERNAL, `weft: retry layer failed: ${String(e)}`, { cause: e }));
    }
    return true;
  };
}

/** WEFT_ERR_TIMEOUT (504) for a call that outlasted its route's timeout: what the route timeout fails a call with. */
export function routeTimeoutError(t: { readonly authority: string; readonly route: string; readonly cluster: string }, timeoutMs: number): MeshError {
  return new MeshError(
    ERROR_CODES.TIMEOUT,
    `request to ${t.authority} took longer than the ${timeoutMs} ms timeout of route '${t.route}' (cluster '${t.cluster}')`,
    { interrupted: true, details: { authority: t.authority, route: t.route, cluster: t.cluster, timeoutMs, status: 504 } },
  );
}

/** The origins earlier attempts of a request used (set by the retry layer on a retry's options), or undefined. */
export function retryReason(opts: object): string | undefined {
  return (opts as Record<symbol, string | undefined>)[RETRY_REASON];
}

/** The endpoints earlier attempts of this call used (set on retry attempts only), or undefined. */
export function triedOrigins(opts: object): readonly string[] | undefined {
  return (opts as Record<symbol, readonly string[] | undefined>)[EXCLUDE_ORIGINS];
}
