// The compiled, immutable view of the mesh that the request path reads: per target its routes, per cluster its endpoints.
// Built by pure functions from validated xDS resources (see xds/compile.ts); never mutated after it is published.
import type { RetryCondition } from '../core/classify.js';
import type { InboundState } from './inbound-policy.js';
import type { TelemetryPolicy } from './telemetry-policy.js';

/** How a string is compared. `regex` carries the compiled RegExp; matching is on the whole value (anchored). */
export type StringMatcher =
  | { readonly kind: 'exact' | 'prefix' | 'suffix' | 'contains'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly value: string; readonly regex: RegExp };

/** A header condition. `name` is lower-case; the method is matched as the pseudo-header `:method`. */
export interface HeaderMatcher {
  readonly name: string;
  /** `present` when only the header's presence matters. */
  readonly match: StringMatcher | { readonly kind: 'present' };
  /** True to match when the condition does NOT hold (Envoy `invert_match`). */
  readonly invert: boolean;
}

/** A query-parameter condition (Envoy QueryParameterMatcher). */
export interface QueryParamMatcher {
  readonly name: string;
  readonly match: StringMatcher | { readonly kind: 'present' };
}

/**
 * A path condition, applied to the path without its query string.
 * `separated-prefix` is Envoy `path_separated_prefix` (Gateway API PathPrefix): `/a` matches `/a` and `/a/b`, not `/ab`.
 */
export type PathMatcher =
  | { readonly kind: 'exact' | 'prefix' | 'separated-prefix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'regex'; readonly value: string; readonly regex: RegExp };

/** A cluster and its share of a route's traffic. */
export interface WeightedCluster {
  readonly cluster: string;
  readonly weight: number;
}

/** What a matched route does. */
export type RouteAction =
  | {
      readonly kind: 'forward';
      /** Backends with weight > 0, in configuration order. Never empty. */
      readonly clusters: readonly WeightedCluster[];
      /** Sum of the weights (> 0). */
      readonly totalWeight: number;
      /** Whole-request timeout in ms (Envoy RouteAction.timeout, or max_stream_duration for gRPC); undefined = none. */
      readonly timeoutMs: number | undefined;
      /** Envoy RouteAction.hash_policy, in order (ring-hash keys); absent or empty = no request hash (random key). */
      readonly hashPolicy?: readonly HashPolicy[];
      /** Envoy RouteAction.retry_policy; absent = the safe default (retry once only what never reached a server). */
      readonly retry?: RetryPolicy;
    }
  | { readonly kind: 'direct'; readonly status: number; readonly body: string };

/**
 * How a ring-hash key is taken from a request (Envoy RouteAction.HashPolicy): a header's value, a cookie's value or
 * the caller's source IP. Policies are tried in order; `terminal` stops at the first that yields a key.
 */
export type HashPolicy =
  | { readonly kind: 'header'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'cookie'; readonly name: string; readonly terminal: boolean }
  | { readonly kind: 'source-ip'; readonly terminal: boolean };

/**
 * A route's retry policy (Envoy RouteAction.retry_policy, plus Weft's opt-in for non-idempotent methods), decoded by
 * xds/resources/retry-policy.ts. Conditions use Envoy's `retry_on` names (src/core/classify.ts RetryCondition).
 */
export interface RetryPolicy {
  /** Envoy retry_on conditions Weft understands, in order, without duplicates (unknown ones are dropped). */
  readonly conditions: readonly RetryCondition[];
  /** Statuses retried under `retriable-status-codes`. */
  readonly retriableStatusCodes: readonly number[];
  /** Retries after the first attempt (Envoy num_retries, default 1). Attempts = 1 + numRetries. */
  readonly numRetries: number;
  /** Per-attempt timeout (Envoy per_try_timeout); undefined = none (the route timeout still bounds all attempts). */
  readonly perTryTimeoutMs: number | undefined;
  /** Backoff base (Envoy retry_back_off.base_interval, default 25 ms). */
  readonly baseIntervalMs: number;
  /** Backoff cap (Envoy retry_back_off.max_interval, default 10 × base). */
  readonly maxIntervalMs: number;
  /** True to retry non-idempotent methods (POST, PATCH, CONNECT) too: Route metadata `weft.retryNonIdempotent`. */
  readonly retryNonIdempotent: boolean;
}

/**
 * The concurrency limit of a route rule, as the control plane sends it (route metadata, docs/xds-mapping.md
 * "Concurrency limits"). `scope` names the rule whose calls share one limiter (`HTTPRoute/<name>/rules/<i>`).
 * The adaptive limit is Envoy's gradient controller (envoy.filters.http.adaptive_concurrency, GradientControllerConfig),
 * field for field, applied by the caller per route instead of by the server.
 */
export type ConcurrencyLimitPolicy =
  | { readonly kind: 'fixed'; readonly scope: string; readonly maxConcurrency: number }
  | {
      readonly kind: 'adaptive';
      readonly scope: string;
      /** Latency percentile of a window taken as its sample (Envoy sample_aggregate_percentile, default 50). */
      readonly percentile: number;
      /** How often the limit is recomputed from the latencies seen (concurrency_update_interval, default 100 ms). */
      readonly updateIntervalMs: number;
      /** The limit's ceiling (max_concurrency_limit, default 1000). */
      readonly maxConcurrency: number;
      /** How often the no-load latency (minRTT) is measured again (min_rtt_calc_params.interval, default 60 s). */
      readonly minRttIntervalMs: number;
      /** Calls measured per minRTT measurement (request_count, default 50). */
      readonly minRttRequests: number;
      /** The limit while minRTT is measured (min_concurrency, default 3). */
      readonly minConcurrency: number;
      /** Share of minRTT a call may add before the limit shrinks, 0..100 (buffer, default 25). */
      readonly bufferPercent: number;
      /** Random spread of the minRTT interval, 0..100 (jitter, default 10). */
      readonly jitterPercent: number;
    };

/** One route of a virtual host, evaluated in order: the first whose conditions all hold wins. */
export interface Route {
  /** Envoy Route.name; Weft's control plane sets `<Kind>/<name>/rules/<i>/matches/<j>` so explain() can say where it came from. */
  readonly name: string;
  readonly path: PathMatcher;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParams: readonly QueryParamMatcher[];
  readonly action: RouteAction;
  /** Per-route fault filter configs by HCM filter name (Route.typed_per_filter_config); absent = none. */
  readonly faultOverrides?: ReadonlyMap<string, FaultPolicy>;
  /** The route's concurrency limit (Weft route metadata `concurrencyLimit`); absent = none. */
  readonly concurrencyLimit?: ConcurrencyLimitPolicy;
}

/** A virtual host: the routes for a set of authorities (`*` matches any). */
export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
  /** Virtual-host fault filter configs by HCM filter name (used when a route has none); absent = none. */
  readonly faultOverrides?: ReadonlyMap<string, FaultPolicy>;
}

