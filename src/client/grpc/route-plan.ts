// Compiles a mesh target's routes into a grpc-js ConfigSelector (gRFC A31), once per MeshState: per call it matches the
// route (GRPCRoute service/method and header matches, Envoy semantics), picks the weighted cluster, and hands grpc-js
// the route's deadline and retry policy (gRFC A6, as grpc-js-xds does for A44) plus the fault filter (A33). The
// load-balancer policy (lb-policy.ts) reads `pickInformation` to pick within the chosen cluster.
import type { experimental, Metadata, MethodConfig, RetryPolicy as GrpcRetryPolicy, StatusObject } from '@grpc/grpc-js';
import { GRPC_STATUS } from '../../core/classify.js';
import { ERROR_CODES, MeshError } from '../../core/errors.js';
import { grpcStatusOf } from './status-map.js';
import type { FaultPolicy, HashPolicy, Route, RetryPolicy, TargetRoutes, VirtualHost } from '../../discovery/mesh-state.js';
import { currentDeadline } from '../../policy/deadline/index.js';
import { effectiveFaults, FaultInjector, grpcStatusForHttp } from '../../policy/fault/index.js';
import type { ConcurrencyLimiter, ConcurrencyLimitPolicy } from '../../policy/concurrency/index.js';
import { requestHash } from '../balance/ring-hash.js';
import { compileRoute, selectVirtualHost, type RequestFacts, type RoutePredicate } from '../http/route-match.js';
import type { GrpcJs } from './grpc-js.js';
import type { MeshMetrics } from '../../telemetry/mesh-metrics.js';
import { grpcClientMetrics } from '../../telemetry/grpc-metrics.js';
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import { traceGrpcCall } from '../../telemetry/grpc-client.js';
import { grpcInstrumented } from '../../telemetry/tracing.js';
import { NO_TELEMETRY } from '../../discovery/telemetry-policy.js';

type ConfigSelector = experimental.ConfigSelector;
type Filter = experimental.Filter;
type FilterFactory<T extends Filter> = experimental.FilterFactory<T>;

/** A grpc-js CallConfig (the ConfigSelector's answer; grpc-js does not export the type by name). */
export type CallConfig = ReturnType<ConfigSelector['invoke']>;

/** Keys of `pickInformation` the LB policy reads. */
export const PICK = Object.freeze({
  /** Cluster chosen by the route. */
  cluster: 'weft.cluster',
  /** Route name, for error messages. */
  route: 'weft.route',
  /** Ring-hash key (decimal), when the route has a hash policy. */
  hash: 'weft.hash',
  /** Set when the call must fail in the picker: its gRPC status code (decimal). */
  failCode: 'weft.fail_code',
  /** The failure's message. */
  failDetails: 'weft.fail_details',
  /**
   * On calls grpc-js may retry (the route has a retry policy): the endpoints earlier attempts of the call went to
   * (`ip:port` keys, comma-separated; '' before the first pick). grpc-js hands every attempt of a call the same
   * pickInformation object, so the picker records each pick here and a retry avoids those endpoints (Envoy's
   * previous_hosts predicate, as the HTTP retry layer does).
   */
  tried: 'weft.tried',
});

/** The gRPC status codes grpc-js retries under each Envoy `retry_on` gRPC name (gRFC A44). */
const RETRY_ON_CODES: Readonly<Record<string, number>> = Object.freeze({
  cancelled: GRPC_STATUS.CANCELLED,
  'deadline-exceeded': GRPC_STATUS.DEADLINE_EXCEEDED,
  internal: GRPC_STATUS.INTERNAL,
  'resource-exhausted': GRPC_STATUS.RESOURCE_EXHAUSTED,
  unavailable: GRPC_STATUS.UNAVAILABLE,
});

/** grpc-js caps attempts at 5 (`grpc-node.retry_max_attempts_limit`); more would be clamped silently, so Weft clamps. */
export const GRPC_MAX_ATTEMPTS = 5;

function duration(ms: number): string {
  return `${(ms / 1000).toFixed(3)}s`;
}

/**
 * The grpc-js retry policy for a route's retry policy: the gRPC codes its `retry_on` names, 1 + num_retries attempts
 * (at most 5), Envoy's backoff base and cap with multiplier 2. Undefined when nothing would be retried: grpc-js then
 * only retries transparently what never reached the server (the safe default). per_try_timeout has no A6 equivalent.
 */
