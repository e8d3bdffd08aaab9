// A throwaway mesh CA for tests: the control plane's own CertificateAuthority, in memory (one PKI code path), issuing
// SPIFFE leaf certificates for keys made here, so tests can run servers and callers behind real mTLS.
import { CertificateAuthority } from '../../control-plane/src/ca/authority.js';
import { generateWorkloadKey } from '../../src/identity/csr.js';

/** PEM texts a TLS server or client takes. */
export interface TestCertificate {
  /** The chain, leaf first. */
  readonly cert: string;
  /** PKCS#8. */
  readonly key: string;
}

/** A root that issues leaf certificates. */
export interface TestCa {
  /** The root certificate (PEM): the trust bundle. */
  readonly ca: string;
  /** A leaf whose one URI SAN is `spiffeId` (in the CA's trust domain, `weft.local` by default), plus `hosts` (DNS/IP SANs). */
  issue(spiffeId: string, hosts?: readonly string[]): Promise<TestCertificate>;
  /** Stops the CA's timers. */
  close(): Promise<void>;
}

/** Creates an in-memory CA (a new root each time: two test CAs do not trust each other). */
export async function createTestCa(options: { readonly certTtlMs?: number } = {}): Promise<TestCa> {
  const ca = await CertificateAuthority.open({ stateDir: false, ...options });
  return {
    ca: ca.trustBundlePem().join(''),
    async issue(spiffeId, hosts) {
      const key = generateWorkloadKey();
      const issued = ca.issue(key.publicKey, spiffeId, hosts === undefined ? {} : { hosts });
      return { cert: issued.chainPem.join(''), key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
    },
    close: () => ca.close(),
  };
}
