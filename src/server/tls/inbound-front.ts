// The listening socket of a meshed server: tells mTLS connections from plaintext ones by their first byte (a TLS
// handshake starts with 0x16), so one port serves both (PERMISSIVE), and hands each to its server. HTTP and gRPC share
// it; the filter-chain rules of the inbound policy (STRICT: TLS only) are then enforced per request.
import net from 'node:net';
import tls from 'node:tls';
import { MESH_TLS_MIN_VERSION, type MeshTls } from '../../identity/mesh-tls.js';
import type { WorkloadCertificate } from '../../identity/workload-identity.js';
import { markMeshTls } from '../inbound/identity.js';

/** A TLS record of type handshake: what every TLS connection sends first. */
const TLS_HANDSHAKE = 0x16;
/** Default bound on waiting for a connection's first byte (ms); a silent connection is closed after it. */
export const FIRST_BYTE_TIMEOUT_MS = 10_000;
/** Default bound on a TLS handshake (ms). */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/** Where a sorted connection goes, and what to do with one that is refused. */
export interface InboundFrontHandlers {
  /** A connection whose first byte is not a TLS handshake (the byte is back in the socket). */
  plaintext(socket: net.Socket): void;
  /** A connection that opened a TLS handshake (the byte is back in the socket). */
  tls(socket: net.Socket): void;
  /** A connection closed before it reached a server: `reason` is a stable code, `detail` says why. */
  refused(reason: string, detail: string, peer: string): void;
}

/** Options of createInboundFront. */
export interface InboundFrontOptions {
  readonly firstByteTimeoutMs?: number;
}

/** `ip:port` of a socket's peer. */
export function peerOf(socket: net.Socket): string {
  const ip = socket.remoteAddress ?? '?';
  return ip.includes(':') ? `[${ip}]:${socket.remotePort}` : `${ip}:${socket.remotePort}`;
}

/**
 * A net.Server (not yet listening) that sorts each accepted connection by its first byte and passes it on. A connection
 * that closes, errs or stays silent for `firstByteTimeoutMs` before its first byte is closed and never reaches a server.
 * Costs one extra read per connection, nothing per request.
 */
export function createInboundFront(handlers: InboundFrontHandlers, options: InboundFrontOptions = {}): net.Server {
  const timeoutMs = options.firstByteTimeoutMs ?? FIRST_BYTE_TIMEOUT_MS;
  return net.createServer({ pauseOnConnect: false }, (socket) => {
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    timer.unref();
    const onError = (): void => clearTimeout(timer);
    socket.once('error', onError);
    socket.once('close', onError);
    socket.once('readable', () => {
      clearTimeout(timer);
      socket.off('error', onError);
      socket.off('close', onError);
      const first = socket.read(1) as Buffer | null;
      if (first === null) return void socket.destroy();
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE) handlers.tls(socket);
      else handlers.plaintext(socket);
    });
  });
}

/**
 * Terminates mTLS for a server with the current workload certificate, through a tls.Server that never listens (Node's
 * own server-side verification: the client must present a certificate the trust bundle verifies, or the handshake
 * fails; `authorized` and the peer certificate are then set for peerIdentity()). The certificate is checked per
 * connection and the server's secure context replaced (about 2 ms) only when it changed, so connections accepted after
 * a rotation present the new certificate. `secure` gets each TLS socket once its handshake is done; a connection with
 * no certificate here, a client certificate the trust bundle does not verify (or none), or a failed or slow handshake
 * is closed before any byte reaches the server, and reported to `refused` (`tls_no_certificate`, `tls_peer_rejected`,
 * `tls_handshake_failed`). `alpn` names the application protocols offered.
 */
export class MeshTlsTerminator {
  readonly #meshTls: MeshTls | undefined;
  readonly #server: tls.Server;
  readonly #refused: InboundFrontHandlers['refused'];
  #cert: WorkloadCertificate | undefined;

  constructor(meshTls: MeshTls | undefined, secure: (socket: tls.TLSSocket) => void, refused: InboundFrontHandlers['refused'], alpn?: readonly string[]) {
    this.#meshTls = meshTls;
    this.#refused = refused;
    // rejectUnauthorized is enforced below, not by the server: Node would drop the connection without saying why.
    this.#server = tls.createServer({
      requestCert: true,
      rejectUnauthorized: false,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
      minVersion: MESH_TLS_MIN_VERSION,
      ...(alpn !== undefined && { ALPNProtocols: [...alpn] }),
    });
    this.#server.on('secureConnection', (socket: tls.TLSSocket) => {
      if (!socket.authorized) {
        // No client certificate, or one the trust bundle does not verify (foreign CA, expired, not yet valid...).
        refused('tls_peer_rejected', `mTLS client certificate refused: ${String(socket.authorizationError ?? 'none presented')}`, peerOf(rawOf(socket)));
        socket.destroy();
        return;
      }
      socket.on('error', () => socket.destroy()); // the server's own handlers take over from here
      markMeshTls(socket);
      secure(socket);
    });
    this.#server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => {
      refused('tls_handshake_failed', `mTLS handshake failed: ${err.message}`, peerOf(rawOf(socket)));
      socket.destroy();
    });
  }

  /** Starts TLS on an accepted connection (its first byte a TLS handshake). */
  handle(socket: net.Socket): void {
    const cert = this.#meshTls?.certificate();
    if (cert === undefined) {
      this.#refused('tls_no_certificate', 'a TLS connection arrived and this server has no workload certificate to answer it with', peerOf(socket));
      socket.destroy();
      return;
    }
    if (cert !== this.#cert) {
      this.#server.setSecureContext({ key: cert.privateKeyPem, cert: cert.certificateChainPem, ca: cert.trustBundlePem, minVersion: MESH_TLS_MIN_VERSION });
      this.#cert = cert;
    }
    this.#server.emit('connection', socket);
  }
}

/** The accepted socket under a TLS socket (its address survives the TLS socket's destruction). */
function rawOf(socket: tls.TLSSocket): net.Socket {
  return (socket as unknown as { _parent?: net.Socket })._parent ?? socket;
}
