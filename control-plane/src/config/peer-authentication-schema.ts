// Schema and types of Weft's `PeerAuthentication` kind (weft.dev/v1alpha1, as Istio's): whether a Service's servers
// take mutual TLS only (STRICT), mutual TLS and plaintext on one port (PERMISSIVE), or plaintext only (DISABLE).
import { z } from 'zod';
import { serviceTargetRefSchema, type ServiceTargetRef } from './inbound-schema.js';

/** How a Service's servers treat connections. */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

/** `spec` of a PeerAuthentication. */
export interface PeerAuthenticationSpec {
  /** The Service whose servers this applies to; without it, every workload of the mesh (a Service's own wins). */
  readonly targetRef?: ServiceTargetRef;
  readonly mtls: { readonly mode: MtlsMode };
}

/** `spec` schema of a PeerAuthentication (the Service exists and one per Service/mesh: validate-inbound.ts). */
export const peerAuthenticationSpecSchema: z.ZodType<PeerAuthenticationSpec> = z.strictObject({
  targetRef: serviceTargetRefSchema.optional(),
  mtls: z.strictObject({
    mode: z.enum(['STRICT', 'PERMISSIVE', 'DISABLE'], {
      error: 'must be STRICT (mTLS only), PERMISSIVE (mTLS and plaintext on one port) or DISABLE (plaintext only)',
    }),
  }),
}) as z.ZodType<PeerAuthenticationSpec>;
