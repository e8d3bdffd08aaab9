// Extension points and internals that may change in any minor release: the dispatcher, discovery, stacks and pickers.

/** The mesh's undici Dispatcher, usable without createMesh() over any Discovery. */
export { MeshDispatcher, DEFAULT_RESOLVE_TIMEOUT_MS, DEFAULT_MAX_PENDING_PER_AUTHORITY } from './client/http/dispatcher.js';
/** Options and inspection types of MeshDispatcher. */
export type { MeshDispatcherOptions, OriginKind, OriginView } from './client/http/dispatcher.js';
/** Endpoint pool settings. */
export type { PoolSettings } from './client/http/pools.js';
/** The HTTP client path's tiers, roles and layers (see src/client/stack.ts). */
export { HTTP_CLIENT_ROLES, describeHttpClientStack, logicalStack, timeout, endpointDispatch } from './client/stack.js';
/** Dispatch function and tier target types of the HTTP client stacks. */
export type { DispatchFn, LogicalTarget, EndpointTarget } from './client/stack.js';
/** Weighted round-robin picker. */
export { RoundRobinPicker } from './client/balance/round-robin.js';
/** Route matching as the mesh does it (Envoy semantics) and its explanations. */
export { compileRoute, whyNotMatched, selectVirtualHost } from './client/http/route-match.js';
/** Facts a route reads from a request. */
export type { RequestFacts, RoutePredicate } from './client/http/route-match.js';
/** Explains a request against a MeshDispatcher (what mesh.explain() calls). */
export { explainRequest } from './explain.js';

/** Serving and registration without createMesh(). */
export { serveHttp } from './server/http/serve.js';
/** What serveHttp needs from its caller. */
export type { ServeDeps } from './server/http/serve.js';
/** Registry client (weft.registry.v1) keeping endpoint leases alive. */
export { RegistryClient, DEFAULT_LEASE_TTL_MS } from './discovery/registration.js';
/** Registry client types. */
export type { EndpointRegistration, Registration, RegistryClientOptions, BackoffOptions } from './discovery/registration.js';

/** The Discovery contract and the xDS client that implements it. */
export { createXdsClient } from './discovery/xds/ads-client.js';
/** Discovery and xDS client types. */
export type { Discovery } from './discovery/discovery.js';
/** xDS client options and dump types. */
export type { XdsClient, XdsClientOptions, XdsConfigDump } from './discovery/xds/ads-client.js';
/** The compiled mesh view the request path reads. */
export { EMPTY_MESH_STATE } from './discovery/mesh-state.js';
/** MeshState and its parts. */
export type {
  MeshState,
  TargetState,
  TargetRoutes,
  VirtualHost,
  Route,
  RouteAction,
  WeightedCluster,
  PathMatcher,
  HeaderMatcher,
  QueryParamMatcher,
  StringMatcher,
  ClusterState,
  Endpoint,
  ConcurrencyLimitPolicy,
} from './discovery/mesh-state.js';

/** Core building blocks: named stacks and settable watches. */
export { Stack } from './core/stack.js';
/** Stack entry and layer types. */
export type { Layer, StackEntry } from './core/stack.js';
/** A Watch its owner can set. */
export { WatchCell } from './core/watch.js';
