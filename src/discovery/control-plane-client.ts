// One grpc-js channel to the control plane for Weft's own unary services (Registry, Telemetry): each call carries the
// process's credential and a deadline, and a closed channel fails like any other RPC instead of throwing.
import * as grpc from '@grpc/grpc-js';
import type { ProtoObject } from './xds/protos.js';

/** Longest wait between two reconnect attempts of the channel (ms): well within a lease TTL's keep-alive period. */
const MAX_RECONNECT_BACKOFF_MS = 2000;

/** A unary call's answer: a grpc-js error, or the decoded response. */
export type UnaryCallback = (err: grpc.ServiceError | null, value?: ProtoObject) => void;

/** Options of ControlPlaneClient. */
export interface ControlPlaneClientOptions {
  /** gRPC target of the control plane: `host:port`, or controlPlaneTarget()'s list of replicas (fails over between them). */
  readonly server: string;
  /** Channel credentials; default insecure (plaintext). */
  readonly credentials?: grpc.ChannelCredentials;
  /** The credential each call presents as `authorization: Bearer <credential>` (workload assertion or bootstrap token). */
  readonly credential?: () => string | undefined;
}

/**
 * A channel to the control plane's gRPC port. unary() never throws: every failure, a closed channel included, reaches
 * the callback (asynchronously) as a grpc-js ServiceError.
 */
export class ControlPlaneClient {
  readonly #client: grpc.Client;
  readonly #credential: (() => string | undefined) | undefined;

  constructor(options: ControlPlaneClientOptions) {
    this.#client = new grpc.Client(options.server, options.credentials ?? grpc.credentials.createInsecure(), {
      // grpc-js backs off up to 120 s after a long outage: a control plane back sooner would then restore a lease that
      // expires (one TTL, 10 s by default) before this channel reconnects to keep it alive, and clients lose endpoints.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': MAX_RECONNECT_BACKOFF_MS,
    });
    this.#credential = options.credential;
  }

  /** Calls the unary method `def` (from protos()) with `request`, failing DEADLINE_EXCEEDED after `timeoutMs`. */
  unary(def: grpc.MethodDefinition<ProtoObject, ProtoObject>, request: ProtoObject, timeoutMs: number, callback: UnaryCallback): void {
    try {
      const metadata = new grpc.Metadata();
      const credential = this.#credential?.();
      if (credential !== undefined && credential !== '') metadata.set('authorization', `Bearer ${credential}`);
      this.#client.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, metadata, { deadline: Date.now() + timeoutMs }, callback);
    } catch (e: unknown) {
      // A closed channel throws synchronously; report it like any failed RPC.
      const err = Object.assign(new Error(e instanceof Error ? e.message : String(e)), {
        code: grpc.status.UNAVAILABLE,
        details: 'channel closed',
        metadata: new grpc.Metadata(),
      });
      queueMicrotask(() => callback(err));
    }
  }

  /** Closes the channel; later calls fail UNAVAILABLE. Idempotent. */
  close(): void {
    this.#client.close();
  }
}
