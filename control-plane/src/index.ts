// Public API of the Weft control plane (`weft/control-plane`): start one, or assemble its parts yourself.
export { startControlPlane, DEFAULT_XDS_PORT, DEFAULT_ADMIN_PORT, SHUTDOWN_GRACE_MS, type ControlPlane, type ControlPlaneOptions } from './control-plane.js';
export { DEFAULT_MAX_CONNECTION_AGE_MS, DEFAULT_MAX_CONNECTION_AGE_GRACE_MS } from './control-plane.js';
export { PushDebouncer, DEFAULT_DEBOUNCE_MS, DEFAULT_DEBOUNCE_MAX_MS, type PushDebounceOptions, type PushChange, type PushBatch } from './server/push-debounce.js';
export { StreamConvergence, type PushObserver, type ResponseAnswer } from './server/convergence.js';
export { PushMetrics, CONVERGENCE_BUCKETS_S, type ConvergenceStatus } from './telemetry/push-metrics.js';
export type {
  ConfigError,
  ConfigResource,
  ConfigStore,
  ConfigChange,
  MeshConfig,
  RegisteredEndpoint,
  ResourceMetadata,
  XdsResource,
  XdsResources,
} from './model.js';
export { formatConfigError } from './model.js';
export { openDirStore, type DirStoreOptions } from './config/dir-store.js';
export { openEtcdStore, MAX_EDIT_ATTEMPTS, type EtcdStoreOptions } from './config/etcd-store.js';
export {
  openEtcd,
  parseEtcdStoreUrl,
  resolveEtcdConnection,
  isEtcdStore,
  etcdKeys,
  DEFAULT_ETCD_PREFIX,
  DEFAULT_ETCD_PORT,
  DEFAULT_ETCD_CONNECT_TIMEOUT_MS,
  ETCD_CALL_TIMEOUT_MS,
  type EtcdKeys,
  type EtcdStoreUrl,
  type EtcdConnection,
  type EtcdConnectionOptions,
  type OpenEtcdOptions,
} from './etcd/etcd-client.js';
export { ReplicaPresence, REPLICA_LEASE_TTL_S, type ReplicaInfo } from './etcd/replica-presence.js';
export { EtcdLeases, type EtcdLeasesOptions } from './registry/etcd-leases.js';
export { translate, type TranslateOptions } from './translate/translate.js';
export {
  MESH_INBOUND_LISTENER,
  PLAINTEXT_CHAINS,
  buildInboundHcm,
  buildInboundListener,
  inboundListeners,
  policiesFor,
  type FilterChainSpec,
  type InboundPolicySet,
} from './translate/inbound-listener.js';
export { SERVER_LISTENER_NAME_PREFIX, buildServerListener, parseServerListenerName, type ListeningAddress, type ServerListenerName } from './translate/server-listener.js';
export {
  Registry,
  clampTtlMs,
  DEFAULT_LEASE_TTL_MS,
  MIN_LEASE_TTL_MS,
  MAX_LEASE_TTL_MS,
  MAX_ENDPOINT_WEIGHT,
  SYSTEM_CLOCK,
  type ClockTimer,
  validateRegistration,
  type EndpointRegistration,
  type Lease,
  type LeaseService,
  type RegistryClock,
  type RegistryError,
  type RegistryOptions,
  type RegistryResult,
} from './registry/registry.js';
export { addRegistryService, registryHandlers } from './registry/registry-service.js';
export { SnapshotCache, MAX_DERIVED_RESOURCES, type CachedResource, type SetResult, type SnapshotCacheOptions, type TypeSnapshot } from './server/snapshot-cache.js';
export { AdsServer, type AdsServerOptions, type ConfigDumpResult, type NodeConfigDump } from './server/ads-server.js';
export type { ClientConfigDump, ClientStatus, ClientTypeStatus, DiscoveryResponse, NackInfo } from './server/ads-stream.js';
export { AdsTestClient, type ReceivedResponse, type RequestFields } from './server/ads-test-client.js';
export {
  startAdminServer,
  adminRequestListener,
  MAX_ADMIN_BODY_BYTES,
  type AdminApiDeps,
  type AdminServer,
  type AdminServerOptions,
  type EndpointView,
  type StatusView,
} from './admin/admin-api.js';
/** The CA, bootstrap tokens, enrolment and xDS caller authentication (docs/configuration.md "Control plane security"). */
export { CertificateAuthority, DEFAULT_CERT_TTL_MS, DEFAULT_ACTIVATE_AFTER_MS, type CaOptions, type CaStatus, type CaRootStatus, type IssuedCertificate } from './ca/authority.js';
export type { OperatorCaFiles } from './ca/operator-ca.js';
export { BootstrapTokens, TOKEN_AUDIENCE, TOKEN_ISSUER, type IssuedToken, type TokenGrant, type TokenRequest } from './auth/bootstrap-tokens.js';
export { XdsAuthenticator, isLoopbackPeer, type XdsAuthMode, type XdsCaller } from './auth/xds-auth.js';
export { addIdentityService, identityHandlers } from './ca/identity-service.js';
export type { SecurityOptions } from './auth/security.js';
