// The TLS side of a workload identity: one secure context per certificate (key, chain and trust bundle; built once per
// rotation, never per connection) and the SPIFFE checks both ends of a mesh connection make, for HTTP and gRPC alike.
import type { PeerCertificate, SecureContext } from 'node:tls';
import tls from 'node:tls';
import { ERROR_CODES, MeshError } from '../core/errors.js';
import type { Disposable } from '../core/watch.js';
import type { StringMatcher } from '../discovery/mesh-state.js';
import { compileStringMatcher } from '../discovery/string-matcher.js';
import { spiffeIdOfSans } from './spiffe.js';
import type { WorkloadCertificate } from './workload-identity.js';

/** Mesh connections are TLS 1.3 only, as Linkerd's are: both ends are Weft or grpc-js on Node, which speak it. */
export const MESH_TLS_MIN_VERSION = 'TLSv1.3';

/** Where the certificate comes from (a WorkloadIdentity): the current one, and changes to it. */
export interface CertificateSource {
  current(): WorkloadCertificate | undefined;
  onChange(fn: (cert: WorkloadCertificate | undefined) => void): Disposable;
}

/**
 * The secure context of a process's current workload certificate, rebuilt (about 2 ms) only when the certificate or
 * the trust bundle changes; connections opened after a rotation present the new certificate, connections already
 * open keep theirs. Synchronous; never throws.
 */
export class MeshTls {
  readonly #source: CertificateSource;
  #built: { readonly cert: WorkloadCertificate; readonly context: SecureContext } | undefined;

  constructor(source: CertificateSource) {
    this.#source = source;
  }

  /** The current certificate, or undefined (not enrolled yet, or expired unrenewed). */
  certificate(): WorkloadCertificate | undefined {
    return this.#source.current();
  }

  /** The secure context (key, chain, trust bundle as CA, TLS 1.3) of the current certificate, or undefined. */
  context(): SecureContext | undefined {
    const cert = this.#source.current();
    if (cert === undefined) return undefined;
    if (this.#built?.cert !== cert) {
      const context = tls.createSecureContext({
        key: cert.privateKeyPem,
        cert: cert.certificateChainPem,
        ca: cert.trustBundlePem,
        minVersion: MESH_TLS_MIN_VERSION,
      });
      this.#built = { cert, context };
    }
    return this.#built.context;
  }

  /** Calls `fn` after every certificate or trust-bundle change (the context is rebuilt on next use). */
  onChange(fn: (cert: WorkloadCertificate | undefined) => void): Disposable {
    return this.#source.onChange(fn);
  }

  /** WEFT_ERR_IDENTITY for a connection that needs a certificate this process does not have. */
  noCertificateError(what: string): MeshError {
    return new MeshError(
      ERROR_CODES.IDENTITY,
      `${what} needs mTLS, and this process has no workload certificate (give it a bootstrap token: WEFT_TOKEN; mesh.status().identity says why it has none)`,
      { rejected: true, details: { status: 503 } },
    );
  }
}

/**
 * The `checkServerIdentity` of a mesh client: ignores the host name and accepts the server only when its certificate
 * (already verified against the trust bundle by OpenSSL) is an SVID whose SPIFFE ID matches one of `peerIds` (any
 * SVID when `peerIds` is empty). The error names what was presented and what was expected (WEFT_ERR_IDENTITY).
 */
export function spiffeServerCheck(peerIds: readonly StringMatcher[], describe: string): (host: string, cert: PeerCertificate) => Error | undefined {
  const tests = peerIds.map(compileStringMatcher);
  const expected = peerIds.map((m) => ('value' in m ? m.value : String(m))).join(' or ');
  return (_host, cert) => {
    const id = spiffeIdOfSans(cert.subjectaltname);
    if (id !== undefined && (tests.length === 0 || tests.some((t) => t(id)))) return undefined;
    return new MeshError(
      ERROR_CODES.IDENTITY,
      id === undefined
        ? `${describe} presented a certificate that is not a SPIFFE SVID (subjectaltname: ${cert.subjectaltname ?? 'none'}); expected ${expected || 'a mesh workload'}`
        : `${describe} presented ${id}, not ${expected}: it is not the service the mesh routes this call to`,
      { details: { presented: id, expected, status: 503 } },
    );
  };
}
