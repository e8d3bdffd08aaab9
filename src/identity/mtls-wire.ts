// The names mTLS uses on the xDS wire (docs/xds-mapping.md "mTLS"), shared by the control plane that writes them and
// the SDK that reads them.

/** Envoy's transport socket name for TLS. */
export const TLS_TRANSPORT_SOCKET = 'envoy.transport_sockets.tls';
/**
 * The certificate provider instance a Cluster's or filter chain's TLS context names (gRFC A29). A Weft process uses its
 * own workload identity whatever the name; a grpc-js-xds process needs a `certificate_providers` entry of this name in
 * its bootstrap (e.g. a file_watcher over the files of `weft cert issue`).
 */
export const CERT_PROVIDER_INSTANCE = 'weft';
/** `certificate_name` of the identity (key and chain) and of the roots in those instances. */
export const IDENTITY_CERT_NAME = 'default';
export const ROOT_CERT_NAME = 'ROOTCA';
/** The `filter_metadata` key of an endpoint's transport socket match (Envoy `transport_socket_matches`). */
export const TRANSPORT_SOCKET_MATCH_KEY = 'envoy.transport_socket_match';
/** Endpoint metadata `tlsMode: weft` marks an endpoint that serves mTLS (a Weft server with a workload certificate). */
export const TLS_MODE_FIELD = 'tlsMode';
export const TLS_MODE_WEFT = 'weft';
/** The registration label by which a Weft server says it serves mTLS (it becomes the endpoint metadata above). */
export const TLS_MODE_LABEL = 'security.weft.dev/tlsMode';
