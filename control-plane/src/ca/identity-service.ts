// Serves enrolment over gRPC as weft.identity.v1.Identity (proto/weft/identity/v1/identity.proto) on the xDS port.
import * as grpc from '@grpc/grpc-js';
import { protos, type ProtoObject } from '../../../src/discovery/xds/protos.js';
import { signWorkloadCsr, type SignCredential, type SignDeps, type SignRefusalCode } from './sign.js';

const STATUS: Readonly<Record<SignRefusalCode, grpc.status>> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
};

/** grpc-js handlers of weft.identity.v1.Identity; add them with `server.addService(protos().identityService, handlers)`. */
export function identityHandlers(deps: SignDeps): grpc.UntypedServiceImplementation {
  const Sign: grpc.handleUnaryCall<ProtoObject, ProtoObject> = (call, callback) => {
    const request = call.request ?? {};
    signWorkloadCsr(deps, { csr: str(request['csr']), credential: credentialOf(request), peer: call.getPeer() }).then(
      (outcome) => {
        if (outcome.ok) {
          const v = outcome.value;
          callback(null, { certificate_chain: [...v.certificateChain], trust_bundle: [...v.trustBundle], spiffe_id: v.spiffeId, expires_at_ms: v.expiresAtMs });
          return;
        }
        const trailers = new grpc.Metadata();
        if (outcome.retryAfterMs !== undefined) trailers.set('grpc-retry-pushback-ms', String(outcome.retryAfterMs));
        callback({ code: STATUS[outcome.code], details: outcome.message, metadata: trailers });
      },
      (e: unknown) => {
        // signWorkloadCsr never rejects; if it ever did, answer instead of leaving the call hanging.
        deps.logger.error('identity: Sign failed', { error: e instanceof Error ? e.stack : String(e) });
        callback({ code: grpc.status.INTERNAL, details: 'internal error while signing' });
      },
    );
  };
  return { Sign };
}

/** Adds the Identity service to `server`. */
export function addIdentityService(server: grpc.Server, deps: SignDeps): void {
  server.addService(protos().identityService, identityHandlers(deps));
}

function credentialOf(request: ProtoObject): SignCredential {
  const which = str(request['credential']);
  if (which === 'bootstrap_token') return { kind: 'bootstrap-token', token: str(request['bootstrap_token']) };
  if (which === 'renewal') {
    const renewal = (request['renewal'] ?? {}) as ProtoObject;
    const chain = Array.isArray(renewal['certificate_chain']) ? (renewal['certificate_chain'] as unknown[]).filter((c): c is string => typeof c === 'string') : [];
    const signature = renewal['signature'] instanceof Uint8Array ? renewal['signature'] : new Uint8Array();
    return { kind: 'renewal', chainPem: chain, signature };
  }
  return { kind: 'none' };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}