/** A mesh target (an LDS Listener name such as `payments` or `payments:8080`) once fully resolved. */
export interface TargetRoutes {
  readonly listener: string;
  readonly routeConfig: string;
  readonly virtualHosts: readonly VirtualHost[];
  /** The Listener's fault filters, in HCM order; absent or empty = no fault injection for this target. */
  readonly faultFilters?: readonly FaultFilter[];
  /** The Listener's trace sampling and access logging (HCM `tracing`, `access_log`); absent = neither. */
  readonly telemetry?: TelemetryPolicy;
}

/**
 * What discovery knows about a target:
 * - `resolved`: its routes, and every cluster they name is in `MeshState.clusters`;
 * - `pending`: asked for, answer (or a dependent resource) not yet in;
 * - `absent`: the control plane says there is no such listener: not a mesh host;
 * - `error`: the resources for it were refused (NACKed) and there is no last good value.
 */
export type TargetState =
  | { readonly status: 'resolved'; readonly routes: TargetRoutes }
  | { readonly status: 'pending' }
  | { readonly status: 'absent' }
  | { readonly status: 'error'; readonly message: string };

/** A network endpoint of a cluster. */
export interface Endpoint {
  /** IP literal. */
  readonly address: string;
  readonly port: number;
  /** Effective weight: endpoint weight (default 1). */
  readonly weight: number;
  readonly locality: { readonly region: string; readonly zone: string; readonly subZone: string };
  /** Envoy health status; only HEALTHY and UNKNOWN endpoints are included in `Cluster.endpoints`. */
  readonly health: 'HEALTHY' | 'UNKNOWN';
  /** EDS priority (0 = most preferred); absent = 0. Lower priorities are used only when higher ones have no endpoint. */
  readonly priority?: number;
  /** The endpoint's transport socket match metadata (`filter_metadata['envoy.transport_socket_match']`), if any. */
  readonly transportSocketMatch?: Readonly<Record<string, string>>;
}

