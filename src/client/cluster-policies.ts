// The per-cluster policy objects of one mesh (circuit breaker, retry budget, outlier detector, endpoint loads), kept
// once per process and shared by every transport: an HTTP and a gRPC call to the same cluster count against the same
// breaker and budget and report to the same outlier records, as one sidecar would.
import type { ClusterState, MeshState } from '../discovery/mesh-state.js';
import { clusterBreakerFor, type ClusterBreaker } from '../policy/circuit-breaker/index.js';
import { outlierDetectorFor, type OutlierDetector, type OutlierOptions } from '../policy/outlier/index.js';
import { retryBudgetFor, type RetryBudget } from '../policy/retry/retry-budget.js';
import { ConcurrencyLimiter, type ConcurrencyLimitPolicy, type ConcurrencyLimitSnapshot } from '../policy/concurrency/index.js';
import type { LoadTable } from './balance/picker.js';

/** The policy objects of one cluster. The objects live across MeshState swaps; `cluster` is the state they apply. */
export interface ClusterPolicies {
  readonly cluster: ClusterState;
  /** Endpoint keys (`http://ip:port`, IPv6 in brackets) in the cluster's endpoint order: the outlier records' names. */
  readonly endpointKeys: readonly string[];
  /** Envoy thresholds; undefined when the Cluster has no circuit_breakers. */
  readonly breaker: ClusterBreaker | undefined;
  /** The cluster's retry budget (its policy, or the defaults). */
  readonly retryBudget: RetryBudget;
  /** Outlier detection; undefined when off. */
  readonly outlier: OutlierDetector | undefined;
  /** In-flight calls and latency per endpoint key (read by least-request and peak-EWMA). */
  readonly loads: LoadTable;
  /** The zone to prefer (the caller's, when the cluster is zone-aware and large enough); undefined = none. */
  readonly preferZone: string | undefined;
}

/** Options of a ClusterPolicyRegistry. */
export interface ClusterPolicyOptions extends OutlierOptions {
  /** This process's zone (its node locality): zone-aware clusters prefer endpoints in it. '' or absent = none. */
  readonly localZone?: string;
}

/** The key of an endpoint in every per-endpoint table: `http://ip:port` (IPv6 literals in brackets). */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `http://[${address}]:${port}` : `http://${address}:${port}`;
}

/**
 * Keeps the ClusterPolicies of every cluster of the current MeshState: forState() updates the objects in place for a
 * new state (an edit applies live; counters, ejections and loads carry over) and memoises the answer per state, so
 * every transport compiling against the same state shares one set. Clusters that leave are closed.
 */
export class ClusterPolicyRegistry {
  readonly #options: ClusterPolicyOptions;
  #state: MeshState | undefined;
  #current: ReadonlyMap<string, ClusterPolicies> = new Map();
  /** Route concurrency limiters by scope (the route rule), kept while a route of the current state names the scope. */
  readonly #limiters = new Map<string, ConcurrencyLimiter>();
  #closed = false;

  constructor(options: ClusterPolicyOptions = {}) {
    this.#options = options;
  }

  /** The policies of every cluster of `state` (the same map for the same state object). */
  forState(state: MeshState): ReadonlyMap<string, ClusterPolicies> {
    if (state === this.#state || this.#closed) return this.#current;
    const previous = this.#current;
    const next = new Map<string, ClusterPolicies>();
    for (const [name, cluster] of state.clusters) {
      const old = previous.get(name);
      next.set(name, old !== undefined && old.cluster === cluster ? old : policiesFor(cluster, old, this.#options));
    }
    for (const [name, old] of previous) if (!state.clusters.has(name)) old.outlier?.close();
    if (this.#limiters.size > 0) {
      const scopes = limitScopes(state);
      for (const scope of this.#limiters.keys()) if (!scopes.has(scope)) this.#limiters.delete(scope);
    }
    this.#state = state;
    this.#current = next;
    return next;
  }

  /**
   * The limiter of a route rule's concurrency limit: one per `policy.scope` for the process (HTTP and gRPC calls of the
   * rule share it), kept across MeshState swaps with `policy` applied (an edit applies live; calls in flight stay
   * counted), dropped once no route of the current state names the scope.
   */
  concurrencyLimiter(policy: ConcurrencyLimitPolicy): ConcurrencyLimiter {
    let limiter = this.#limiters.get(policy.scope);
    if (limiter === undefined) this.#limiters.set(policy.scope, (limiter = new ConcurrencyLimiter(policy)));
    else limiter.configure(policy);
    return limiter;
  }

  /** The policies of every cluster of the last state forState() saw (read by the mesh gauges at scrape time). */
  current(): ReadonlyMap<string, ClusterPolicies> {
    return this.#current;
  }

  /** Every route concurrency limiter's state now (for mesh.status()). */
  concurrencyLimits(): readonly ConcurrencyLimitSnapshot[] {
    return [...this.#limiters.values()].map((l) => l.snapshot());
  }

  /** Stops every outlier detector's timer. Later forState() calls return the last policies unchanged. */
  close(): void {
    this.#closed = true;
    for (const p of this.#current.values()) p.outlier?.close();
  }
}

function policiesFor(cluster: ClusterState, previous: ClusterPolicies | undefined, options: ClusterPolicyOptions): ClusterPolicies {
  const zone = options.localZone ?? '';
  const preferZone = cluster.zoneAware !== undefined && zone !== '' && cluster.endpoints.length >= cluster.zoneAware.minClusterSize ? zone : undefined;
  const endpointKeys = cluster.endpoints.map((e) => endpointKey(e.address, e.port));
  const loads: LoadTable = previous?.loads ?? new Map();
  if (previous !== undefined) {
    const keep = new Set(endpointKeys);
    for (const key of loads.keys()) if (!keep.has(key)) loads.delete(key);
  }
  return Object.freeze({
    cluster,
    endpointKeys: Object.freeze(endpointKeys),
    breaker: clusterBreakerFor(cluster, previous?.breaker),
    retryBudget: retryBudgetFor(cluster, previous?.retryBudget),
    outlier: outlierDetectorFor(cluster, endpointKeys, previous?.outlier, options),
    loads,
    preferZone,
  });
}

/** The concurrency-limit scopes the resolved routes of `state` name. */
function limitScopes(state: MeshState): Set<string> {
  const out = new Set<string>();
  for (const target of state.targets.values()) {
    if (target.status !== 'resolved') continue;
    for (const vh of target.routes.virtualHosts) for (const r of vh.routes) if (r.concurrencyLimit !== undefined) out.add(r.concurrencyLimit.scope);
  }
  return out;
}
