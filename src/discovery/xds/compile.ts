// Pure functions from accepted xDS resources to the immutable MeshState, and to the resource names still needed.
import type { ClusterState, FaultFilter, MeshState, TargetRoutes, TargetState, VirtualHost } from '../mesh-state.js';
import { inboundListenerName } from '../inbound-policy.js';
import { compileInbound } from './compile-inbound.js';
import { TYPE_URL, type ResourceTypeUrl } from './protos.js';
import type { ResourceView } from './resource-cache.js';
import { DEFAULT_CONNECT_TIMEOUT_MS, type RouteConfigResource } from './resources/index.js';

/** Where a target's chain stands in the resources at hand. */
type Chain =
  | { readonly status: 'resolved'; readonly listener: string; readonly routeConfig: RouteConfigResource }
  | { readonly status: 'pending' }
  | { readonly status: 'absent' }
  | { readonly status: 'error'; readonly message: string };

const PENDING: TargetState = Object.freeze({ status: 'pending' });
const ABSENT: TargetState = Object.freeze({ status: 'absent' });

/** Walks LDS → RDS (or inline routes) → CDS → EDS for one target. */
function walk(target: string, view: ResourceView): Chain {
  const listener = view.listeners.get(target);
  if (listener === undefined) {
    const error = view.errorOf(TYPE_URL.listener, target);
    if (error !== undefined) return { status: 'error', message: `Listener refused: ${error}` };
    return view.absentListeners.has(target) ? { status: 'absent' } : { status: 'pending' };
  }
  const rcName = listener.routeConfigName;
  const routeConfig = listener.inlineRouteConfig ?? (rcName === undefined ? undefined : view.routeConfigs.get(rcName));
  if (routeConfig === undefined) {
    const error = rcName === undefined ? undefined : view.errorOf(TYPE_URL.routeConfiguration, rcName);
    return error !== undefined ? { status: 'error', message: `RouteConfiguration refused: ${error}` } : { status: 'pending' };
  }
  let pending = false;
  for (const name of routeConfig.clusterNames) {
    const cluster = view.clusters.get(name);
    if (cluster === undefined) {
      if (view.absentClusters.has(name)) continue; // compiled as a cluster with no endpoints: calls to it fail
      const error = view.errorOf(TYPE_URL.cluster, name);
      if (error !== undefined) return { status: 'error', message: `Cluster refused: ${error}` };
      pending = true;
      continue;
    }
    if (view.endpoints.has(cluster.edsServiceName)) continue;
    const error = view.errorOf(TYPE_URL.clusterLoadAssignment, cluster.edsServiceName);
    if (error !== undefined) return { status: 'error', message: `ClusterLoadAssignment refused: ${error}` };
    pending = true;
  }
  return pending ? { status: 'pending' } : { status: 'resolved', listener: target, routeConfig };
}

const clustersOfHosts = new WeakMap<readonly VirtualHost[], readonly string[]>();

/** Every cluster the routes of `routes` name (memoized per compiled virtual-host list). */
export function clustersOf(routes: TargetRoutes): readonly string[] {
  let names = clustersOfHosts.get(routes.virtualHosts);
  if (names === undefined) {
    const set = new Set<string>();
    for (const vh of routes.virtualHosts) {
      for (const route of vh.routes) if (route.action.kind === 'forward') for (const c of route.action.clusters) set.add(c.cluster);
    }
    names = Object.freeze([...set]);
    clustersOfHosts.set(routes.virtualHosts, names);
  }
  return names;
}

/** Input of compileMeshState: the subscribed targets, in subscription order, and the accepted resources. */
export interface CompileInput {
  readonly targets: readonly string[];
  readonly resources: ResourceView;
  /** Services whose inbound policy (`weft/inbound/<service>`) this process serves by; default none. */
  readonly inbound?: readonly string[];
}