/** The load balancers Weft's pickers implement (src/client/balance/). */
export type LoadBalancerKind = 'round-robin' | 'random' | 'least-request' | 'peak-ewma' | 'ring-hash';

/**
 * A cluster's load-balancing policy with its parameters, decoded from Cluster.lb_policy or the first supported entry
 * of Cluster.load_balancing_policy (gRFC A52). See docs/xds-mapping.md "Cluster".
 */
export type LoadBalancerPolicy =
  | { readonly kind: 'round-robin' }
  | { readonly kind: 'random' }
  /** Power-of-`choiceCount` choices by fewest in-flight requests (Envoy LeastRequest, default 2). */
  | { readonly kind: 'least-request'; readonly choiceCount: number }
  /** Linkerd/Finagle peak-EWMA: P2C by ewma latency × (in-flight + 1); `decayMs` is the EWMA time constant (default 10 s). */
  | { readonly kind: 'peak-ewma'; readonly decayMs: number }
  /** Ketama ring (Envoy RingHash); keys come from the route's `hashPolicy`. Sizes are ring entries (defaults 1024 / 8M). */
  | { readonly kind: 'ring-hash'; readonly minRingSize: number; readonly maxRingSize: number };

/**
 * Envoy circuit-breaker thresholds of the DEFAULT priority (Cluster.circuit_breakers.thresholds): each is a count of
 * concurrent things; a field the control plane left unset is Envoy's default, 1024.
 */
export interface CircuitBreakerThresholds {
  readonly maxConnections: number;
  readonly maxPendingRequests: number;
  readonly maxRequests: number;
  readonly maxRetries: number;
}

/**
 * Retry budget (carried in circuit_breakers.thresholds[DEFAULT].retry_budget). Weft reads it as Linkerd's budget:
 * retries may add at most `percent` % of recent requests, plus `minRetriesPerSecond` (Envoy names the second
 * `min_retry_concurrency`; see docs/xds-mapping.md).
 */
export interface RetryBudgetPolicy {
  /** 0..100 (default 20). */
  readonly percent: number;
  /** Floor of retries always allowed per second (default 10). */
  readonly minRetriesPerSecond: number;
}

/** Envoy Cluster.outlier_detection, with Envoy's defaults filled in; a detector is undefined when not enforced. */
export interface OutlierDetectionPolicy {
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  /** 0..100: never eject more than this share of the cluster's endpoints. */
  readonly maxEjectionPercent: number;
  /** Consecutive 5xx (and, unless split, local-origin failures) before ejection; undefined when enforcing is 0. */
  readonly consecutive5xx: { readonly threshold: number; readonly enforcingPercent: number } | undefined;
  /** Consecutive 502/503/504 (and connect failures) before ejection; undefined when enforcing is 0 (Envoy's default). */
  readonly consecutiveGatewayFailure: { readonly threshold: number; readonly enforcingPercent: number } | undefined;
  /** Consecutive local-origin failures (only when `splitExternalLocalOriginErrors`); undefined when not used. */
  readonly consecutiveLocalOriginFailure: { readonly threshold: number; readonly enforcingPercent: number } | undefined;
  readonly splitExternalLocalOriginErrors: boolean;
  /** Success-rate ejection: below mean − stdevFactor × stdev; undefined when enforcing is 0. */
  readonly successRate:
    | { readonly minimumHosts: number; readonly requestVolume: number; readonly stdevFactor: number; readonly enforcingPercent: number }
    | undefined;
  /** Failure-percentage ejection: at or above `threshold` % failures; undefined when enforcing is 0 (Envoy's default). */
  readonly failurePercentage:
    | { readonly threshold: number; readonly minimumHosts: number; readonly requestVolume: number; readonly enforcingPercent: number }
    | undefined;
}

/**
 * Envoy `common_lb_config.zone_aware_lb_config`: prefer endpoints in the caller's own zone (its node locality).
 * Weft's clients send every call to the caller's zone while it has an available endpoint and the cluster has at
 * least `minClusterSize` endpoints, and fail over to the other zones otherwise (Envoy instead spills in proportion
 * to each zone's share of endpoints).
 */
export interface ZoneAwarePolicy {
  /** Below this many endpoints the preference is off (Envoy `min_cluster_size`, default 6). */
  readonly minClusterSize: number;
}

