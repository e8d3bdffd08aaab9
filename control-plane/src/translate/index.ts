// Config + registry → Envoy xDS v3 resources (docs/xds-mapping.md).
export { translate, buildListener, buildCluster, CONNECT_TIMEOUT_MS } from './translate.js';
export { buildRouteConfiguration, comparePrecedence, type MatchPrecedence } from './routes.js';
export { buildLoadAssignment, MAX_ENDPOINT_WEIGHT } from './endpoints.js';
export { clusterName, listenerNames, routeName, defaultRouteName, durationFromMs, type ProtoDuration } from './names.js';
