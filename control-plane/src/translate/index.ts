// Config + registry → Envoy xDS v3 resources (docs/xds-mapping.md).
export { translate, translateEndpoints, buildListener, buildCluster, CONNECT_TIMEOUT_MS, type TranslateOptions } from './translate.js';
export {
  MESH_INBOUND_LISTENER,
  INBOUND_NAME,
  RBAC_DENY_FILTER,
  RBAC_ALLOW_FILTER,
  JWT_AUTHN_FILTER_NAME,
  PLAINTEXT_CHAINS,
  buildInboundHcm,
  buildInboundListener,
  renameInboundListener,
  inboundListeners,
  policiesFor,
  type FilterChainSpec,
  type InboundPolicySet,
  type InboundOptions,
} from './inbound-listener.js';
export { buildRbacConfig, rbacPolicyName, JWT_PAYLOAD_KEY, JWT_AUTHN_FILTER, type RbacOptions } from './inbound-rbac.js';
export { buildJwtAuthnConfig, jwtProviderName } from './inbound-jwt.js';
export { rateLimitHttpFilter, rateLimitRoutes, rateLimitRouteName, LOCAL_RATELIMIT_FILTER } from './inbound-ratelimit.js';
export { buildRouteConfiguration, comparePrecedence, type MatchPrecedence } from './routes.js';
export { buildLoadAssignment, MAX_ENDPOINT_WEIGHT } from './endpoints.js';
export { clusterName, listenerNames, routeName, defaultRouteName, durationFromMs, routerHttpFilter, type ProtoDuration } from './names.js';
export {
  SERVER_LISTENER_NAME_PREFIX,
  SERVER_INBOUND_NAME,
  buildServerListener,
  parseServerListenerName,
  serverListenerFor,
  type ListeningAddress,
  type ServerListenerName,
  type ServerListenerResult,
} from './server-listener.js';