/**
 * A cluster's mTLS (gRFC A29, from Cluster.transport_socket or transport_socket_matches): the caller connects with TLS,
 * presents its workload certificate, and accepts a server whose SPIFFE ID matches one of `peerIds` (none = any
 * certificate the trust bundle verifies). `always`: every endpoint; `endpoint-metadata`: the endpoints whose
 * `envoy.transport_socket_match` metadata has `field: value` (the others are plaintext).
 */
export type UpstreamTls =
  | { readonly when: 'always'; readonly peerIds: readonly StringMatcher[] }
  | { readonly when: 'endpoint-metadata'; readonly field: string; readonly value: string; readonly peerIds: readonly StringMatcher[] };

/** A cluster: its policy and its current endpoints. */
export interface ClusterState {
  readonly name: string;
  /** Name of its ClusterLoadAssignment (EDS service_name, or the cluster name). */
  readonly edsServiceName: string;
  /** The balancer's kind (same as `lb.kind`). */
  readonly lbPolicy: LoadBalancerKind;
  /** The balancer with its parameters; absent = `lbPolicy` with default parameters. */
  readonly lb?: LoadBalancerPolicy;
  /** Circuit-breaker thresholds; absent when the Cluster has no circuit_breakers (Envoy would apply 1024 each). */
  readonly circuitBreaker?: CircuitBreakerThresholds;
  /** Retry budget; absent when the Cluster carries none (the retry layer then uses its defaults). */
  readonly retryBudget?: RetryBudgetPolicy;
  /** Outlier detection; absent = off (Envoy: no outlier_detection field, no ejection). */
  readonly outlierDetection?: OutlierDetectionPolicy;
  /** Zone preference; absent = none (every zone alike). */
  readonly zoneAware?: ZoneAwarePolicy;
  /** mTLS to the cluster's servers; absent = plaintext. */
  readonly tls?: UpstreamTls;
  readonly connectTimeoutMs: number;
  /** Routable endpoints; empty while the CLA is missing or has none (calls then fail with WEFT_ERR_NO_ENDPOINTS). */
  readonly endpoints: readonly Endpoint[];
  /** False until the ClusterLoadAssignment has arrived. */
  readonly endpointsKnown: boolean;
}

/** The whole compiled view, swapped atomically on every accepted update. */
export interface MeshState {
  /** Increases by one on every new state published by this process. */
  readonly generation: number;
  readonly targets: ReadonlyMap<string, TargetState>;
  readonly clusters: ReadonlyMap<string, ClusterState>;
  /** Inbound policy per served service (its `weft/inbound/<service>` Listener); absent until a server subscribes. */
  readonly inbound?: ReadonlyMap<string, InboundState>;
}

/** A share of requests in parts per million (an Envoy FractionalPercent normalised), 0..1_000_000. */
export type PerMillion = number;

/**
 * A decoded Envoy HTTPFault (fault filter config, gRFC A33). `delay`/`abort` undefined = that fault is off; both off =
 * the filter does nothing. `header` kinds take the delay / status from `x-envoy-fault-*` request headers, as Envoy does;
 * a percentage header counts in `unitPerMillion`s (the config's denominator) and is capped by `perMillion`.
 */
export interface FaultPolicy {
  readonly delay:
    | { readonly kind: 'fixed'; readonly delayMs: number; readonly perMillion: PerMillion }
    | { readonly kind: 'header'; readonly perMillion: PerMillion; readonly unitPerMillion: number }
    | undefined;
  readonly abort:
    | { readonly kind: 'http'; readonly httpStatus: number; readonly perMillion: PerMillion }
    | { readonly kind: 'grpc'; readonly grpcStatus: number; readonly perMillion: PerMillion }
    | { readonly kind: 'header'; readonly perMillion: PerMillion; readonly unitPerMillion: number }
    | undefined;
  /** Only requests matching every one get faults (HTTPFault.headers); empty = all. */
  readonly headers: readonly HeaderMatcher[];
  /** Faulted requests allowed at once in this process (max_active_faults); undefined = unlimited. */
  readonly maxActiveFaults: number | undefined;
}

/** One fault filter of a Listener's HCM: its name (the key of per-route overrides) and its own config. */
export interface FaultFilter {
  readonly name: string;
  readonly policy: FaultPolicy;
}

/** The state before any configuration has arrived. */
export const EMPTY_MESH_STATE: MeshState = Object.freeze({
  generation: 0,
  targets: new Map<string, TargetState>(),
  clusters: new Map<string, ClusterState>(),
});
