// The HTTP client's layer stacks, tier by tier, for undici's callback dispatch (the hot path of every meshed call).
//
// Why not STYLE's promise-based `Service`: an undici request already costs ~35 µs of CPU, and the promise, closure
// and request/response objects of a `(req) => Promise<res>` per layer would add a visible share of that to every
// call (see /work/shared/reference/node-libs.md §1.5: one pass-through interceptor alone costs ~5 µs). So the HTTP
// client uses `Stack<DispatchFn>`: a layer is `(next: DispatchFn) => DispatchFn`, composed once per target when
// MeshState changes, and a request only runs plain function calls. Results flow back through undici's handler
// callbacks; a layer that needs to see them wraps the handler (as the timeout layer does), never the options.
//
// The path of one request, outermost first (describeHttpClientStack() prints it):
// - target tier, one per mesh authority (`payments`, `payments:8080`):
//   - `route-match` (router): first route of the virtual host whose path, headers and query match; fails with
//     WEFT_ERR_NO_ROUTE (Gateway API 404) when none does. It is outermost because everything below depends on the
//     route. It also copies the options once and sets `host` to the logical authority; the layers below own that copy.
//   - `trace` (src/telemetry/http-client.ts): the logical-call span and access-log line of the call, only while a
//     TracerProvider is registered or the target's Telemetry logs (one cached check otherwise). Outermost per route
//     (around `metrics`), so what the mesh does below (a fault's answer, a limit's refusal, retries) is inside the call it describes.
//   - `metrics` (telemetry/http-client-metrics.ts): golden metrics of the logical call, when metrics are on: one handler
//     wrapper per call records its method, status (or error kind) and time to the response headers into the route's
//     series, bound at compile time. Outermost of the route, so local aborts, refusals and timeouts below are counted,
//     and one call is one sample whatever its retries do. Calls no route takes are counted under route ''.
//   - `fault`: the route's Envoy fault filter configs (gRFC A33), only on routes that have one: delays a share of calls
//     and answers a share locally (abort). Just below route-match, above everything else of the route, so an abort
//     never reaches split, retry, breaker or the network (nothing to retry, nothing counted against a backend), and a
//     delay is inside the route timeout's clock (the layer starts it itself; see client/http/fault-layer.ts).
//   - `concurrency-limit` (http/policy-dispatch.ts, policy/concurrency/): only on routes whose rule has a
//     ConcurrencyLimit: admits the call while fewer than the limit's calls of the rule are in flight (a fixed number, or
//     Envoy's gradient controller over the calls' latency), else fails it at once with WEFT_ERR_OVERLOADED. Below
//     `fault` (an aborted call takes no slot) and above `split` and `retry`, so one logical call holds one slot
//     whatever its retries do, and the latency it learns from is what the caller waits.
//   - `split` (router): picks one weighted cluster of the route (one Math.random only when there are several). It
//     sits above `timeout` because Envoy picks the cluster once per request; timeout and a future retry act inside it.
// - logical tier, one per (route, cluster):
//   - `timeout`: the route timeout (Envoy RouteAction.timeout), one timer per request, only on routes that have one;
//     fails with WEFT_ERR_TIMEOUT (504). It bounds every attempt the retry layer makes, so the retry layer enforces it
//     itself when it is present (one timer, no extra handler wrapper per call); a separate layer only without one.
//   - `retry` (http/retry-handler.ts): sends an attempt again when the route's classifier (core/classify.ts) says it is
//     retryable and the method, body cap, cluster retry budget and deadline allow; sets `x-weft-attempt` and
//     `x-weft-timeout-ms` (the remaining deadline) per attempt; per-try timeouts. Without a retry policy it still
//     retries, once, a request that provably never reached a server (the safe default). Below `timeout` (one deadline
//     for all attempts) and above `balance`, so each attempt re-picks the endpoint (avoiding the ones already tried).
// - backend tier, one per cluster:
//   - `attempt-metrics` (telemetry/http-client-metrics.ts): counts each retry attempt with the reason the retry layer
//     gave (the status or error kind it retried), when metrics are on. Just below `retry`, where attempts are visible;
//     one property read per attempt, no wrapper.
//   - `circuit-breaker` (http/policy-dispatch.ts, policy/circuit-breaker/): the cluster's Envoy thresholds, only on
//     clusters with circuit_breakers: counts calls in flight and waiting for a connection, shared by every route to
//     the cluster, and fails a call past max_requests / max_pending_requests at once with WEFT_ERR_OVERLOADED (503
//     semantics, `details.reason` names the threshold). Below `retry`, so every attempt is counted and a retry is
//     refused like any call (the retry layer also takes a max_retries slot from it); above `balance`, so a refused
//     call costs no pick. max_connections caps each endpoint pool instead (see policy/circuit-breaker/index.ts).
//   - `balance` (router): the cluster's picker (round robin, random, least request, peak-EWMA or ring hash by the route's
//     hash policy; src/client/balance/) over its available endpoints of the most preferred priority; fails with
//     WEFT_ERR_NO_ENDPOINTS (503). Below the
//     logical tier so that each attempt of a retry re-picks the endpoint (node-libs.md §1.1, measured).
//     With outlier detection the picker holds only the endpoints not ejected, rebuilt when one is ejected or returns.
// - endpoint tier, one per endpoint:
//   - `trace-attempt` (src/telemetry/http-client.ts): for a traced call, the attempt's CLIENT span and its W3C context
//     in the attempt's headers (unless instrumentation-undici does both); one property read for other calls. In the
//     endpoint tier because an attempt is known only once its endpoint is picked.
//   - `outlier-observe` (http/policy-dispatch.ts, policy/outlier/): only on clusters with outlier_detection; reports
//     each attempt's status, or its connect failure / reset / timeout, to the endpoint's record, which may eject it.
//     In the endpoint tier because outcomes are per endpoint; just above `endpoint`, so it sees the transport's view.
//   - `endpoint`: points the request at `http://ip:port` and hands it to that endpoint's keep-alive undici Pool.
//     Innermost: it is the transport.
import type { Dispatcher } from 'undici';
import type { MeshError } from '../core/errors.js';
import { Stack, type Layer } from '../core/stack.js';
import type { RetryPolicy } from '../discovery/mesh-state.js';
import type { RetryBudget } from '../policy/retry/retry-budget.js';
import { compileRetry } from '../policy/retry/retry-config.js';
import { withTimeout } from './http/handlers.js';
import { retry, routeTimeoutError } from './http/retry-handler.js';

