// The channel credentials of meshed gRPC channels: plaintext to every address, except the connections the `weft_mesh`
// LB policy marks as mTLS (a subchannel argument), which present the workload certificate and accept the server only
// by its SPIFFE ID, as the HTTP endpoint pools do. One object per mesh; secure contexts are built once per rotation.
import net from 'node:net';
import tls from 'node:tls';
import type * as grpcTypes from '@grpc/grpc-js';
import { ERROR_CODES, isMeshError, type MeshError } from '../../core/errors.js';
import { MESH_TLS_MIN_VERSION, spiffeServerCheck, type MeshTls } from '../../identity/mesh-tls.js';
import { endpointTlsKey, type EndpointTls } from '../endpoint-tls.js';
import type { GrpcJs } from './grpc-js.js';

/**
 * The subchannel argument that makes a connection mTLS (value: a SubchannelTls). Not under grpc-js's
 * `grpc.internal.no_subchannel` prefix: it must reach the subchannel, and it keys the subchannel pool, so the same
 * (interned) object stands for the same peer IDs and every channel of a mesh shares those connections.
 */
export const MTLS_SUBCHANNEL_ARG = 'weft.mtls';

/** What an mTLS subchannel needs: the identity to present and the SPIFFE check of its server. */
export interface SubchannelTls {
  readonly meshTls: MeshTls;
  readonly tls: EndpointTls;
  readonly checkServerIdentity: (host: string, cert: tls.PeerCertificate) => Error | undefined;
  /**
   * The last WEFT_ERR_IDENTITY a connection with these settings failed with (no certificate here, or the server's
   * identity refused); cleared by the next successful handshake. The LB policy reports it instead of a generic error.
   */
  lastIdentityError: MeshError | undefined;
}

const interned = new WeakMap<MeshTls, Map<string, SubchannelTls>>();

/** The one SubchannelTls of `meshTls` and `endpointTls` (the same object for the same peer IDs). */
export function subchannelTls(meshTls: MeshTls, endpointTls: EndpointTls): SubchannelTls {
  let byKey = interned.get(meshTls);
  if (byKey === undefined) interned.set(meshTls, (byKey = new Map()));
  const key = endpointTlsKey(endpointTls);
  let spec = byKey.get(key);
  if (spec === undefined) {
    spec = { meshTls, tls: endpointTls, checkServerIdentity: spiffeServerCheck(endpointTls.peerIds, 'the gRPC server'), lastIdentityError: undefined };
    byKey.set(key, spec);
  }
  return spec;
}

const byModule = new WeakMap<GrpcJs, () => grpcTypes.ChannelCredentials>();

/**
 * New mesh channel credentials (defined against the application's grpc-js, loaded lazily). Without the
 * MTLS_SUBCHANNEL_ARG argument a connection is plaintext, exactly as `credentials.createInsecure()`; with it, TLS 1.3
 * with ALPN h2, the current workload certificate and the SPIFFE check (host names ignored). A connection that needs a
 * certificate the process lacks fails before sending anything with WEFT_ERR_IDENTITY. `_isSecure()` is true so call
 * credentials can be composed onto it (they are sent on plaintext connections too: compose only what may be).
 */
export function meshChannelCredentials(grpc: GrpcJs): grpcTypes.ChannelCredentials {
  let make = byModule.get(grpc);
  if (make === undefined) {
    make = defineCredentials(grpc);
    byModule.set(grpc, make);
  }
  return make();
}

function defineCredentials(grpc: GrpcJs): () => grpcTypes.ChannelCredentials {
  type SecureConnector = grpcTypes.experimental.SecureConnector;
  type CallCredentials = grpcTypes.CallCredentials;

  class MeshChannelCredentials extends grpc.ChannelCredentials {
    _isSecure(): boolean {
      return true;
    }

    _equals(other: grpcTypes.ChannelCredentials): boolean {
      return other === this;
    }

    _createSecureConnector(_target: unknown, options: grpcTypes.ChannelOptions, callCredentials?: CallCredentials): SecureConnector {
      const creds = callCredentials ?? grpc.credentials.createEmpty();
      const spec = options[MTLS_SUBCHANNEL_ARG] as SubchannelTls | undefined;
      return {
        connect: spec === undefined ? (socket) => Promise.resolve({ socket, secure: false }) : (socket) => connectMtls(socket, spec),
        waitForReady: () => Promise.resolve(),
        getCallCredentials: () => creds,
        destroy: () => {},
      };
    }
  }
  return () => new MeshChannelCredentials();
}

/** Runs the client side of an mTLS handshake on `socket` (already connected). Rejects with the reason it failed. */
function connectMtls(socket: net.Socket, spec: SubchannelTls): Promise<{ socket: net.Socket; secure: boolean }> {
  const context = spec.meshTls.context();
  if (context === undefined) {
    const error = spec.meshTls.noCertificateError(`the gRPC connection to ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`);
    spec.lastIdentityError = error;
    return Promise.reject(error);
  }
  return new Promise((resolve, reject) => {
    const secured = tls.connect({
      socket,
      secureContext: context,
      ALPNProtocols: ['h2'],
      minVersion: MESH_TLS_MIN_VERSION,
      checkServerIdentity: spec.checkServerIdentity,
    });
    let settled = false;
    // Stays attached (a no-op once settled): a TLS socket may report more than one error, and one emitted before
    // grpc-js attaches its own handlers must not go unhandled.
    const onError = (e: Error): void => {
      if (settled) return;
      settled = true;
      if (isMeshError(e, ERROR_CODES.IDENTITY)) spec.lastIdentityError = e;
      secured.destroy();
      reject(e);
    };
    secured.on('error', onError);
    secured.once('secureConnect', () => {
      if (!secured.authorized) return onError(secured.authorizationError ?? new Error('the gRPC server certificate was not verified'));
      settled = true;
      spec.lastIdentityError = undefined;
      resolve({ socket: secured, secure: true });
    });
  });
}
