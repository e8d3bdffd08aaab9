// Config + registry → Envoy xDS v3 resources (docs/xds-mapping.md).
export { translate, buildListener, buildCluster, CONNECT_TIMEOUT_MS } from './translate.js';
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