/** An undici dispatch function: the `S` of every HTTP client Stack. Must not throw; failures go to the handler. */
export type DispatchFn = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler) => boolean;

/** Target of the logical tier: one cluster of one route of one mesh authority. Plain readonly data. */
export interface LogicalTarget {
  readonly authority: string;
  /** Envoy route name (`HTTPRoute/<name>/rules/<i>/matches/<j>` from Weft's control plane). */
  readonly route: string;
  readonly cluster: string;
  /** Route timeout in ms; undefined = none. */
  readonly timeoutMs: number | undefined;
  /** The route's retry policy; undefined = the safe default. */
  readonly retry?: RetryPolicy;
  /** The destination cluster's retry budget; without one the logical tier has no retry layer. */
  readonly retryBudget?: RetryBudget;
  /** The destination cluster's circuit breaker: the retry layer holds one of its `max_retries` slots per retry. */
  readonly retrySlots?: { tryAcquireRetry(): boolean; releaseRetry(): void };
}

/** Target of the endpoint tier. Plain readonly data. */
export interface EndpointTarget {
  /** `http://<ip>:<port>` (IPv6 in brackets). */
  readonly origin: string;
  readonly address: string;
  readonly port: number;
}

/** Roles of the HTTP client path, outermost first, with what each does (routers included). */
export const HTTP_CLIENT_ROLES: readonly { readonly tier: string; readonly role: string; readonly description: string }[] =
  Object.freeze([
    { tier: 'target', role: 'route-match', description: 'first matching route of the virtual host, or WEFT_ERR_NO_ROUTE (404)' },
    { tier: 'target', role: 'trace', description: 'call span and access-log line (while tracing or the Telemetry logs)' },
    { tier: 'target', role: 'metrics', description: 'golden metrics of the logical call: method, status or error, latency (when metrics are on)' },
    { tier: 'target', role: 'fault', description: 'Envoy fault filter: delay and/or local abort for a share of calls (routes with a fault only)' },
    { tier: 'target', role: 'concurrency-limit', description: 'route rule concurrency limit (fixed or adaptive), or WEFT_ERR_OVERLOADED (503) (routes with one only)' },
    { tier: 'target', role: 'split', description: 'weighted cluster pick, once per request' },
    { tier: 'logical', role: 'timeout', description: 'route timeout, or WEFT_ERR_TIMEOUT (504) (enforced by the retry layer when present)' },
    { tier: 'logical', role: 'retry', description: 'retries by the route classifier, budget and deadline; attempt and deadline headers' },
    { tier: 'logical', role: 'attempt-metrics', description: 'counts retry attempts by reason (when metrics are on)' },
    { tier: 'backend', role: 'circuit-breaker', description: 'cluster thresholds (clusters with circuit_breakers), or WEFT_ERR_OVERLOADED (503)' },
    { tier: 'backend', role: 'balance', description: 'pick an endpoint (the cluster\'s load balancer), or WEFT_ERR_NO_ENDPOINTS (503)' },
    { tier: 'endpoint', role: 'trace-attempt', description: 'attempt CLIENT span and traceparent (traced calls only)' },
    { tier: 'endpoint', role: 'outlier-observe', description: 'reports each attempt outcome to outlier detection (clusters with it)' },
    { tier: 'endpoint', role: 'endpoint', description: 'origin := http://ip:port, dispatch on the endpoint Pool' },
  ]);

