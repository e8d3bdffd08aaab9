// The listening socket of a meshed server: tells mTLS connections from plaintext ones by their first byte (a TLS
// handshake starts with 0x16), so one port serves both (PERMISSIVE), and hands each to its server. HTTP and gRPC share
// it; the filter-chain rules of the inbound policy (STRICT: TLS only) are then enforced per request.
import net from 'node:net';
import tls from 'node:tls';
import type { MeshTls } from '../../identity/mesh-tls.js';

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
 * Terminates mTLS on `socket` with the current workload certificate: the client must present a certificate the trust
 * bundle verifies (OpenSSL checks the chain; the SPIFFE ID is read per request by peerIdentity()). Calls `secure` with
 * the TLS socket once the handshake is done; a failed or slow handshake, or no certificate here, closes the connection
 * and calls `refused` (`tls_no_certificate`, `tls_handshake_failed`). `alpn` names the application protocols offered.
 */
export function terminateMeshTls(
  socket: net.Socket,
  meshTls: MeshTls | undefined,
  secure: (socket: tls.TLSSocket) => void,
  refused: InboundFrontHandlers['refused'],
  alpn?: readonly string[],
): void {
  const peer = peerOf(socket);
  const context = meshTls?.context();
  if (context === undefined) {
    refused('tls_no_certificate', 'a TLS connection arrived and this server has no workload certificate to answer it with', peer);
    socket.destroy();
    return;
  }
  const secured = new tls.TLSSocket(socket, {
    isServer: true,
    secureContext: context,
    requestCert: true,
    rejectUnauthorized: true,
    ...(alpn !== undefined && { ALPNProtocols: [...alpn] }),
  });
  const timer = setTimeout(() => secured.destroy(new Error(`TLS handshake took longer than ${HANDSHAKE_TIMEOUT_MS} ms`)), HANDSHAKE_TIMEOUT_MS);
  timer.unref();
  const onError = (err: Error): void => {
    clearTimeout(timer);
    refused('tls_handshake_failed', `mTLS handshake refused: ${err.message}`, peer);
    secured.destroy();
  };
  secured.once('error', onError);
  secured.once('secure', () => {
    clearTimeout(timer);
    secured.off('error', onError);
    secured.on('error', () => secured.destroy()); // the server's own handlers take over from here
    secure(secured);
  });
}