export function grpcRetryPolicy(retry: RetryPolicy | undefined): GrpcRetryPolicy | undefined {
  if (retry === undefined || retry.numRetries < 1) return undefined;
  const codes = retry.conditions.flatMap((c) => (RETRY_ON_CODES[c] === undefined ? [] : [RETRY_ON_CODES[c]!]));
  if (codes.length === 0) return undefined;
  return {
    maxAttempts: Math.min(GRPC_MAX_ATTEMPTS, 1 + retry.numRetries),
    initialBackoff: duration(Math.max(1, retry.baseIntervalMs)),
    maxBackoff: duration(Math.max(1, retry.maxIntervalMs)),
    backoffMultiplier: 2,
    retryableStatusCodes: codes,
  };
}

/** The grpc-js method config of a route: its timeout (deadline) and retry policy. */
export function methodConfigFor(timeoutMs: number | undefined, retry: RetryPolicy | undefined): MethodConfig {
  const config: { -readonly [K in keyof MethodConfig]: MethodConfig[K] } = { name: [] };
  if (timeoutMs !== undefined && timeoutMs > 0) config.timeout = { seconds: Math.floor(timeoutMs / 1000), nanos: (timeoutMs % 1000) * 1e6 };
  const retryPolicy = grpcRetryPolicy(retry);
  if (retryPolicy !== undefined) config.retryPolicy = retryPolicy;
  return Object.freeze(config);
}

/** First string value of a metadata key (binary `-bin` keys are never matched). */
export function metadataValue(md: Metadata, lowerName: string): string | undefined {
  const values = md.get(lowerName);
  for (const v of values) if (typeof v === 'string') return values.length === 1 ? v : values.filter((x) => typeof x === 'string').join(',');
  return undefined;
}

/** The plain headers a route matcher reads, from call metadata (string values only, joined with ',' when repeated). */
function headersOf(md: Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, values] of Object.entries(md.toJSON())) {
    if (key.endsWith('-bin')) continue;
    const strings = (values as unknown[]).filter((v): v is string => typeof v === 'string');
    if (strings.length > 0) out[key] = strings.join(',');
  }
  return out;
}

/** The grpc-js dynamic filter of a route's Envoy fault filters: delay and abort before the call is sent (gRFC A33). */
class FaultFilter implements Filter {
  readonly #injectors: readonly FaultInjector<Metadata>[];
  readonly #grpc: GrpcJs;
  readonly #describe: string;

  constructor(injectors: readonly FaultInjector<Metadata>[], grpc: GrpcJs, describe: string) {
    this.#injectors = injectors;
    this.#grpc = grpc;
    this.#describe = describe;
  }

  async sendMetadata(metadata: Promise<Metadata>): Promise<Metadata> {
    const md = await metadata;
    for (const injector of this.#injectors) {
      const decision = injector.decide(md);
      if (decision === undefined) continue;
      if (decision.delayMs > 0) {
        await new Promise((resolve) => setTimeout(resolve, decision.delayMs));
        if (decision.holdsSlot) injector.release();
      }
      if (decision.abort !== undefined) {
        const status: StatusObject = {
          code: decision.abort.grpcStatus,
          details: `weft: fault injected by ${this.#describe}: aborted with gRPC status ${decision.abort.grpcStatus}`,
          metadata: new this.#grpc.Metadata(),
        };
        throw status;
      }
    }
    return md;
  }
  receiveMetadata(metadata: Metadata): Metadata {
    return metadata;
  }
  sendMessage<T>(message: Promise<T>): Promise<T> {
    return message;
  }
  receiveMessage(message: Promise<Buffer>): Promise<Buffer> {
    return message;
  }
  receiveTrailers(status: StatusObject): StatusObject {
    return status;
  }
}

/**
 * The grpc-js dynamic filter of a route rule's concurrency limit: takes a slot before the call is sent (or fails it at
 * once with WEFT_ERR_OVERLOADED as UNAVAILABLE; grpc-js does not retry a status a filter ends the call with) and gives
 * it back with the call's latency (to its response headers) when the call ends, whatever ends it. One filter object
 * per call, only on routes with a limit. The same limiter counts the rule's HTTP calls.
 */
