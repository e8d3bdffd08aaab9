// How a client secures its connections to one endpoint of a cluster (mTLS with the SPIFFE IDs to accept, plaintext, or
// impossible without an identity): one decision for the HTTP pools and the gRPC subchannels alike.
import type { ClusterState, Endpoint, StringMatcher } from '../discovery/mesh-state.js';

/** mTLS to an endpoint whose server must present one of `peerIds` (any mesh SVID when empty). */
export interface EndpointTls {
  readonly peerIds: readonly StringMatcher[];
}

/**
 * How the calls to endpoint `e` of `cluster` are secured: mTLS (the SPIFFE IDs to accept) when the cluster says so for
 * this endpoint and the process has a workload identity (`mtls`); plaintext when it does not say so, or says so only
 * for servers that offer it (PERMISSIVE) and the process has no identity; `missing` when every call must be mTLS
 * (STRICT) and the process cannot. Pure; never throws.
 */
export function endpointTls(cluster: ClusterState, e: Endpoint, mtls: boolean): EndpointTls | 'plaintext' | 'missing' {
  const tls = cluster.tls;
  if (tls === undefined) return 'plaintext';
  if (tls.when === 'endpoint-metadata' && e.transportSocketMatch?.[tls.field] !== tls.value) return 'plaintext';
  if (!mtls) return tls.when === 'always' ? 'missing' : 'plaintext';
  return { peerIds: tls.peerIds };
}

/** A stable key of an EndpointTls (connections to the same address that accept other peer IDs are other connections). */
export function endpointTlsKey(tls: EndpointTls): string {
  return tls.peerIds.map((m) => `${m.kind}:${m.value}`).join(',');
}
