// Certificate chains with node:crypto's X509Certificate: parse PEM bundles and check that a chain leads to a trusted root.
import { X509Certificate } from 'node:crypto';
import { pemBlocks } from './pem.js';
import { spiffeIdOfSans } from './spiffe.js';

/**
 * Most certificates a chain may hold: the leaf and up to four intermediates (a root sent along counts too). Longer
 * chains are refused before they are walked: every certificate costs a parse, and every CA certificate whose name
 * matches a signature check, so an unbounded chain lets an unauthenticated caller hold the event loop for seconds.
 */
export const MAX_CHAIN_LENGTH = 5;
/** Most PEM text a presented chain may hold, in bytes, checked before anything is parsed (a P-256 certificate is ~0.7 KB, an RSA-4096 one ~2 KB). */
export const MAX_CHAIN_PEM_BYTES = 32 * 1024;

/** Why a chain was refused: it cannot be read, a certificate is out of its validity period, or no trusted root issued it. */
export type ChainFailure = 'malformed' | 'expired' | 'untrusted';

/** A chain that checked out: the leaf, its SPIFFE ID and the trusted root it leads to. */
export interface VerifiedChain {
  readonly leaf: X509Certificate;
  readonly spiffeId: string;
  readonly root: X509Certificate;
}

/** Parses every `CERTIFICATE` block of `pem` (one string or several); an error names the block that failed. */
export function parseCertificates(pem: string | readonly string[]): { ok: true; value: X509Certificate[] } | { ok: false; error: string } {
  const blocks = (typeof pem === 'string' ? [pem] : pem).flatMap((p) => (typeof p === 'string' ? pemBlocks(p, 'CERTIFICATE') : []));
  if (blocks.length === 0) return { ok: false, error: 'no PEM "CERTIFICATE" block found' };
  const out: X509Certificate[] = [];
  for (const [i, der] of blocks.entries()) {
    try {
      out.push(new X509Certificate(der));
    } catch (e: unknown) {
      return { ok: false, error: `certificate ${i + 1} cannot be parsed: ${e instanceof Error ? e.message : String(e)}` };
    }
  }
  return { ok: true, value: out };
}

/**
 * Parses a chain a peer presents (PEM, leaf first; one string may hold several blocks). Refuses, before parsing any
 * certificate, more than MAX_CHAIN_PEM_BYTES of text or more than MAX_CHAIN_LENGTH certificates, with an error that
 * says the limit. Never throws.
 */
export function parsePresentedChain(pem: readonly string[]): { ok: true; value: X509Certificate[] } | { ok: false; error: string } {
  let bytes = 0;
  for (const p of pem) bytes += typeof p === 'string' ? p.length : 0;
  if (bytes > MAX_CHAIN_PEM_BYTES) return { ok: false, error: `the chain is ${bytes} bytes of PEM; at most ${MAX_CHAIN_PEM_BYTES} are accepted` };
  let count = 0;
  for (const p of pem) if (typeof p === 'string') count += pemBlocks(p, 'CERTIFICATE').length;
  if (count > MAX_CHAIN_LENGTH) return { ok: false, error: `the chain holds ${count} certificates; at most ${MAX_CHAIN_LENGTH} (the leaf and its intermediates) are accepted` };
  return parseCertificates(pem);
}

/** The notBefore / notAfter of `cert` in ms since the epoch. */
export function validityMs(cert: X509Certificate): { readonly notBeforeMs: number; readonly notAfterMs: number } {
  return { notBeforeMs: Date.parse(cert.validFrom), notAfterMs: Date.parse(cert.validTo) };
}

/** A certificate's subject (or issuer) on one line: node separates RDNs with newlines; this joins them with ', '. */
export function oneLine(name: string): string {
  return name.replace(/\n/g, ', ');
}

/** The serial number as lower-case hex without leading zeros (as `openssl x509 -serial` prints it, lower-cased). */
export function serialOf(cert: X509Certificate): string {
  return serialHex(cert.serialNumber);
}

/** A hex serial in one form: lower case, no leading zeros (TLS peer certificates and X509Certificate differ in both). */
export function serialHex(serial: string): string {
  return serial.toLowerCase().replace(/^0+(?=.)/, '');
}

/**
 * Checks that `chain` (leaf first, then intermediates in any order) leads from a non-CA leaf carrying one SPIFFE ID
 * to one of `roots`, every certificate on the path valid at `nowMs` and signed by the next. A chain of more than
 * MAX_CHAIN_LENGTH certificates is refused as malformed without being walked. Never throws.
 */
export function verifyChain(
  chain: readonly X509Certificate[],
  roots: readonly X509Certificate[],
  nowMs: number,
): { readonly ok: true; readonly value: VerifiedChain } | { readonly ok: false; readonly reason: ChainFailure; readonly error: string } {
  const leaf = chain[0];
  if (leaf === undefined) return { ok: false, reason: 'malformed', error: 'the certificate chain is empty' };
  if (chain.length > MAX_CHAIN_LENGTH) {
    return { ok: false, reason: 'malformed', error: `the certificate chain holds ${chain.length} certificates; at most ${MAX_CHAIN_LENGTH} (the leaf and its intermediates) are accepted` };
  }
  if (leaf.ca) return { ok: false, reason: 'malformed', error: 'the first certificate is a CA certificate, not a workload certificate' };
  const spiffeId = spiffeIdOfSans(leaf.subjectAltName);
  if (spiffeId === undefined) {
    return { ok: false, reason: 'malformed', error: `the certificate is not a SPIFFE SVID (it needs exactly one URI SAN spiffe://...; it has: ${leaf.subjectAltName ?? 'none'})` };
  }
  const expired = outOfValidity(leaf, nowMs, 'the certificate');
  if (expired) return { ok: false, reason: 'expired', error: expired };
  let current = leaf;
  const intermediates = chain.slice(1);
  for (let depth = 0; depth < MAX_CHAIN_LENGTH; depth++) {
    const root = roots.find((r) => issued(r, current));
    if (root !== undefined) {
      const rootExpired = outOfValidity(root, nowMs, `its root CA (${oneLine(root.subject) || root.fingerprint256})`);
      if (rootExpired) return { ok: false, reason: 'expired', error: rootExpired };
      return { ok: true, value: { leaf, spiffeId, root } };
    }
    const next = intermediates.find((c) => c.ca && c !== current && issued(c, current));
    if (next === undefined) break;
    const nextExpired = outOfValidity(next, nowMs, `its intermediate CA (${oneLine(next.subject) || next.fingerprint256})`);
    if (nextExpired) return { ok: false, reason: 'expired', error: nextExpired };
    current = next;
  }
  return {
    ok: false,
    reason: 'untrusted',
    error: `the certificate for ${spiffeId} (issuer ${oneLine(leaf.issuer) || '(empty)'}) is not issued by a CA in this mesh's trust bundle`,
  };
}

function issued(issuer: X509Certificate, cert: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function outOfValidity(cert: X509Certificate, nowMs: number, what: string): string | undefined {
  const { notBeforeMs, notAfterMs } = validityMs(cert);
  if (nowMs > notAfterMs) return `${what} expired at ${new Date(notAfterMs).toISOString()}`;
  if (nowMs < notBeforeMs) return `${what} is not valid before ${new Date(notBeforeMs).toISOString()}`;
  return undefined;
}