class ConcurrencyLimitFilter implements Filter {
  readonly #limiter: ConcurrencyLimiter;
  readonly #refuse: () => StatusObject;
  #acquired = false;
  #ended = false;
  #startMs = 0;
  #respondedMs = -1;

  constructor(limiter: ConcurrencyLimiter, refuse: () => StatusObject) {
    this.#limiter = limiter;
    this.#refuse = refuse;
  }

  async sendMetadata(metadata: Promise<Metadata>): Promise<Metadata> {
    const md = await metadata;
    // The call may have ended while an earlier filter (a fault's delay) held it: its deadline passed or its caller
    // cancelled, and grpc-js has already run receiveTrailers. A slot taken now would never be given back.
    if (this.#ended) throw this.#refuse();
    if (!this.#limiter.tryAcquire()) throw this.#refuse();
    this.#acquired = true;
    this.#startMs = this.#limiter.clock();
    return md;
  }
  receiveMetadata(metadata: Metadata): Metadata {
    if (this.#respondedMs < 0) this.#respondedMs = this.#limiter.clock();
    return metadata;
  }
  sendMessage<T>(message: Promise<T>): Promise<T> {
    return message;
  }
  receiveMessage(message: Promise<Buffer>): Promise<Buffer> {
    return message;
  }
  receiveTrailers(status: StatusObject): StatusObject {
    this.#ended = true;
    if (this.#acquired) {
      this.#acquired = false;
      const limiter = this.#limiter;
      const responded = this.#respondedMs >= 0;
      const latency = (responded ? this.#respondedMs : limiter.clock()) - this.#startMs;
      // A call its caller cancelled says nothing about the route's latency (`other`); any status is an answer.
      limiter.ended(status.code === GRPC_STATUS.CANCELLED ? 'other' : undefined, true, responded, latency);
    }
    return status;
  }
}

function limitFactory(limiter: ConcurrencyLimiter, grpc: GrpcJs, authority: string, route: string): FilterFactory<Filter> {
  const refuse = (): StatusObject => {
    const { code, details } = grpcStatusOf(limiter.overflowError(authority, route));
    return { code, details, metadata: new grpc.Metadata() };
  };
  return { createFilter: () => new ConcurrencyLimitFilter(limiter, refuse) };
}

function faultFactories(policies: readonly FaultPolicy[], grpc: GrpcJs, describe: string, random: () => number): FilterFactory<Filter>[] {
  if (policies.length === 0) return [];
  const injectors = policies.map((p) => new FaultInjector<Metadata>(p, metadataValue, { random }));
  return [{ createFilter: () => new FaultFilter(injectors, grpc, describe) }];
}

/**
 * Counts gRPC retry attempts per route (series cached per route). grpc-js retries only the route's retryable status
 * codes, or transparently a call that never reached a server; the picker cannot tell which, hence the one reason.
 */
function retryCounter(metrics: MeshMetrics, authority: string, retryOf: (route: string) => RetryPolicy | undefined): (route: string) => void {
  const series = new Map<string, ReturnType<MeshMetrics['outboundSeries']>>();
  return (route) => {
    let s = series.get(route);
    if (s === undefined) series.set(route, (s = metrics.outboundSeries('grpc', authority, route, retryOf(route))));
    s.retried('retryable-status');
  };
}

/** `config` with a deadline of at most `remainingMs` (the route's own timeout stays when it is sooner). */
function withInheritedDeadline(config: CallConfig, remainingMs: number): CallConfig {
  const ms = Math.max(0, Math.floor(remainingMs));
  const own = config.methodConfig.timeout;
  if (own !== undefined && own.seconds * 1000 + own.nanos / 1e6 <= ms) return config;
  return { ...config, methodConfig: { ...config.methodConfig, timeout: { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 } } };
}

/** One route of a compiled plan. */
interface PlannedRoute {
  readonly route: Route;
  readonly matches: RoutePredicate;
  readonly matchesAll: boolean;
  /** Picks the call's config (cluster by weight); `md` is read only for ring-hash keys. */
  readonly select: (md: Metadata) => CallConfig;
}

/** A mesh target compiled for gRPC: its ConfigSelector and the clusters its routes name. */
export interface GrpcTargetPlan {
  readonly authority: string;
  readonly routes: TargetRoutes;
  readonly virtualHost: VirtualHost | undefined;
  /** Every cluster a route of the virtual host names (the LB policy connects to their endpoints). */
  readonly clusters: ReadonlySet<string>;
  readonly configSelector: ConfigSelector;
  /** Counts a retry attempt of a call routed by `route` (golden metrics; the picker calls it); undefined = metrics off. */
  readonly onRetry?: ((route: string) => void) | undefined;
}

/** A CallConfig that makes the picker fail the call with `error`'s gRPC status (status-map.ts). */
export function failWith(error: MeshError): CallConfig {
  const { code, details } = grpcStatusOf(error);
  return failConfig(code, details);
}

function failConfig(code: number, details: string): CallConfig {
  return {
    methodConfig: { name: [] },
    pickInformation: { [PICK.failCode]: String(code), [PICK.failDetails]: details },
    status: GRPC_STATUS.OK,
    dynamicFilterFactories: [],
  };
}

function planRoute(
  authority: string,
  routes: TargetRoutes,
  vh: VirtualHost | undefined,
  route: Route,
  grpc: GrpcJs,
  random: () => number,
  limiterFor: ((policy: ConcurrencyLimitPolicy) => ConcurrencyLimiter) | undefined,
): PlannedRoute {
  const matchesAll =
    route.headers.length === 0 &&
    route.queryParams.length === 0 &&
    ((route.path.kind === 'prefix' && (route.path.value === '/' || route.path.value === '')) ||
      (route.path.kind === 'separated-prefix' && route.path.value === '/'));
  const base = { route, matches: compileRoute(route), matchesAll };
  const action = route.action;
  if (action.kind === 'direct') {
    const config = failConfig(grpcStatusForHttp(action.status), `route '${route.name}' of ${authority} answers directly with HTTP ${action.status}`);
    return { ...base, select: () => config };
  }
  const methodConfig = methodConfigFor(action.timeoutMs, action.retry);
  const faults = faultFactories(effectiveFaults(routes, vh, route), grpc, `route '${route.name}' of ${authority}`, random);
  // Fault first: a call the fault filter aborts takes no slot of the concurrency limit.
  const filters =
    route.concurrencyLimit !== undefined && limiterFor !== undefined
      ? [...faults, limitFactory(limiterFor(route.concurrencyLimit), grpc, authority, route.name)]
      : faults;
  const configs = action.clusters.map(
    (wc): CallConfig =>
      Object.freeze({
        methodConfig,
        pickInformation: Object.freeze({ [PICK.cluster]: wc.cluster, [PICK.route]: route.name }),
        status: GRPC_STATUS.OK,
        dynamicFilterFactories: filters,
      }),
  );
  const hashPolicy: readonly HashPolicy[] | undefined = action.hashPolicy !== undefined && action.hashPolicy.length > 0 ? action.hashPolicy : undefined;
  const withHash = (config: CallConfig, md: Metadata): CallConfig => {
    const hash = requestHash(hashPolicy!, md, metadataValue, 'self');
    return hash === undefined ? config : { ...config, pickInformation: { ...config.pickInformation, [PICK.hash]: String(hash) } };
  };
  // A call that may be retried gets its own pickInformation (one object per call), where the picker records the
  // endpoints its attempts used; other calls share the route's frozen config (no allocation per call).
  const retried = methodConfig.retryPolicy !== undefined;
  const perCall = (config: CallConfig): CallConfig => ({ ...config, pickInformation: { ...config.pickInformation, [PICK.tried]: '' } });
  const finish = (select: (md: Metadata) => CallConfig): ((md: Metadata) => CallConfig) => (retried ? (md) => perCall(select(md)) : select);
  if (configs.length === 1) {
    const only = configs[0]!;
    return { ...base, select: finish(hashPolicy === undefined ? () => only : (md) => withHash(only, md)) };
  }
  const cumulative = new Float64Array(configs.length);
  let sum = 0;
  action.clusters.forEach((wc, i) => (cumulative[i] = sum += wc.weight));
  const total = action.totalWeight;
  const last = configs.length - 1;
  const pick = (): CallConfig => {
    const r = random() * total;
    let i = 0;
    while (i < last && r >= cumulative[i]!) i++;
    return configs[i]!;
  };
  return { ...base, select: finish(hashPolicy === undefined ? pick : (md) => withHash(pick(), md)) };
}

/**
 * Compiles `routes` of `authority` for gRPC calls. The ConfigSelector never throws: a call no route matches gets a
 * config that makes the picker fail it with WEFT_ERR_NO_ROUTE as UNIMPLEMENTED (Gateway API GRPCRoute: no matching
 * rule is UNIMPLEMENTED), naming the method and the route config.
 */
export function compileGrpcTarget(
  authority: string,
  routes: TargetRoutes,
  grpc: GrpcJs,
  random: () => number = Math.random,
  limiterFor?: (policy: ConcurrencyLimitPolicy) => ConcurrencyLimiter,
  metrics?: MeshMetrics,
  telemetry?: MeshTelemetry,
): GrpcTargetPlan {
  const vh = selectVirtualHost(routes.virtualHosts, authority);
  const telemetryPolicy = routes.telemetry ?? NO_TELEMETRY;
  const instrumented = (): boolean => grpcInstrumented(grpc);
  const planned = (vh?.routes ?? []).map((r) => planRoute(authority, routes, vh, r, grpc, random, limiterFor));
  const clusters = new Set<string>();
  for (const r of vh?.routes ?? []) if (r.action.kind === 'forward') for (const wc of r.action.clusters) clusters.add(wc.cluster);
  const readsHeaders = planned.some((p) => !p.matchesAll && p.route.headers.length > 0);
  const noHeaders: Record<string, string> = {};
  const n = planned.length;
  const first = planned[0];
  const route = (methodName: string, metadata: Metadata): CallConfig => {
    if (first !== undefined && first.matchesAll) return first.select(metadata);
    const facts: RequestFacts = { method: 'POST', path: methodName, query: '', headers: readsHeaders ? headersOf(metadata) : noHeaders, authority, scheme: 'http' };
    for (let i = 0; i < n; i++) {
      const p = planned[i]!;
      if (p.matchesAll || p.matches(facts)) return p.select(metadata);
    }
    return failWith(
      new MeshError(
        ERROR_CODES.NO_ROUTE,
        vh === undefined
          ? `no virtual host of route config '${routes.routeConfig}' serves ${authority}`
          : `no route of ${authority} matches ${methodName} (route config '${routes.routeConfig}', ${n} routes; a GRPCRoute answers UNIMPLEMENTED)`,
        { rejected: true, nonRetryable: true, details: { authority, routeConfig: routes.routeConfig, method: methodName } },
      ),
    );
  };
  // grpc-js invokes the selector synchronously inside the call's start (once the channel has its first resolution),
  // so the async context is the caller's: a call made while handling a meshed request gets what is left of that
  // request's deadline when its route has none sooner. Costs one boolean test until a server has seen a deadline.
  // `metrics`: a filter per call, outermost, recording it into the series of (route, method); none when off.
  const retryOf = (name: string): RetryPolicy | undefined => {
    const r = vh?.routes.find((x) => x.name === name);
    return r?.action.kind === 'forward' ? r.action.retry : undefined;
  };
  const withMetrics = metrics === undefined ? undefined : grpcClientMetrics(metrics, authority, retryOf);
  const invoke = (methodName: string, metadata: Metadata): CallConfig => {
    const routed = route(methodName, metadata);
    const config = withMetrics === undefined ? routed : withMetrics(routed, methodName, routed.pickInformation[PICK.route] ?? '');
    const inherited = currentDeadline();
    const configured = inherited === undefined ? config : withInheritedDeadline(config, inherited.remainingMs());
    // `trace`: the call span and access-log line (src/telemetry/grpc-client.ts); `config` as it is when neither is on.
    return telemetry === undefined ? configured : traceGrpcCall(telemetry, authority, methodName, configured, telemetryPolicy, configured.pickInformation[PICK.route] ?? '', instrumented);
  };
  return Object.freeze({
    authority,
    routes,
    virtualHost: vh,
    clusters,
    configSelector: { invoke, unref: () => {} },
    onRetry: metrics === undefined ? undefined : retryCounter(metrics, authority, retryOf),
  });
}