/**
 * Builds the MeshState for `input`, reusing every unchanged TargetState and ClusterState of `previous` (same
 * object), and returns `previous` itself when nothing changed; otherwise a new frozen state with generation + 1.
 * Keeping the last good value (as gRFC A74 does): a target that was resolved stays on its old routes while a new
 * chain is incomplete or refused, and a cluster keeps its old endpoints while a new ClusterLoadAssignment is awaited.
 * A target becomes `absent` only when its Listener is. A cluster the server says does not exist compiles to a
 * cluster with no endpoints (`endpointsKnown: true`), so its routes fail with WEFT_ERR_NO_ENDPOINTS.
 * Pure: reads `input` and `previous`, mutates nothing.
 */
export function compileMeshState(input: CompileInput, previous: MeshState): MeshState {
  const view = input.resources;
  const targets = new Map<string, TargetState>();
  for (const target of input.targets) {
    const chain = walk(target, view);
    const before = previous.targets.get(target);
    let next: TargetState;
    if (chain.status === 'resolved') {
      const rc = chain.routeConfig;
      const routeConfigName = rc.name || view.listeners.get(target)?.routeConfigName || target;
      const faultFilters = view.listeners.get(target)?.faultFilters ?? [];
      const telemetry = view.listeners.get(target)?.telemetry;
      const withTelemetry = telemetry !== undefined && telemetry.key !== '' ? telemetry : undefined;
      next =
        before?.status === 'resolved' &&
        before.routes.virtualHosts === rc.virtualHosts &&
        before.routes.routeConfig === routeConfigName &&
        sameFaultFilters(before.routes.faultFilters ?? [], faultFilters) &&
        (before.routes.telemetry?.key ?? '') === (withTelemetry?.key ?? '')
          ? before
          : Object.freeze({
              status: 'resolved',
              routes: Object.freeze({
                listener: target,
                routeConfig: routeConfigName,
                virtualHosts: rc.virtualHosts,
                ...(faultFilters.length > 0 && { faultFilters }),
                ...(withTelemetry !== undefined && { telemetry: withTelemetry }),
              }),
            });
    } else if (chain.status !== 'absent' && before?.status === 'resolved') {
      next = before; // keep serving the last good routes
    } else if (chain.status === 'pending') {
      next = PENDING;
    } else if (chain.status === 'absent') {
      next = ABSENT;
    } else {
      next = before?.status === 'error' && before.message === chain.message ? before : Object.freeze({ status: 'error', message: chain.message });
    }
    targets.set(target, next);
  }

  const clusters = new Map<string, ClusterState>();
  for (const state of targets.values()) {
    if (state.status !== 'resolved') continue;
    for (const name of clustersOf(state.routes)) {
      if (!clusters.has(name)) clusters.set(name, compileCluster(name, view, previous.clusters.get(name)));
    }
  }

  const inbound = compileInbound(input.inbound ?? [], view, previous.inbound);
  if (sameEntries(targets, previous.targets) && sameEntries(clusters, previous.clusters) && inbound === previous.inbound) return previous;
  return Object.freeze({ generation: previous.generation + 1, targets, clusters, ...(inbound !== undefined && { inbound }) });
}

function compileCluster(name: string, view: ResourceView, before: ClusterState | undefined): ClusterState {
  const cluster = view.clusters.get(name);
  if (cluster === undefined) {
    if (view.absentClusters.has(name)) {
      return reuse(before, {
        name,
        edsServiceName: name,
        lbPolicy: 'round-robin',
        connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS,
        endpoints: Object.freeze([]),
        endpointsKnown: true,
      });
    }
    // Refused or not here yet, but named by a target kept on its last good routes: keep what we had.
    return (
      before ??
      Object.freeze({ name, edsServiceName: name, lbPolicy: 'round-robin', connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_MS, endpoints: [], endpointsKnown: false })
    );
  }
  const cla = view.endpoints.get(cluster.edsServiceName);
  if (cla === undefined && before?.endpointsKnown === true) return before;
  const policy = before !== undefined && policyKeys.get(before) === cluster.policyKey ? before : cluster;
  const next: ClusterState = {
    name,
    edsServiceName: cluster.edsServiceName,
    lbPolicy: cluster.lbPolicy,
    lb: policy.lb,
    ...(policy.circuitBreaker !== undefined && { circuitBreaker: policy.circuitBreaker }),
    ...(policy.retryBudget !== undefined && { retryBudget: policy.retryBudget }),
    ...(policy.outlierDetection !== undefined && { outlierDetection: policy.outlierDetection }),
    ...(policy.zoneAware !== undefined && { zoneAware: policy.zoneAware }),
    ...(policy.tls !== undefined && { tls: policy.tls }),
    connectTimeoutMs: cluster.connectTimeoutMs,
    endpoints: cla?.endpoints ?? Object.freeze([]),
    endpointsKnown: cla !== undefined,
  };
  const out = reuse(before, next);
  policyKeys.set(out, cluster.policyKey);
  return out;
}

