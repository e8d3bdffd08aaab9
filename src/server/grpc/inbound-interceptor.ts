// The gRPC side of the inbound pipeline: a grpc-js server interceptor that runs authn → authz → rate limit on a
// call's metadata before its handler, answering refusals itself (UNAUTHENTICATED / PERMISSION_DENIED /
// RESOURCE_EXHAUSTED with an x-mesh-error trailer). Calls pass untouched while no policy enforces anything.
import type * as grpcTypes from '@grpc/grpc-js';
import type { GrpcJs } from '../../client/grpc/grpc-js.js';
import type { Decision, InboundRequest } from '../inbound/pipeline.js';
import { grpcRefusal } from '../inbound/refusal.js';
import { meshPeerOfCall, setJwtClaims } from '../inbound/identity.js';
import type { InboundRuntime } from '../inbound/runtime.js';
import { noteRefusal } from '../../telemetry/refusals.js';

/**
 * The interceptor. It must come first in the server's list so the policy runs before Weft's deadline and the
 * application's interceptors. On a refusal the handler never runs; messages the client sent meanwhile are dropped.
 */
export function inboundInterceptor(grpc: GrpcJs, runtime: InboundRuntime): grpcTypes.ServerInterceptor {
  return (method, call) => {
    // No policy: hand the call on as it is (grpc-js folds interceptors over the interface, so no wrapper is needed).
    if (runtime.current?.passThrough === true) return call as grpcTypes.ServerInterceptingCall;
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            const proceed = (d: Decision): void => {
              if (!d.ok) {
                noteRefusal(call, d.refusal);
                const answer = grpcRefusal(d.refusal);
                const trailers = new grpc.Metadata();
                for (const [k, v] of Object.entries(answer.trailers)) trailers.set(k, v);
                call.sendStatus({ code: answer.code, details: answer.details, metadata: trailers });
                return;
              }
              for (const name of d.strip) metadata.remove(name);
              if (d.claims !== undefined) setJwtClaims(metadata, d.claims);
              nextMetadata(metadata);
            };
            let decision: Decision | Promise<Decision>;
            try {
              decision = runtime.check(requestOf(method.path, metadata, call));
            } catch (e: unknown) {
              decision = { ok: false, refusal: { code: 'WEFT_ERR_INTERNAL', reason: 'inbound_pipeline_error', detail: String(e) } };
            }
            if (decision instanceof Promise) void decision.then(proceed);
            else proceed(decision);
          },
        }),
    });
  };
}

function requestOf(path: string, metadata: grpcTypes.Metadata, call: grpcTypes.ServerInterceptingCallInterface): InboundRequest {
  // Only mTLS the mesh terminated counts (a server bound with its own TLS credentials is plaintext to the mesh).
  const { meshTls, principal } = meshPeerOfCall(call);
  return {
    method: 'POST',
    path,
    rawPath: path,
    authority: call.getHost(),
    header(name: string): string | undefined {
      const values = metadata.get(name);
      if (values.length === 0) return undefined;
      return values.length === 1 && typeof values[0] === 'string' ? values[0] : values.filter((v): v is string => typeof v === 'string').join(',');
    },
    principal,
    peerVerified: meshTls,
    tls: meshTls,
    localPort: call.getConnectionInfo().localPort ?? 0,
    jwt: undefined,
  };
}
