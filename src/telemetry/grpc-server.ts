// Tracing and access logs of meshed gRPC servers: a grpc-js server interceptor, first in the server's list, that runs a
// SERVER span per call (context extracted from its metadata, handler run inside it), names the inbound refusal reason
// when the policy refused the call, and writes one access-log line per call.
import { SpanStatusCode, type Context } from '@opentelemetry/api';
import type * as grpcTypes from '@grpc/grpc-js';
import type { GrpcJs } from '../client/grpc/grpc-js.js';
import { peerIdentityOfCall } from '../server/inbound/identity.js';
import { shouldLog } from './access-log.js';
import {
  ATTR_ERROR_TYPE,
  ATTR_RPC_GRPC_STATUS_CODE,
  ATTR_RPC_METHOD,
  ATTR_RPC_STATUS_CODE,
  ATTR_RPC_SERVICE,
  ATTR_RPC_SYSTEM,
  ATTR_RPC_SYSTEM_NAME,
  GRPC_STATUS_NAMES,
  WEFT,
} from './attrs.js';
import type { PolicySource } from './http-server.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { refusalOf } from './refusals.js';
import { extractContext, sampledParent, SpanKind, startSpan, traceIdOf, withContext, type Started } from './tracing.js';

/** `pkg.Service/Method` of a gRPC path `/pkg.Service/Method`, and its service part. */
export function rpcNames(path: string): { readonly full: string; readonly service: string } {
  const full = path.startsWith('/') ? path.slice(1) : path;
  const slash = full.indexOf('/');
  return { full, service: slash < 0 ? full : full.slice(0, slash) };
}

/**
 * The tracing interceptor. Calls pass untouched (one cached check) while no TracerProvider is registered and the
 * inbound Telemetry does not log. It must be first in the server's interceptor list so it sees the inbound policy's
 * refusals (the inbound interceptor answers on the call this interceptor hands it).
 */
export function traceServerInterceptor(grpc: GrpcJs, t: MeshTelemetry, policyOf: PolicySource): grpcTypes.ServerInterceptor {
  return (method, call) => {
    const policy = policyOf();
    const probe = t.tracing.probe();
    const logs = policy?.accessLog !== undefined;
    if (!probe.on && !logs) return call as grpcTypes.ServerInterceptingCall;
    const startMs = performance.now();
    const startEpochMs = Date.now();
    const names = rpcNames(method.path);
    let started: Started | undefined;
    let ctx: Context | undefined;
    let done = false;
    const self: grpcTypes.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, nextMetadata) => {
            if (probe.on) {
              started = startSpan(
                t.tracing,
                names.full,
                SpanKind.SERVER,
                { [ATTR_RPC_SYSTEM_NAME]: 'grpc', [ATTR_RPC_SYSTEM]: 'grpc', [ATTR_RPC_METHOD]: names.full, [ATTR_RPC_SERVICE]: names.service },
                sampledParent(extractContext(metadata.getMap()), policy),
              );
              ctx = started.ctx;
            }
            return ctx !== undefined ? withContext(ctx, nextMetadata, metadata) : nextMetadata(metadata);
          },
          onReceiveMessage: (message, nextMessage) => (ctx !== undefined ? withContext(ctx, nextMessage, message) : nextMessage(message)),
          onReceiveHalfClose: (nextHalfClose) => (ctx !== undefined ? withContext(ctx, nextHalfClose) : nextHalfClose()),
        }),
      sendStatus: (status, nextStatus) => {
        if (!done) {
          done = true;
          const refusal = refusalOf(self);
          const peer = peerIdentityOfCall(call);
          const span = started?.span;
          if (span !== undefined) {
            span.setAttribute(ATTR_RPC_GRPC_STATUS_CODE, status.code);
            span.setAttribute(ATTR_RPC_STATUS_CODE, GRPC_STATUS_NAMES[status.code] ?? String(status.code));
            if (peer !== undefined) span.setAttribute(WEFT.peer, peer);
            if (refusal !== undefined) {
              span.setAttribute(WEFT.deniedReason, refusal.reason);
              span.setAttribute(WEFT.deniedDetail, refusal.detail);
              if (refusal.policy !== undefined || refusal.limit !== undefined) span.setAttribute(WEFT.deniedPolicy, refusal.policy ?? refusal.limit!);
              span.setAttribute(WEFT.errorCode, refusal.code);
            }
            // Server spans: only codes that mean the server failed are errors (semconv rpc spans).
            if ([2, 4, 12, 13, 14, 15].includes(status.code) || refusal !== undefined) {
              span.setAttribute(ATTR_ERROR_TYPE, GRPC_STATUS_NAMES[status.code] ?? String(status.code));
              span.setStatus({ code: SpanStatusCode.ERROR, message: status.details });
            }
            span.end();
          }
          const durationMs = performance.now() - startMs;
          if (logs && shouldLog(policy, 200, durationMs)) {
            const trace = traceIdOf(span);
            t.log.write({
              time: new Date(startEpochMs).toISOString(),
              direction: 'inbound',
              protocol: 'grpc',
              method: 'POST',
              authority: call.getHost(),
              path: method.path,
              status: 200,
              grpc_status: status.code,
              duration_ms: Math.round(durationMs * 1000) / 1000,
              ...(refusal !== undefined && { flags: [`denied:${refusal.reason}`], error: refusal.code }),
              ...(trace !== undefined && { trace_id: trace }),
              ...(peer !== undefined && { peer }),
            });
          }
        }
        nextStatus(status);
      },
    });
    return self;
  };
}