/** One line per role of the HTTP client path, outermost first. */
export function describeHttpClientStack(): string {
  return HTTP_CLIENT_ROLES.map((r, i) => `${i + 1}. [${r.tier}] ${r.role} — ${r.description}`).join('\n');
}

/** The route-timeout layer: fails the call with WEFT_ERR_TIMEOUT after `target.timeoutMs` (required). */
export function timeout(target: LogicalTarget & { readonly timeoutMs: number }): Layer<DispatchFn> {
  const { timeoutMs } = target;
  const error = (): MeshError => routeTimeoutError(target, timeoutMs);
  return (next) => (opts, handler) => next(opts, withTimeout(handler, timeoutMs, error));
}

/**
 * The logical tier for `target`: `retry` when the cluster has a budget (it also enforces the route timeout, with one
 * timer per call and no handler wrapper: measured at ~1 µs a call less than a separate layer), else `timeout` alone
 * when the route has one.
 */
export function logicalStack(target: LogicalTarget): Stack<DispatchFn> {
  const timeoutMs = target.timeoutMs !== undefined && target.timeoutMs > 0 ? target.timeoutMs : undefined;
  const layers: { role: string; description: string; layer: Layer<DispatchFn> }[] = [];
  if (timeoutMs !== undefined && target.retryBudget === undefined) {
    layers.push({ role: 'timeout', description: `route timeout ${timeoutMs} ms`, layer: timeout({ ...target, timeoutMs }) });
  }
  if (target.retryBudget !== undefined) {
    const compiled = compileRetry(target.retry);
    layers.push({
      role: 'retry',
      description: target.retry ? `up to ${compiled.maxAttempts} attempts (${target.retry.conditions.join(',')})` : 'safe default: once, if never sent',
      layer: retry({
        authority: target.authority,
        route: target.route,
        cluster: target.cluster,
        timeoutMs,
        retry: compiled,
        budget: target.retryBudget,
        ...(target.retrySlots !== undefined ? { retrySlots: target.retrySlots } : {}),
      }),
    });
  }
  return new Stack<DispatchFn>(layers);
}

/**
 * The endpoint tier's base: points the (mesh-owned) options at the endpoint and dispatches on its pool.
 * `getPool` is called on first use and again if the pool was closed, so idle endpoints cost no pool.
 */
export function endpointDispatch(target: EndpointTarget, getPool: (origin: string) => Dispatcher): DispatchFn {
  const origin = target.origin;
  let pool: Dispatcher | undefined;
  return (opts, handler) => {
    if (pool === undefined || (pool as { closed?: boolean }).closed === true) pool = getPool(origin);
    opts.origin = origin;
    return pool.dispatch(opts, handler);
  };
}
