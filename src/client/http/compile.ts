// Compiles MeshState into per-cluster balancers and per-authority route tables of dispatch functions (once per state).
import type { ClusterState, Endpoint, HashPolicy, MeshState, Route, TargetRoutes, VirtualHost } from '../../discovery/mesh-state.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import type { Disposable } from '../../core/watch.js';
import type { ClusterBreaker } from '../../policy/circuit-breaker/index.js';
import type { OutlierDetector } from '../../policy/outlier/index.js';
import { buildPicker, loadOf, pickAvoiding, tracksLoad, type LoadTable, type Picker } from '../balance/picker.js';
import { endpointKey, type ClusterPolicies, type ClusterPolicyRegistry } from '../cluster-policies.js';
import { requestHash } from '../balance/ring-hash.js';
import { mostPreferred } from '../balance/priority.js';
import { trackLoad } from '../balance/track-load.js';
import { endpointDispatch, logicalStack, type DispatchFn } from '../stack.js';
import type { RetryBudget } from '../../policy/retry/retry-budget.js';
import { effectiveFaults } from '../../policy/fault/index.js';
import { withFaults } from './fault-layer.js';
import { failHandler, respondDirect } from './handlers.js';
import { triedOrigins } from './retry-handler.js';
import { breakerDispatch, concurrencyDispatch, outlierDispatch } from './policy-dispatch.js';
import type { ConcurrencyLimiter, ConcurrencyLimitPolicy } from '../../policy/concurrency/index.js';
import { getHeader, withHost } from './headers.js';
import type { PoolTls } from './pools.js';
import { endpointTls } from '../endpoint-tls.js';
import { compileRoute, selectVirtualHost, type RequestFacts, type RoutePredicate } from './route-match.js';
import type { Dispatcher } from 'undici';
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import { traceHttpAttempt, traceHttpRoute } from '../../telemetry/http-client.js';
import { NO_TELEMETRY } from '../../discovery/telemetry-policy.js';
import { observeAttempt } from './observe-handler.js';
import { attemptMetricsDispatch, clientMetricsDispatch } from '../../telemetry/http-client-metrics.js';
import type { RouteSeries } from '../../telemetry/metrics-registry.js';

/** Golden metrics of a target's routes: the series of (authority, route), made once per compile; undefined = off. */
export type RouteMetricsFor = (authority: string, route: Route | undefined) => RouteSeries;

/** One endpoint of a compiled cluster. */
export interface CompiledEndpoint {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
  /** `http://ip:port`. */
  readonly origin: string;
  /** EDS priority (0 = most preferred); the picker uses the best priority with an available endpoint. */
  readonly priority: number;
  /** The endpoint's locality zone (for zone-aware clusters). */
  readonly zone: string;
  readonly dispatch: DispatchFn;
}

/** A cluster ready for traffic: its state, its round-robin picker and its `balance` dispatch. */
export interface CompiledBackend {
  readonly cluster: ClusterState;
  /**
   * The picker of the cluster's LoadBalancerPolicy over the available (not ejected) endpoints; rebuilt with
   * balance/picker.ts buildPicker() when an endpoint is ejected or returns.
   */
  readonly picker: Picker<CompiledEndpoint>;
  /** Per-endpoint load (in flight, latency EWMA) read by least-request and peak-EWMA; carried across swaps by origin. */
  readonly loads: LoadTable;
  /**
   * The cluster's circuit breaker, shared by every route to it and carried across MeshState swaps; undefined when
   * the Cluster has no circuit_breakers. The retry layer takes `tryAcquireRetry()` / `releaseRetry()` from it.
   */
  readonly breaker: ClusterBreaker | undefined;
  /** The cluster's outlier detector (carried across swaps); undefined when outlier detection is off. */
  readonly outlier: OutlierDetector | undefined;
  /** Stops listening to the detector (called when this compiled backend is replaced). */
  readonly dispose: () => void;
  /** The cluster's retry budget, shared by every route to it and carried across MeshState swaps. */
  readonly retryBudget: RetryBudget;
  /**
   * Balance to an endpoint, or WEFT_ERR_NO_ENDPOINTS; `route`/`authority` name the caller in the error. `hashPolicy` is
   * the route's ring-hash key (read only when the cluster balances by ring hash).
   */
  dispatchFor(authority: string, route: string, hashPolicy?: readonly HashPolicy[]): DispatchFn;
}

/** A route of a compiled target. */
export interface CompiledRoute {
  readonly route: Route;
  readonly matches: RoutePredicate;
  /** True when the route matches every request (prefix '/' and no other condition). */
  readonly matchesAll: boolean;
  readonly dispatch: DispatchFn;
}

