// Request deadlines across hops: the header that carries the remaining time, the server-side Deadline a handler reads,
// and the async context that lets a call made inside a request inherit what is left of that request's deadline.
import { AsyncLocalStorage } from 'node:async_hooks';

/** Header carrying the caller's remaining deadline in whole ms (like Envoy's x-envoy-expected-rq-timeout-ms). */
export const TIMEOUT_HEADER = 'x-weft-timeout-ms';

/** A request's deadline as a server handler sees it. */
export interface Deadline {
  /** The budget the caller sent, ms. */
  readonly timeoutMs: number;
  /** When it passes, on the `performance.now()` clock (ms). */
  readonly expiresAt: number;
  /** Aborts when the deadline passes (reason: a TimeoutError DOMException) or the request ends first (AbortError). */
  readonly signal: AbortSignal;
  /** Ms left (≤ 0 once passed). */
  remainingMs(): number;
}

const storage = new AsyncLocalStorage<Deadline>();
const byRequest = new WeakMap<object, Deadline>();
/** True once any server has run a handler with a deadline: until then, clients never look at the async context. */
let contextUsed = false;

/**
 * Parses a TIMEOUT_HEADER value: a non-negative integer of ms. Returns undefined when absent or malformed (a bad
 * header is ignored rather than failing the request). Never throws.
 */
export function parseTimeoutHeader(value: string | string[] | undefined): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.length === 0 || v.length > 12) return undefined;
  const n = Number(v);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** Runs `fn` with `deadline` as the current request deadline (inherited by every call `fn` makes, sync or async). */
export function runWithDeadline<T>(deadline: Deadline, fn: () => T): T {
  contextUsed = true;
  return storage.run(deadline, fn);
}

/**
 * The deadline of the server request being handled on this async path, if any. Costs one boolean test until some
 * server has handled a request that carried a deadline (AsyncLocalStorage is not touched before that).
 */
export function currentDeadline(): Deadline | undefined {
  return contextUsed ? storage.getStore() : undefined;
}

/**
 * A Deadline of `timeoutMs` from now whose signal aborts when it passes; `dispose()` clears the timer and aborts the
 * signal (reason: an AbortError DOMException) if it has not yet, so work tied to the request stops when the request
 * ends (call it when the response closes). One timer per request, unref'd.
 */
export function startDeadline(timeoutMs: number, now: () => number = () => performance.now()): Deadline & { dispose(): void } {
  const controller = new AbortController();
  const expiresAt = now() + timeoutMs;
  const timer = setTimeout(() => controller.abort(new DOMException(`the caller's ${timeoutMs} ms deadline passed`, 'TimeoutError')), timeoutMs);
  timer.unref?.();
  return {
    timeoutMs,
    expiresAt,
    signal: controller.signal,
    remainingMs: () => expiresAt - now(),
    dispose: () => {
      clearTimeout(timer);
      if (!controller.signal.aborted) controller.abort(new DOMException('the request ended', 'AbortError'));
    },
  };
}

/** Remembers `deadline` as the deadline of server request `req` (read with deadlineOf). */
export function setRequestDeadline(req: object, deadline: Deadline): void {
  byRequest.set(req, deadline);
}

/**
 * The deadline a Weft server (mesh.serve) read from request `req`'s x-weft-timeout-ms header, or undefined when the
 * caller sent none. Its `signal` aborts when the time is up (or the request ends): pass it to work you can cancel.
 */
export function deadlineOf(req: object): Deadline | undefined {
  return byRequest.get(req);
}
