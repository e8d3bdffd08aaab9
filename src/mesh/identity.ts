// Starts the workload identity for createMesh() when a bootstrap token is configured, loading the PKI code (pkijs,
// jose: ~250 ms to import) only then.
import type { Logger } from '../core/logger.js';
import type { XdsClient } from '../discovery/xds/ads-client.js';
import { TRUST_BUNDLE_SECRET } from '../discovery/xds/resources/secret.js';
import type { TokenSource } from '../identity/token-source.js';
import type { WorkloadIdentity } from '../identity/workload-identity.js';

/** A started identity and what to stop on mesh.close(). */
export interface MeshIdentity {
  readonly identity: WorkloadIdentity;
  /** Subscribes to the trust bundle over SDS on the mesh's own xDS client. */
  watchTrustBundle(xds: XdsClient): void;
  close(): void;
}

/** Creates the WorkloadIdentity for `service`, enrolling with the control plane at `controlPlaneAddress` (host:port). */
export async function startMeshIdentity(options: { service: string; controlPlaneAddress: string; token: TokenSource; logger: Logger }): Promise<MeshIdentity> {
  const [{ WorkloadIdentity }, { IdentityClient }] = await Promise.all([import('../identity/workload-identity.js'), import('../identity/enrolment-client.js')]);
  const client = new IdentityClient({ server: options.controlPlaneAddress });
  const identity = new WorkloadIdentity({ service: options.service, token: options.token, enrol: (csr, credential) => client.sign(csr, credential), logger: options.logger });
  let sds: { dispose(): void } | undefined;
  return {
    identity,
    watchTrustBundle(xds) {
      sds = xds.watchSecret(TRUST_BUNDLE_SECRET, (secret) => identity.setTrustBundle(secret.trustedCaPem));
    },
    close() {
      sds?.dispose();
      identity.close();
      client.close();
    },
  };
}
