// The xDS discovery module's public surface: the ADS client, MeshState compilation and virtual-host selection.
export { createXdsClient } from './ads-client.js';
export type { XdsClient, XdsClientOptions, XdsConfigDump, XdsDumpedResource } from './ads-client.js';
export { compileMeshState, requiredResourceNames, clustersOf } from './compile.js';
export type { CompileInput } from './compile.js';
export { findVirtualHost } from './virtual-host.js';
export { RESOURCE_TYPES } from './resources/index.js';
export type { ResourceType, DecodedResource, ListenerResource, RouteConfigResource, ClusterResource, ClusterLoadAssignmentResource } from './resources/index.js';
