// What a handler may know about its caller: the SPIFFE ID of its verified certificate (mTLS) and the claims of the
// JWT authn verified, for HTTP requests (node:http) and gRPC calls (grpc-js) alike.
import type http from 'node:http';
import { TLSSocket } from 'node:tls';
import { spiffeIdOfSans } from '../../identity/spiffe.js';
import type { JwtClaims } from '../../policy/authn/index.js';

/** A grpc-js server call as Weft reads it (every surface call and intercepting call has these). */
export interface GrpcCallLike {
  readonly metadata?: object;
  getAuthContext(): { readonly transportSecurityType?: string; readonly sslPeerCertificate?: { readonly subjectaltname?: string; readonly fingerprint256?: string } };
}

/** Where the verified claims ride on the request (or the call's Metadata): a property, cheaper than a WeakMap entry. */
const CLAIMS = Symbol('weft.jwtClaims');
const idBySocket = new WeakMap<object, string | null>();

/** Records the verified claims of a request (HTTP IncomingMessage) or call (its Metadata object). */
export function setJwtClaims(key: object, claims: JwtClaims): void {
  (key as { [CLAIMS]?: JwtClaims })[CLAIMS] = claims;
}

/** TLS connections the mesh terminated itself: client certificate verified against the mesh's trust bundle. */
const meshTls = new WeakSet<TLSSocket>();
/**
 * The SHA-256 fingerprints of the client certificates on open mesh mTLS connections, with how many present each.
 * A grpc-js call shows its peer certificate but not its socket, so this is how a call tells mesh mTLS from TLS a
 * server did itself. Bounded by the open connections.
 */
const meshPeerCertificates = new Map<string, number>();

/** Records `socket` as mesh mTLS: the inbound front verified its client certificate against the mesh trust bundle. */
export function markMeshTls(socket: TLSSocket): void {
  meshTls.add(socket);
  const fingerprint = socket.getPeerCertificate().fingerprint256;
  if (fingerprint === undefined || fingerprint === '') return;
  meshPeerCertificates.set(fingerprint, (meshPeerCertificates.get(fingerprint) ?? 0) + 1);
  socket.once('close', () => {
    const left = (meshPeerCertificates.get(fingerprint) ?? 1) - 1;
    if (left > 0) meshPeerCertificates.set(fingerprint, left);
    else meshPeerCertificates.delete(fingerprint);
  });
}

/**
 * What a grpc-js call says of its peer, read once: whether it came over mesh mTLS (its peer certificate is one an open
 * connection terminated by the inbound front presented, verified against the mesh trust bundle) and, if so, the
 * SPIFFE ID of that certificate. A server bound with its own TLS credentials verifies against a CA of its choosing,
 * so its calls are plaintext to the mesh and name no principal.
 */
export function meshPeerOfCall(call: GrpcCallLike): { readonly meshTls: boolean; readonly principal: string | undefined } {
  const cert = call.getAuthContext().sslPeerCertificate;
  const fingerprint = cert?.fingerprint256;
  if (fingerprint === undefined || !meshPeerCertificates.has(fingerprint)) return NOT_MESH_TLS;
  return { meshTls: true, principal: spiffeIdOfSans(cert?.subjectaltname) };
}
const NOT_MESH_TLS = Object.freeze({ meshTls: false, principal: undefined });

/**
 * Whether `socket` is a mesh mTLS connection (terminated by the inbound front with the workload certificate, client
 * certificate verified against the mesh trust bundle). TLS a server did itself (an https.Server with its own `ca`)
 * is not: its client certificates may come from any CA, so they never name a mesh principal or satisfy STRICT.
 */
export function isMeshTls(socket: unknown): socket is TLSSocket {
  return socket instanceof TLSSocket && meshTls.has(socket);
}

/**
 * The SPIFFE ID of the socket's peer: only from a mesh mTLS connection (isMeshTls: its certificate verified against
 * the mesh trust bundle), and only when that certificate is an X.509 SVID (exactly one URI SAN, spiffe://). Cached
 * per socket (a connection's peer never changes). undefined on plaintext, on TLS the mesh did not terminate, or for
 * a non-SVID.
 */
export function peerIdentityOfSocket(socket: unknown): string | undefined {
  if (!isMeshTls(socket) || !socket.authorized) return undefined;
  const known = idBySocket.get(socket);
  if (known !== undefined) return known ?? undefined;
  const id = spiffeIdOfSans(socket.getPeerCertificate().subjectaltname);
  idBySocket.set(socket, id ?? null);
  return id;
}

/** The SPIFFE ID of a grpc-js call's peer certificate when the call came over mesh mTLS (meshPeerOfCall), or undefined. */
export function peerIdentityOfCall(call: GrpcCallLike): string | undefined {
  return meshPeerOfCall(call).principal;
}

/**
 * The caller's SPIFFE ID (`spiffe://<trust-domain>/ns/<namespace>/sa/<service>`) from its verified certificate, for a
 * served HTTP request (`req`) or gRPC call (`call`, any handler's call object). undefined when the connection is
 * plaintext or the peer presented no SVID. Cheap (cached per connection); never throws.
 */
export function peerIdentity(reqOrCall: http.IncomingMessage | GrpcCallLike): string | undefined {
  if ('socket' in reqOrCall && reqOrCall.socket !== undefined) return peerIdentityOfSocket(reqOrCall.socket);
  if (typeof (reqOrCall as GrpcCallLike).getAuthContext === 'function') return peerIdentityOfCall(reqOrCall as GrpcCallLike);
  return undefined;
}

/**
 * The claims of the JWT the inbound policy verified for this request or call (a frozen object), or undefined when no
 * token was verified (no RequestAuthentication applies, or the request had no token and none was required).
 */
export function jwtClaims(reqOrCall: http.IncomingMessage | GrpcCallLike): JwtClaims | undefined {
  const key = 'socket' in reqOrCall ? reqOrCall : (reqOrCall as GrpcCallLike).metadata;
  return key === undefined ? undefined : (key as { [CLAIMS]?: JwtClaims })[CLAIMS];
}