/** A mesh authority compiled against one MeshState. Immutable. */
export interface CompiledTarget {
  readonly authority: string;
  readonly routes: TargetRoutes;
  /** The virtual host chosen for the authority, if any. */
  readonly virtualHost: VirtualHost | undefined;
  readonly compiledRoutes: readonly CompiledRoute[];
  /** The `route-match` router. */
  readonly dispatch: DispatchFn;
}

/** `http://ip:port`, with IPv6 literals in brackets (the endpoint key of cluster-policies.ts). */
export const endpointOrigin = endpointKey;

/** Every endpoint origin named by any cluster of `state`. */
export function endpointOrigins(state: MeshState): Set<string> {
  const out = new Set<string>();
  for (const c of state.clusters.values()) for (const e of c.endpoints) out.add(endpointOrigin(e.address, e.port));
  return out;
}

/**
 * The ring-hash `sourceIP` key of calls from this process. In an in-process mesh the caller is the process itself, so
 * every call it makes hashes alike (what a sidecar sees of its one application, too).
 */
const SOURCE_IP = 'self';

/** The endpoint pool of `origin`: plaintext, or mTLS to a server that must present one of `tls.peerIds`. */
export type GetPool = (origin: string, maxConnections?: number, tls?: PoolTls) => Dispatcher;

function compileBackend(
  cluster: ClusterState,
  getPool: GetPool,
  previous: CompiledBackend | undefined,
  policies: ClusterPolicies,
  mtls: boolean,
  telemetry: MeshTelemetry | undefined,
): CompiledBackend {
  previous?.dispose();
  const origins = policies.endpointKeys;
  const { outlier, breaker, loads } = policies;
  // circuit_breakers max_connections caps each endpoint's pool (Envoy caps the cluster's total; see policy/circuit-breaker).
  const maxConnections = cluster.circuitBreaker?.maxConnections;

  const lb = cluster.lb;
  const nowMs = (): number => performance.now();
  const track = tracksLoad(lb);
  const decayMs = lb?.kind === 'peak-ewma' ? lb.decayMs : 10_000;
  const endpoints = cluster.endpoints.map((e: Endpoint, i): CompiledEndpoint => {
    const origin = origins[i]!;
    const tls = endpointTls(cluster, e, mtls);
    const base =
      tls === 'missing'
        ? identityRequired(cluster.name, origin)
        : endpointDispatch({ origin, address: e.address, port: e.port }, tls === 'plaintext' ? (o) => getPool(o, maxConnections) : (o) => getPool(o, maxConnections, tls));
    const observed = outlier ? outlierDispatch(outlier.health(origin), base) : base;
    // least-request / peak-EWMA only: count calls in flight and their latency (one handler wrapper per call).
    const tracked = track ? trackLoad(observed, loadOf(loads, origin, nowMs()), decayMs, nowMs) : observed;
    // `trace-attempt`: an attempt span (and traceparent) for calls the route traced; one property read otherwise.
    const ejected = outlier ? (o: string) => outlier.isEjected(o) : undefined;
    const dispatch = telemetry ? traceHttpAttempt(cluster.name, { origin, address: e.address, port: e.port }, ejected, observeAttempt, tracked) : tracked;
    return { address: e.address, port: e.port, weight: e.weight, origin, priority: e.priority ?? 0, zone: e.locality.zone, dispatch };
  });
  const preferZone = policies.preferZone;
  const available = (): readonly CompiledEndpoint[] => mostPreferred(outlier ? endpoints.filter((e) => !outlier.isEjected(e.origin)) : endpoints, preferZone);
  // The rebuild seam: the picker is rebuilt from the available endpoints whenever the outlier detector changes them.
  let picker: Picker<CompiledEndpoint> = buildPicker(lb, available(), previous?.picker, loads);
  const subscription: Disposable | undefined = outlier?.onChange(() => {
    picker = buildPicker(lb, available(), picker, loads);
  });
  const name = cluster.name;
  const retryBudget = policies.retryBudget;
  const balance = (authority: string, route: string, hashPolicy: readonly HashPolicy[] | undefined): DispatchFn => {
    if (picker.size === 0) {
      const known = cluster.endpointsKnown;
      return (_opts, handler) =>
        failHandler(
          handler,
          new MeshError(
            ERROR_CODES.NO_ENDPOINTS,
            known
              ? `cluster '${name}' (route '${route}' of ${authority}) has no endpoints: no instance is registered or healthy`
              : `cluster '${name}' (route '${route}' of ${authority}) has no endpoints yet: its assignment (EDS) has not arrived`,
            { rejected: true, details: { authority, route, cluster: name, endpointsKnown: known, status: 503 } },
          ),
        );
    }
    if (picker.size === 1 && outlier === undefined) return picker.items[0]!.dispatch;
    if (lb?.kind === 'ring-hash' && hashPolicy !== undefined && hashPolicy.length > 0) {
      return (opts, handler) => picker.pick(requestHash(hashPolicy, opts.headers, getHeader, SOURCE_IP)).dispatch(opts, handler);
    }
    return (opts, handler) => {
      const tried = triedOrigins(opts);
      // One property read when the request is not a retry; a retry avoids the endpoints its earlier attempts used.
      return (tried === undefined ? picker.pick() : pickAvoiding(picker, (e) => tried.includes(e.origin))).dispatch(opts, handler);
    };
  };
  return {
    cluster,
    retryBudget,
    get picker() {
      return picker;
    },
    loads,
    breaker,
    outlier,
    dispose: () => subscription?.dispose(),
    dispatchFor(authority, route, hashPolicy) {
      const dispatch = balance(authority, route, hashPolicy);
      return breaker === undefined ? dispatch : breakerDispatch(breaker, authority, route, dispatch);
    },
  };
}