/** The policy key (cluster-policy.ts) each compiled ClusterState was built from, so equal policies keep identity. */
const policyKeys = new WeakMap<ClusterState, string>();

/** Returns `before` when it equals `next` field by field (endpoints by identity), else `next` frozen. */
function reuse(before: ClusterState | undefined, next: ClusterState): ClusterState {
  if (
    before !== undefined &&
    before.edsServiceName === next.edsServiceName &&
    before.lbPolicy === next.lbPolicy &&
    before.lb === next.lb &&
    before.circuitBreaker === next.circuitBreaker &&
    before.retryBudget === next.retryBudget &&
    before.outlierDetection === next.outlierDetection &&
    before.zoneAware === next.zoneAware &&
    before.tls === next.tls &&
    before.connectTimeoutMs === next.connectTimeoutMs &&
    before.endpointsKnown === next.endpointsKnown &&
    (before.endpoints === next.endpoints || (before.endpoints.length === 0 && next.endpoints.length === 0))
  ) {
    return before;
  }
  return Object.freeze(next);
}

/** True when two fault filter lists say the same (by identity, else by content: listeners are decoded anew on push). */
function sameFaultFilters(a: readonly FaultFilter[], b: readonly FaultFilter[]): boolean {
  if (a === b || (a.length === 0 && b.length === 0)) return true;
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

function sameEntries<V>(a: ReadonlyMap<string, V>, b: ReadonlyMap<string, V>): boolean {
  if (a.size !== b.size) return false;
  const bKeys = [...b.keys()];
  let i = 0;
  for (const [k, v] of a) {
    if (bKeys[i++] !== k || b.get(k) !== v) return false;
  }
  return true;
}

/**
 * The resource names this client must stay subscribed to, per type: every target's Listener, the RDS names those
 * Listeners use, every cluster named by their current routes or by the routes `published` still serves (a target
 * kept on its last good routes needs its clusters' updates), and each such cluster's EDS service name.
 * Anything subscribed and not returned here should be unsubscribed and forgotten.
 */
export function requiredResourceNames(input: CompileInput, published: MeshState): ReadonlyMap<ResourceTypeUrl, ReadonlySet<string>> {
  const view = input.resources;
  const lds = new Set(input.targets);
  for (const service of input.inbound ?? []) lds.add(inboundListenerName(service));
  const rds = new Set<string>();
  const cds = new Set<string>();
  for (const target of input.targets) {
    const listener = view.listeners.get(target);
    if (listener === undefined) continue;
    if (listener.routeConfigName !== undefined) rds.add(listener.routeConfigName);
    const rc = listener.inlineRouteConfig ?? (listener.routeConfigName === undefined ? undefined : view.routeConfigs.get(listener.routeConfigName));
    if (rc !== undefined) for (const c of rc.clusterNames) cds.add(c);
  }
  for (const state of published.targets.values()) {
    if (state.status === 'resolved') for (const c of clustersOf(state.routes)) cds.add(c);
  }
  const eds = new Set<string>();
  for (const name of cds) {
    const cluster = view.clusters.get(name);
    if (cluster !== undefined) eds.add(cluster.edsServiceName);
  }
  return new Map<ResourceTypeUrl, ReadonlySet<string>>([
    [TYPE_URL.listener, lds],
    [TYPE_URL.routeConfiguration, rds],
    [TYPE_URL.cluster, cds],
    [TYPE_URL.clusterLoadAssignment, eds],
  ]);
}
