// Translates PeerAuthentication into xDS (docs/xds-mapping.md "mTLS", gRFC A29): a destination's Cluster tells callers
// to use mTLS and which SPIFFE ID to accept, and a Service's inbound Listener tells its servers which connections to
// take (filter chains with or without a DownstreamTlsContext).
import type { MtlsMode } from '../config/peer-authentication-schema.js';
import { TYPE_URL, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import {
  CERT_PROVIDER_INSTANCE,
  IDENTITY_CERT_NAME,
  ROOT_CERT_NAME,
  TLS_MODE_FIELD,
  TLS_MODE_WEFT,
  TLS_TRANSPORT_SOCKET,
  TRANSPORT_SOCKET_MATCH_KEY,
} from '../../../src/identity/mtls-wire.js';
import { INBOUND_NAME, PLAINTEXT_CHAINS, type FilterChainSpec } from './inbound-listener.js';

/** Name of the TLS filter chain of an inbound Listener. */
export const INBOUND_MTLS_CHAIN = 'weft-inbound-mtls';

const commonTlsContext = (peerIds: readonly string[] | undefined): ProtoObject => ({
  tls_certificate_provider_instance: { instance_name: CERT_PROVIDER_INSTANCE, certificate_name: IDENTITY_CERT_NAME },
  validation_context: {
    ca_certificate_provider_instance: { instance_name: CERT_PROVIDER_INSTANCE, certificate_name: ROOT_CERT_NAME },
    ...(peerIds !== undefined && { match_subject_alt_names: peerIds.map((exact) => ({ exact })) }),
  },
});

/** The transport socket of a caller to a Service whose servers present `spiffeId`: mTLS, accepting only that ID. */
export function upstreamTransportSocket(spiffeId: string): ProtoObject {
  return { name: TLS_TRANSPORT_SOCKET, typed_config: { '@type': TYPE_URL.upstreamTlsContext, common_tls_context: commonTlsContext([spiffeId]) } };
}

/**
 * The Cluster fields for a destination in `mode`:
 * - STRICT: `transport_socket` (every caller must use mTLS; grpc-js-xds does too, with a `weft` certificate provider);
 * - PERMISSIVE: `transport_socket_matches` with mTLS for endpoints marked `tlsMode: weft` (Weft servers with a
 *   certificate; Istio's auto-mTLS), plaintext to the others and for clients that ignore the matches (grpc-js-xds);
 * - DISABLE: nothing (plaintext).
 */
export function clusterMtlsFields(mode: MtlsMode, spiffeId: string): ProtoObject {
  switch (mode) {
    case 'STRICT':
      return { transport_socket: upstreamTransportSocket(spiffeId) };
    case 'PERMISSIVE':
      return { transport_socket_matches: [{ name: 'tlsMode-weft', match: TLS_MODE_STRUCT, transport_socket: upstreamTransportSocket(spiffeId) }] };
    case 'DISABLE':
      return {};
  }
}

/** `{ tlsMode: weft }` as a google.protobuf.Struct (protobufjs' built-in Value takes camelCase members). */
const TLS_MODE_STRUCT: ProtoObject = Object.freeze({ fields: { [TLS_MODE_FIELD]: { stringValue: TLS_MODE_WEFT } } });

/** An endpoint's metadata marking it as serving mTLS (`tlsMode: weft`), matched by `transport_socket_matches`. */
export const TLS_ENDPOINT_METADATA: ProtoObject = Object.freeze({ filter_metadata: { [TRANSPORT_SOCKET_MATCH_KEY]: TLS_MODE_STRUCT } });

const mtlsChain = (match: boolean): FilterChainSpec => ({
  name: INBOUND_MTLS_CHAIN,
  ...(match && { filter_chain_match: { transport_protocol: 'tls' } }),
  transport_socket: {
    name: TLS_TRANSPORT_SOCKET,
    typed_config: { '@type': TYPE_URL.downstreamTlsContext, require_client_certificate: { value: true }, common_tls_context: commonTlsContext(undefined) },
  },
});

/**
 * The filter chains of an inbound Listener for `mode`. STRICT: one chain with a DownstreamTlsContext requiring a client
 * certificate, and no match (so gRFC A36/A29 servers serve it as their TLS chain). PERMISSIVE: that chain matched on
 * `transport_protocol: tls` plus a plaintext chain matched on `raw_buffer` (grpc-js-xds servers, which cannot tell TLS
 * apart, keep only the plaintext one). DISABLE: the plaintext chain.
 */
export function inboundChains(mode: MtlsMode): readonly FilterChainSpec[] {
  switch (mode) {
    case 'STRICT':
      return [mtlsChain(false)];
    case 'PERMISSIVE':
      return [mtlsChain(true), { name: INBOUND_NAME, filter_chain_match: { transport_protocol: 'raw_buffer' } }];
    case 'DISABLE':
      return PLAINTEXT_CHAINS;
  }
}