/**
 * Compiles every cluster of `state`, reusing the previous compiled backend when its ClusterState is the same object
 * (so its round-robin position and pools carry over), and carrying the position over otherwise. Breakers, budgets,
 * outlier detectors and loads come from `registry` (shared with the gRPC client; it closes clusters that leave).
 */
export function compileBackends(
  state: MeshState,
  previous: ReadonlyMap<string, CompiledBackend>,
  getPool: GetPool,
  registry: ClusterPolicyRegistry,
  mtls = false,
  telemetry?: MeshTelemetry,
): Map<string, CompiledBackend> {
  const policies = registry.forState(state);
  const out = new Map<string, CompiledBackend>();
  for (const [name, cluster] of state.clusters) {
    const old = previous.get(name);
    out.set(name, old !== undefined && old.cluster === cluster ? old : compileBackend(cluster, getPool, old, policies.get(name)!, mtls, telemetry));
  }
  for (const [name, old] of previous) if (!state.clusters.has(name)) closeBackend(old);
  return out;
}

/** Releases what a compiled backend holds (its outlier subscription); for clusters that left and on close. */
export function closeBackend(backend: CompiledBackend): void {
  backend.dispose();
}

/** An endpoint of a STRICT destination, for a process with no workload identity: every call fails at once. */
function identityRequired(cluster: string, origin: string): DispatchFn {
  return (_opts, handler) =>
    failHandler(
      handler,
      new MeshError(
        ERROR_CODES.IDENTITY,
        `cluster '${cluster}' takes mTLS only (its Service is STRICT) and this process has no workload identity: give it a bootstrap token (WEFT_TOKEN)`,
        { rejected: true, details: { cluster, endpoint: origin, status: 503 } },
      ),
    );
}

function missingCluster(authority: string, route: string, cluster: string): DispatchFn {
  return (_opts, handler) =>
    failHandler(
      handler,
      new MeshError(ERROR_CODES.NO_ENDPOINTS, `cluster '${cluster}' (route '${route}' of ${authority}) is not known yet`, {
        rejected: true,
        details: { authority, route, cluster, endpointsKnown: false, status: 503 },
      }),
    );
}

function compileSplit(authority: string, route: Route, backends: ReadonlyMap<string, CompiledBackend>, random: () => number, series?: RouteSeries): DispatchFn {
  const action = route.action;
  if (action.kind === 'direct') {
    const { status, body } = action;
    return (_opts, handler) => respondDirect(handler, status, body);
  }
  const legs = action.clusters.map((wc) => {
    const backend = backends.get(wc.cluster);
    const target = { authority, route: route.name, cluster: wc.cluster, timeoutMs: action.timeoutMs, retry: action.retry, retryBudget: backend?.retryBudget, retrySlots: backend?.breaker };
    const balanced = backend ? backend.dispatchFor(authority, route.name, action.hashPolicy) : missingCluster(authority, route.name, wc.cluster);
    // `metrics` (attempts): just below `retry`, it counts each retry attempt with its reason.
    const base = series === undefined ? balanced : attemptMetricsDispatch(series, balanced);
    return { weight: wc.weight, dispatch: logicalStack(target).compose(base) };
  });
  if (legs.length === 1) return legs[0]!.dispatch;
  const total = action.totalWeight;
  const cumulative = new Float64Array(legs.length);
  let sum = 0;
  legs.forEach((leg, i) => (cumulative[i] = sum += leg.weight));
  const dispatches = legs.map((l) => l.dispatch);
  const last = dispatches.length - 1;
  return (opts, handler) => {
    const r = random() * total;
    let i = 0;
    while (i < last && r >= cumulative[i]!) i++;
    return dispatches[i]!(opts, handler);
  };
}

