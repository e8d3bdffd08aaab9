// The compiled, immutable view of the mesh that the request path reads: per target its routes, per cluster its endpoints.
// Built by pure functions from validated xDS resources (see xds/compile.ts); never mutated after it is published.
import type { RetryCondition } from '../core/classify.js';

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
      /** Envoy RouteAction.retry_policy; absent = the safe default (retry once only what never reached a server). */
      readonly retry?: RetryPolicy;
    }
  | { readonly kind: 'direct'; readonly status: number; readonly body: string };

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

/** One route of a virtual host, evaluated in order: the first whose conditions all hold wins. */
export interface Route {
  /** Envoy Route.name; Weft's control plane sets `<Kind>/<name>/rules/<i>/matches/<j>` so explain() can say where it came from. */
  readonly name: string;
  readonly path: PathMatcher;
  readonly headers: readonly HeaderMatcher[];
  readonly queryParams: readonly QueryParamMatcher[];
  readonly action: RouteAction;
}

/** A virtual host: the routes for a set of authorities (`*` matches any). */
export interface VirtualHost {
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
}

/** A mesh target (an LDS Listener name such as `payments` or `payments:8080`) once fully resolved. */
export interface TargetRoutes {
  readonly listener: string;
  readonly routeConfig: string;
  readonly virtualHosts: readonly VirtualHost[];
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
}

/** A cluster: its policy and its current endpoints. */
export interface ClusterState {
  readonly name: string;
  /** Name of its ClusterLoadAssignment (EDS service_name, or the cluster name). */
  readonly edsServiceName: string;
  readonly lbPolicy: 'round-robin';
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
}

/** The state before any configuration has arrived. */
export const EMPTY_MESH_STATE: MeshState = Object.freeze({
  generation: 0,
  targets: new Map<string, TargetState>(),
  clusters: new Map<string, ClusterState>(),
});