/**
 * Compiles the route table of `authority`: the `route-match` router over per-route `split` routers. The router copies
 * the request options once (adding `host: <authority>`), and every layer below may set fields on that copy.
 */
export function compileTarget(
  authority: string,
  routes: TargetRoutes,
  backends: ReadonlyMap<string, CompiledBackend>,
  random: () => number,
  limiterFor?: (policy: ConcurrencyLimitPolicy) => ConcurrencyLimiter,
  metrics?: RouteMetricsFor,
  telemetry?: MeshTelemetry,
): CompiledTarget {
  const virtualHost = selectVirtualHost(routes.virtualHosts, authority);
  const telemetryPolicy = routes.telemetry ?? NO_TELEMETRY;
  // `trace` (outermost per route, around metrics and fault): the call span and access-log line (src/telemetry/http-client.ts).
  const traced = (route: string, d: DispatchFn): DispatchFn => (telemetry ? traceHttpRoute(telemetry, authority, route, telemetryPolicy, observeAttempt, d) : d);
  const compiledRoutes: CompiledRoute[] = (virtualHost?.routes ?? []).map((route) => {
    const series = metrics?.(authority, route);
    const inner = withFaults(
      effectiveFaults(routes, virtualHost, route),
      { authority, route: route.name, timeoutMs: route.action.kind === 'forward' ? route.action.timeoutMs : undefined, random },
      route.concurrencyLimit !== undefined && limiterFor !== undefined
        ? concurrencyDispatch(limiterFor(route.concurrencyLimit), authority, route.name, compileSplit(authority, route, backends, random, series))
        : compileSplit(authority, route, backends, random, series),
    );
    return {
      route,
      matches: compileRoute(route),
      matchesAll:
        route.headers.length === 0 &&
        route.queryParams.length === 0 &&
        ((route.path.kind === 'prefix' && (route.path.value === '/' || route.path.value === '')) ||
          (route.path.kind === 'separated-prefix' && route.path.value === '/')),
      // `metrics` (logical call) is outermost per route, so fault aborts and concurrency refusals count. Then `fault`
      // (Envoy fault filter): an abort never reaches split, retry or the network (no layer at all on routes without a
      // fault). Then the route rule's `concurrency-limit`, on routes that have one: a faulted-away call takes no slot.
      dispatch: traced(route.name, series === undefined ? inner : clientMetricsDispatch(series, inner)),
    };
  });
  const noRoute = (method: string, path: string): MeshError =>
    new MeshError(
      ERROR_CODES.NO_ROUTE,
      virtualHost === undefined
        ? `no virtual host of route config '${routes.routeConfig}' serves ${authority}`
        : `no route of ${authority} matches ${method} ${path} (route config '${routes.routeConfig}', ${compiledRoutes.length} routes; Gateway API answers 404); mesh.explain(url) shows why each route did not match`,
      {
        rejected: true,
        nonRetryable: true,
        details: { authority, listener: routes.listener, routeConfig: routes.routeConfig, virtualHost: virtualHost?.name, method, path, status: 404 },
      },
    );
  // A call no route takes still counts, under route ''.
  const noRouteSeries = metrics?.(authority, undefined);
  const failNoRoute = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, method: string, raw: string): boolean =>
    noRouteSeries === undefined
      ? failHandler(handler, noRoute(method, raw))
      : clientMetricsDispatch(noRouteSeries, (_o, h) => failHandler(h, noRoute(method, raw)))(opts, handler);
  const first = compiledRoutes[0];
  const table = compiledRoutes;
  const n = table.length;
  const forward = (opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, r: CompiledRoute): boolean =>
    r.dispatch({ ...opts, headers: withHost(opts.headers, authority) }, handler);
  const dispatch: DispatchFn = (opts, handler) => {
    if (first !== undefined && first.matchesAll) return forward(opts, handler, first);
    const raw = opts.path;
    const q = raw.indexOf('?');
    const facts: RequestFacts = {
      method: opts.method,
      path: q < 0 ? raw : raw.slice(0, q),
      query: q < 0 ? '' : raw.slice(q + 1),
      headers: opts.headers,
      authority,
      scheme: 'http',
    };
    for (let i = 0; i < n; i++) {
      const r = table[i]!;
      if (r.matchesAll || r.matches(facts)) return forward(opts, handler, r);
    }
    return failNoRoute(opts, handler, facts.method, raw);
  };
  return Object.freeze({ authority, routes, virtualHost, compiledRoutes: Object.freeze(compiledRoutes), dispatch });
}
